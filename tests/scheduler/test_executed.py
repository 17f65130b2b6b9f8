"""The executed path: the synthetic model really runs each step the policy schedules (on the GPU when
there is one, else on the CPU: the `device` fixture of tests/conftest.py)."""

import pytest

from phasecal.fitting.profile import ExclusiveCosts, Profile
from phasecal.scheduler.run import simulate
from phasecal.scheduler.state import EngineConfig


@pytest.fixture
def tiny_profile() -> Profile:
    return Profile(device={"name": "cpu"}, model={"name": "tiny"},
                   exclusive={"eager": ExclusiveCosts(1e-3, 2e-5, 1e-3, 2e-5)})


def test_executed_matches_simulated_schedule(tiny_profile, device):
    # A closed loop's decisions do not depend on time, so both runs schedule the same steps.
    cfg = EngineConfig(max_num_seqs=3, token_budget=24, block_size=8, kv_capacity_tokens=8 * 12)
    rep = simulate(tiny_profile, "40/6:c=3:n=6", ["mb", "eb"], execute=True, config=cfg, device=device,
                   fast_forward=False)
    for name, run in rep.runs.items():
        sim, ex = run.simulated_result, run.executed_result
        assert ex.executed and not sim.executed
        assert ex.steps == sim.steps and ex.preemptions == sim.preemptions, name
        assert [r.num_generated for r in ex.requests] == [r.output_len for r in ex.requests]
        assert ex.tokens_emitted == sum(r.output_len for r in ex.requests)
        assert run.throughput_gap is not None and run.executed.throughput_tok_s > 0
