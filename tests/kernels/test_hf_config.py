"""A model shape from a Hugging Face config.json: Llama-3.2-1B's published config, and refusals that name the field."""

import json
from pathlib import Path

import pytest

from phasecal.kernels.catalog import get_model_shape, load_catalog, shape_from_record

LLAMA_1B = Path(__file__).parent / "data" / "Llama-3.2-1B" / "config.json"


def test_llama_3_2_1b_config_reads_into_its_published_shape():
    s = get_model_shape(str(LLAMA_1B))
    assert (s.name, s.hidden_size, s.num_layers, s.num_heads, s.num_kv_heads, s.head_dim) == \
        ("Llama-3.2-1B", 2048, 16, 32, 8, 64)
    assert (s.intermediate_size, s.vocab_size, s.tie_embeddings, s.qk_norm) == (8192, 128256, True, False)
    assert s.rope_theta == 500000.0 and s.max_context == 131072 and "config.json" in s.source
    # 1.24 B parameters, as Meta publishes for Llama 3.2 1B (embeddings tied)
    assert s.num_params() == pytest.approx(1.236e9, rel=0.01)
    assert shape_from_record(s.to_dict()) == s  # what a profile records rebuilds the same shape


def test_defaults_follow_transformers(tmp_path):
    cfg = json.loads(LLAMA_1B.read_text())
    for k in ("head_dim", "num_key_value_heads", "tie_word_embeddings"):
        del cfg[k]
    cfg["model_type"] = "qwen3"
    f = tmp_path / "my-model" / "config.json"
    f.parent.mkdir()
    f.write_text(json.dumps(cfg))
    s = get_model_shape(str(f))
    assert s.name == "my-model" and s.head_dim == 64 and s.num_kv_heads == 32 and not s.tie_embeddings
    assert s.qk_norm


@pytest.mark.parametrize("change, msg", [
    ({"hidden_size": None}, "'hidden_size' is missing"),
    ({"num_hidden_layers": "16"}, "'num_hidden_layers' must be a positive integer"),
    ({"num_attention_heads": 0}, "'num_attention_heads' must be a positive integer"),
    ({"num_key_value_heads": 5}, "not a multiple of num_key_value_heads 5"),
    ({"head_dim": None, "hidden_size": 2050}, "not a multiple of num_attention_heads"),
    ({"tie_word_embeddings": "yes"}, "'tie_word_embeddings' must be true or false"),
    ({"num_local_experts": 8}, "mixture-of-experts"),
    ({"vocab_size": 1.5}, "'vocab_size' must be a positive integer"),
    ({"rope_theta": float("nan")}, "'rope_theta' must be a positive number"),
])
def test_bad_configs_name_the_field(tmp_path, change, msg):
    cfg = json.loads(LLAMA_1B.read_text())
    for k, v in change.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=msg):
        get_model_shape(str(f))


def test_unreadable_configs(tmp_path):
    (tmp_path / "t.json").write_text('{"hidden_size": 2')
    (tmp_path / "l.json").write_text("[1, 2]")
    for name, msg in (("t.json", "not valid JSON"), ("l.json", "JSON object"), ("missing.json", "no such")):
        with pytest.raises(ValueError, match=msg):
            get_model_shape(str(tmp_path / name))
    with pytest.raises(ValueError, match="or pass a Hugging Face config.json"):
        get_model_shape("GPT-9")


def test_catalog_sources_are_config_urls():
    for name, shape in load_catalog().items():
        assert name == "tiny" or shape.source.startswith("https://huggingface.co/")
