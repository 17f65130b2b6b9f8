"""Fixtures of the probe tests: a micro step grid and a fast stopping rule, so suite runs take seconds."""

import pytest

from phasecal.probes import step, suite
from phasecal.probes.timing import StopRule

MICRO_GRID = step.StepGrid(
    prefill_tokens=(8, 32), prefill_cached=((16, 32),), prefill_multi=((2, 8, 16),),
    decode_batches=(1, 4), decode_contexts=(16, 64), mixed_budgets=(16,), mixed_shares=(0.0, 0.5, 1.0),
    mixed_context=16, mixed_cached=16, max_decode_kv=128,
)


@pytest.fixture
def fast_suite(monkeypatch):
    """Step probe on the micro grid with at most ~20 ms of sampling per point."""
    monkeypatch.setattr(step, "step_grid", lambda device_type, quick: MICRO_GRID)
    monkeypatch.setattr(suite, "stop_rule",
                        lambda device_type, quick: StopRule(max_time_s=0.02, warmup_iters=1, warmup_s=0.0))
    return MICRO_GRID
