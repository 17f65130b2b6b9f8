"""Property tests for user-given files: any trace CSV or model config.json either loads or raises one
ValueError (exit 2 at the CLI), never another exception."""

import json
import math
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasecal.kernels.catalog import get_model_shape
from phasecal.scheduler.trace import AZURE_COLUMNS, PLAIN_COLUMNS, load_trace

CELL = st.one_of(st.integers(-5, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                 st.text(string.printable, max_size=12), st.just("2024-05-01 12:00:00.5"), st.just(""))
HEADERS = st.sampled_from([",".join(AZURE_COLUMNS), ",".join(PLAIN_COLUMNS), ",".join(reversed(PLAIN_COLUMNS)),
                           "arrival_s,prompt_tokens", "a,b,c", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADERS, rows=st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=6))
def test_any_trace_loads_or_raises_value_error(tmp_path_factory, header, rows):
    f = tmp_path_factory.mktemp("t") / "t.csv"
    f.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    try:
        arrivals, prompts, outputs = load_trace(f)
    except ValueError as e:
        assert str(e).startswith(str(f))
        return
    assert arrivals[0] == 0.0 and arrivals == sorted(arrivals) and min(prompts + outputs) >= 1


VALUE = st.one_of(st.none(), st.booleans(), st.integers(-3, 5000), st.floats(allow_nan=True), st.text(max_size=5),
                  st.lists(st.integers(), max_size=2))
KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
        "intermediate_size", "vocab_size", "tie_word_embeddings", "rope_theta", "max_position_embeddings",
        "num_local_experts", "text_config"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=st.dictionaries(st.sampled_from(KEYS), VALUE))
def test_any_config_loads_or_raises_value_error(tmp_path_factory, cfg):
    f = tmp_path_factory.mktemp("c") / "config.json"
    f.write_text(json.dumps(cfg))
    try:
        shape = get_model_shape(str(f))
    except ValueError as e:
        assert str(f) in str(e)
        return
    assert shape.num_heads % shape.num_kv_heads == 0 and shape.hidden_size >= 1 and math.isfinite(shape.rope_theta)
