"""MB capacity from a profile, offered load ρ and `:load=` time-scaling, checked against the simulator."""

import pytest

from phasecal.scheduler.capacity import at_load, mb_capacity, offered_load, offered_tokens_per_s
from phasecal.scheduler.run import simulate
from phasecal.scheduler.state import EngineConfig
from phasecal.scheduler.workload_spec import workload_from_spec
from phasecal.scheduler.workloads import Workload, synthetic


@pytest.mark.parametrize("mu_l, mu_o", [(512, 512), (1024, 128), (128, 1024)])
def test_capacity_matches_saturated_mb_simulation(linear_profile, mu_l, mu_o):
    """With every request waiting from t=0, MB's measured throughput is its capacity (the closed form)."""
    w = synthetic(mu_l, mu_o, 1500, rate=1.0, seed=2)
    config = EngineConfig(max_num_seqs=64, token_budget=2048).resolved(linear_profile)
    cap = mb_capacity(linear_profile, w, config)
    burst = Workload("burst", w.prompt_lens, w.output_lens, arrivals=[0.0] * len(w))
    measured = simulate(linear_profile, burst, ("mb",), config=config).summaries()[0].throughput_tok_s
    assert cap.tokens_per_s == pytest.approx(measured, rel=0.06)  # 0.7-4.9% here; <1% on the committed profiles


def test_capacity_limits(linear_profile):
    w = synthetic(512, 512, 200, rate=1.0, seed=0)
    small_n = EngineConfig(max_num_seqs=8, token_budget=8192).resolved(linear_profile)
    assert mb_capacity(linear_profile, w, small_n).limit == "N sequences"
    small_kv = EngineConfig(max_num_seqs=4096, token_budget=8192, kv_capacity_tokens=20000).resolved(linear_profile)
    assert mb_capacity(linear_profile, w, small_kv).limit == "KV capacity"
    assert mb_capacity(linear_profile, w, EngineConfig(4096, 256).resolved(linear_profile)).limit == "token budget B"


def test_at_load_time_scales_to_the_asked_rho(linear_profile):
    w = workload_from_spec("azure_conv:n=500")
    config = EngineConfig().resolved(linear_profile)
    cap = mb_capacity(linear_profile, w, config)
    for rho in (0.3, 0.8, 1.5):
        scaled = at_load(w, rho, cap)
        assert offered_load(scaled, cap) == pytest.approx(rho, rel=1e-9)
        assert scaled.prompt_lens == w.prompt_lens and scaled.arrivals[0] == w.arrivals[0]
    assert offered_load(workload_from_spec("balanced:c=8:n=10"), cap) is None
    with pytest.raises(ValueError, match="closed loop"):
        at_load(workload_from_spec("balanced:c=8:n=10"), 0.5, cap)
    assert offered_tokens_per_s(Workload("x", [1, 1], [1, 1], arrivals=[0.0, 0.0])) == float("inf")


def test_simulate_reports_rho_and_load_spec_reaches_it(linear_profile):
    rep = simulate(linear_profile, "balanced:load=0.6:n=300", ("mb",))
    assert rep.offered_load == pytest.approx(0.6, rel=1e-9)
    low = simulate(linear_profile, "balanced:load=0.3:n=300", ("mb",)).summaries()[0]
    high = simulate(linear_profile, "balanced:load=3:n=300", ("mb",)).summaries()[0]
    assert low.ttft_p50_s < high.ttft_p50_s  # overload queues
