"""Fuzzing the workload parser: any spec is refused in one line or builds a workload the simulator
serves in bounded time (the hang of `rate=nan` is this test's reason to exist)."""

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasecal.fitting.profile import load_profile
from phasecal.scheduler.run import simulate
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workload_spec import workload_from_spec

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "results" / "cpu-intel-r-xeon-r-processor" / "tiny"
                       / "profile.json")

heads = st.one_of(st.sampled_from(["azure_conv", "balanced", "decode_heavy", "shift_conc", "shift_dist", "64/16",
                                   "0/5", "1e3/2", "7/0.5"]), st.text(max_size=6))
number_text = st.one_of(st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e400", "1e-300", "2.5", "", "x",
                                         "100000000", "3"]),
                        st.integers(-5, 30).map(str), st.floats(allow_nan=True).map(repr))
options = st.lists(st.tuples(st.sampled_from(["n", "c", "rate", "jitter", "load", "zz"]), number_text), max_size=3)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=heads, opts=options)
def test_any_spec_is_refused_in_one_line_or_serves(head, opts):
    spec = head + "".join(f":{k}={v}" for k, v in opts)
    try:
        w = workload_from_spec(spec)
    except ValueError as e:
        assert "\n" not in str(e)
        return
    if len(w) > 40:  # serve a prefix: the point is that the numbers are sane, not the trace's length
        w.prompt_lens, w.output_lens = w.prompt_lens[:40], w.output_lens[:40]
        w.arrivals = w.arrivals[:40] if w.arrivals is not None else None
        w.concurrency = w.concurrency[:40] if w.concurrency is not None else None
    assert all(math.isfinite(t) and t >= 0 for t in w.arrivals or [])
    try:
        report = simulate(PROFILE, w, ("mb",), config=EngineConfig(kv_capacity_tokens=2**16))
    except ValueError as e:  # e.g. a request longer than the KV cache: one line
        assert "\n" not in str(e)
        return
    assert math.isfinite(report.summaries()[0].makespan_s)
