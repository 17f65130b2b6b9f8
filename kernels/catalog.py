"""Model shape catalog: the shapes of real decoder-only models, read from `models.json` (data, not code)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).with_name("models.json")


@dataclass(frozen=True)
class ModelShape:
    """The shapes of one decoder-only transformer (what a step's cost depends on; no weights)."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_embeddings: bool
    qk_norm: bool
    rope_theta: float
    max_context: int
    source: str

    @property
    def q_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(K, N) of each linear layer of one decoder layer plus the LM head; M is tokens in the step."""
        h = self.hidden_size
        return {
            "qkv_proj": (h, self.q_size + 2 * self.kv_size),
            "o_proj": (self.q_size, h),
            "gate_up_proj": (h, 2 * self.intermediate_size),
            "down_proj": (self.intermediate_size, h),
            "lm_head": (h, self.vocab_size),
        }

    def params_per_layer(self) -> int:
        return sum(k * n for name, (k, n) in self.linear_shapes().items() if name != "lm_head")

    def num_params(self) -> int:
        """Weights of the linear layers and the embedding(s); norms are negligible."""
        emb = self.vocab_size * self.hidden_size
        return self.num_layers * self.params_per_layer() + emb * (1 if self.tie_embeddings else 2)

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        return 2 * self.num_layers * self.kv_size * dtype_bytes

    def to_dict(self) -> dict:
        return asdict(self)


@cache
def load_catalog() -> dict[str, ModelShape]:
    """All model shapes of the catalog, by name."""
    raw = json.loads(CATALOG_PATH.read_text())["models"]
    return {name: ModelShape(name=name, **fields) for name, fields in raw.items()}


def get_model_shape(name: str) -> ModelShape:
    """The shape of catalog model `name`, or of the model whose Hugging Face config.json is at path `name`
    (any path ending in .json); a ValueError naming the known models otherwise."""
    if name.lower().endswith(".json"):
        from .hf_config import hf_model_name, shape_fields_from_hf_config

        fields_ = shape_fields_from_hf_config(name)  # validates the file before its name is read
        return ModelShape(name=re.sub(r"[^A-Za-z0-9._-]", "_", hf_model_name(name)), **fields_)
    catalog = load_catalog()
    if name not in catalog:
        raise ValueError(f"unknown model {name!r}: the catalog ({CATALOG_PATH.name}) has {', '.join(catalog)}, "
                         "or pass a Hugging Face config.json")
    return catalog[name]


def shape_from_record(model: dict) -> ModelShape:
    """The shape a profile or raw header recorded (`ModelShape.to_dict()`); a record holding only a name
    (older files, imported profiles) is looked up in the catalog by its last path part ('Qwen/Qwen3-8B')."""
    names = [f.name for f in fields(ModelShape)]
    if all(k in model for k in names):
        return ModelShape(**{k: model[k] for k in names})
    return get_model_shape(str(model["name"]).split("/")[-1])
