"""A model shape from a Hugging Face `config.json`, so a model outside the catalog can be probed and simulated.

Only what a step's cost depends on is read. Defaults follow transformers where it has one that every
decoder-only family shares (`num_key_value_heads` = `num_attention_heads`, `head_dim` = hidden ÷ heads);
everything else must be in the file, and a missing, mistyped or inconsistent field is a ValueError that
names it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

REQUIRED_INTS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
# model types whose attention normalizes q and k per head (Qwen3's q_norm/k_norm); config.json does not say
QK_NORM_MODEL_TYPES = {"qwen3", "qwen3_moe", "olmo2", "gemma3", "gemma3_text"}
MOE_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")


def _int(path: Path, cfg: dict, key: str, default: int | None = None) -> int:
    value = cfg.get(key, default)
    if value is None:
        raise ValueError(f"{path}: field '{key}' is missing; a decoder-only config.json has "
                         f"{', '.join(REQUIRED_INTS)}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{path}: field '{key}' must be a positive integer, got {value!r}")
    return value


def _read(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such model config") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder; pass its config.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: a config.json is a JSON object, got {type(cfg).__name__}")
    if isinstance(cfg.get("text_config"), dict):  # multimodal wrappers keep the language model here
        cfg = {**cfg["text_config"], "_name_or_path": cfg.get("_name_or_path")}
    return cfg


def shape_fields_from_hf_config(path: str | Path) -> dict:
    """The catalog fields (kernels/models.json) of the model whose Hugging Face config.json is at `path`."""
    path = Path(path)
    cfg = _read(path)
    moe = [k for k in MOE_KEYS if cfg.get(k)]
    if moe:
        raise ValueError(f"{path}: field '{moe[0]}' says mixture-of-experts; phasecal models dense decoders only")
    hidden, heads = _int(path, cfg, "hidden_size"), _int(path, cfg, "num_attention_heads")
    kv_heads = _int(path, cfg, "num_key_value_heads", heads)
    if "head_dim" not in cfg or cfg["head_dim"] is None:
        if hidden % heads:
            raise ValueError(f"{path}: field 'head_dim' is missing and hidden_size {hidden} is not a multiple of "
                             f"num_attention_heads {heads}; add head_dim")
    head_dim = _int(path, cfg, "head_dim", hidden // heads)
    if heads % kv_heads:
        raise ValueError(f"{path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}")
    tie = cfg.get("tie_word_embeddings", False)
    if not isinstance(tie, bool):
        raise ValueError(f"{path}: field 'tie_word_embeddings' must be true or false, got {tie!r}")
    theta = cfg.get("rope_theta", 10000.0)
    if isinstance(theta, bool) or not isinstance(theta, int | float) or not 0 < theta < math.inf:
        raise ValueError(f"{path}: field 'rope_theta' must be a positive number, got {theta!r}")
    return {
        "hidden_size": hidden, "num_layers": _int(path, cfg, "num_hidden_layers"), "num_heads": heads,
        "num_kv_heads": kv_heads, "head_dim": head_dim, "intermediate_size": _int(path, cfg, "intermediate_size"),
        "vocab_size": _int(path, cfg, "vocab_size"), "tie_embeddings": tie,
        "qk_norm": cfg.get("model_type") in QK_NORM_MODEL_TYPES, "rope_theta": float(theta),
        "max_context": _int(path, cfg, "max_position_embeddings", 4096),
        "source": f"Hugging Face config.json: {path}",
    }


def hf_model_name(path: str | Path) -> str:
    """A name for the model of a config.json: its `_name_or_path` (last part), else its folder's name."""
    path = Path(path)
    named = _read(path).get("_name_or_path")
    if isinstance(named, str) and named.strip():
        return named.strip().rstrip("/").rsplit("/", 1)[-1]
    return path.resolve().parent.name if path.name == "config.json" else path.stem
