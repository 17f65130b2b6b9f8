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


def test_executed_step_charges_host_work_between_steps(tiny_profile):
    """A step's seconds run from the previous step's end: host work in between is charged to the next step."""
    import time

    from phasecal.scheduler.executed import ExecutedExecutor
    from phasecal.scheduler.mb import MixedBatching
    from phasecal.scheduler.simulator import run_engine
    from phasecal.scheduler.workload_spec import workload_from_spec

    cfg = EngineConfig(max_num_seqs=2, token_budget=16, block_size=8, kv_capacity_tokens=8 * 8).resolved()
    ex = ExecutedExecutor(tiny_profile, cfg, device="cpu", warmup=False, clock="wall")
    busy = 0.02  # host work the engine does between steps (here: a hook that sleeps)
    run_engine(MixedBatching(), ex, workload_from_spec("20/4:c=2:n=2"), cfg, fast_forward=False,
               on_step=lambda batch, st: time.sleep(busy))
    assert len(ex.step_times) == len(ex.forward_times) >= 4
    assert ex.step_times[0] == ex.forward_times[0]  # nothing before the first step is charged
    for total, forward in zip(ex.step_times[1:], ex.forward_times[1:], strict=True):
        assert total >= forward + busy
