"""The step grid: compositions, keys, memory bounds; and real step records on the CPU."""

import numpy as np
import pytest

from phasecal.fitting.features import step_features
from phasecal.probes import step
from phasecal.probes.suite import SuiteConfig, run_suite
from phasecal.records import read_raw


@pytest.mark.parametrize("grid", [step.CPU_GRID, step.CPU_QUICK_GRID, step.GPU_GRID, step.GPU_QUICK_GRID])
def test_keys_are_unique_and_mixed_points_fill_their_budget(grid):
    comps = step.compositions(grid)
    keys = [step.step_key(p) for p in comps]
    assert len(keys) == len(set(keys))
    for p in comps:
        if p["grid"] == "mixed":
            tokens = sum(q for q, _ in p["prefill"]) + len(p["decode"])
            assert tokens == p["budget"]
            assert len(p["decode"]) == round(p["decode_share"] * p["budget"])


@pytest.mark.parametrize("quick,full", [(step.CPU_QUICK_GRID, step.CPU_GRID), (step.GPU_QUICK_GRID, step.GPU_GRID)])
def test_quick_grid_is_a_subset_of_the_default_one(quick, full):
    """So a default run with --resume on top of a quick one only adds points."""
    assert {step.step_key(p) for p in step.compositions(quick)} <= {step.step_key(p) for p in step.compositions(full)}


def test_cpu_grid_is_rich_enough_to_fit():
    comps = step.compositions(step.CPU_GRID)
    pre = [p for p in comps if p["grid"] == "prefill"]
    assert len({sum(q for q, _ in p["prefill"]) for p in pre}) >= 5
    assert any(c > 0 for p in pre for _, c in p["prefill"])  # chunks on a cached prefix
    dec = [p for p in comps if p["grid"] == "decode"]
    assert len({len(p["decode"]) for p in dec}) >= 4 and len({step.mean_context(p["decode"]) for p in dec}) >= 3
    mixed = [p for p in comps if p["grid"] == "mixed"]
    assert len({p["budget"] for p in mixed}) >= 2 and {p["decode_share"] for p in mixed} >= {0, 0.25, 0.5, 0.75, 1}


@pytest.mark.parametrize("context,n", [(128, 1), (128, 2), (288, 7), (2048, 64), (3, 5), (1, 4), (4096, 512)])
def test_spread_contexts_keep_the_total_within_the_spread(context, n):
    ctxs = step.spread_contexts(context, n)
    assert len(ctxs) == n and sum(ctxs) == n * context and step.mean_context(ctxs) == context
    assert all(1 <= c and abs(c - context) <= step.DECODE_SPREAD * context + 0.5 for c in ctxs)
    if n > 1 and context >= 8:
        assert max(ctxs) - min(ctxs) >= step.DECODE_SPREAD * context  # really spread, not equal


def test_grid_decodes_are_spread_around_their_nominal_context():
    for p in step.compositions(step.CPU_GRID):
        if len(p["decode"]) > 1:
            assert len(set(p["decode"])) > 1, step.step_key(p)


def test_blocks_needed_counts_pages_per_sequence():
    assert step.blocks_needed({"prefill": [[16, 0]], "decode": []}) == 1
    assert step.blocks_needed({"prefill": [[1, 16]], "decode": [15, 16]}) == 2 + 1 + 2


def test_step_probe_writes_valid_records(fast_suite, tmp_path):
    path = run_suite(SuiteConfig(suite="step", model="tiny", device="cpu", out_dir=tmp_path, threads=1))
    header, points = read_raw(path)
    assert path == tmp_path / header.device["slug"] / "tiny" / "raw.jsonl"
    assert header.model["name"] == "tiny" and header.settings["threads"] == 1
    assert header.settings["dtype"] == "float32"
    assert header.settings["backend"] == "torch"  # what measured the points: the CPU default
    assert header.settings["page_layout"] == step.PAGE_LAYOUT
    assert header.settings["sample_order"] == step.sample_order(False) and "rotated" in step.sample_order(False)
    expected = {step.step_key(p) for p in step.compositions(fast_suite)
                if sum(p["decode"]) <= fast_suite.max_decode_kv}
    assert {p.key for p in points} == expected
    for p in points:
        assert p.probe == "step" and p.params["graph"] is False
        assert p.params["grid"] in ("prefill", "decode", "mixed")
        assert all(len(c) == 2 for c in p.params["prefill"])
        if p.params["grid"] == "mixed":
            assert "budget" in p.params and "decode_share" in p.params
        assert len(p.samples_s) >= 10
        assert p.median_s == pytest.approx(float(np.median(p.samples_s)))
        assert p.extra["tokens"] == sum(q for q, _ in p.params["prefill"]) + len(p.params["decode"])
        step_features(p.params["prefill"], p.params["decode"], p.params["graph"])  # the fitting reads them
    summary = (path.parent / "summary.json").read_text()
    assert "step" in summary and "CUDA Graphs need a CUDA device" in summary


def test_bigger_steps_take_longer(fast_suite, tmp_path):
    """Not a fit, a sanity check that the timer sees the work: 32 prefill tokens cost more than 8."""
    _, points = read_raw(run_suite(SuiteConfig(suite="step", device="cpu", out_dir=tmp_path, threads=1)))
    t = {p.key: p.median_s for p in points}
    assert t["step/prefill/q32c0/eager"] > t["step/prefill/q8c0/eager"]


@pytest.mark.gpu
def test_gpu_graph_decode_points_are_checked(fast_suite, tmp_path):
    _, points = read_raw(run_suite(SuiteConfig(suite="step", device="cuda", out_dir=tmp_path)))
    graphs = [p for p in points if p.params["graph"]]
    assert graphs and all(p.extra["graph_check"]["matches_eager"] >= 0.99 for p in graphs)


def test_a_failed_graph_check_flags_its_point_and_the_others_are_kept(fast_suite, monkeypatch, tmp_path,
                                                                    one_torch_thread):
    """One captured graph whose replay leaves its output stale (it does not hold the step) gives one
    flagged point; every other point of the run is still measured, and the fit leaves the flagged out."""
    import torch

    from phasecal.kernels.catalog import get_model_shape
    from phasecal.probes.context import PlannedPoint, ProbeContext
    from phasecal.probes.nvml import NoNvml
    from phasecal.probes.timing import StopRule, Timer

    class CpuGraph:  # replay reruns the captured call into the captured output, as a CUDA Graph does
        def __init__(self, fn, out, stale):
            self.fn, self.out, self.stale = fn, out, stale

        def replay(self):
            if not self.stale:
                with torch.inference_mode():
                    self.out.copy_(self.fn())

    stale = []

    def capture(fn, warmup=2):
        out = fn()
        broken = len(out) == 4 and not stale  # the first 4-sequence graph is the broken one
        stale.extend([True] if broken else [])
        return CpuGraph(fn, out, broken), out

    monkeypatch.setattr(step, "capture_graph", capture)
    comps = step.compositions(fast_suite)
    points = [PlannedPoint(step.step_key(g), g) for p in comps if p["grid"] == "decode"
              for g in ({**p, "graph": True},)] + [PlannedPoint(step.step_key(p), p) for p in comps[:3]]
    ctx = ProbeContext(device=torch.device("cpu"), timer=Timer("cpu"), shape=get_model_shape("tiny"),
                       rule=StopRule(max_time_s=0.01, warmup_iters=1, warmup_s=0.0), nvml=NoNvml("cpu"),
                       fingerprint={}, dtype=torch.float32)
    records = list(step.run(ctx, points))
    assert sorted(r.key for r in records) == sorted(p.key for p in points)
    flagged = [r for r in records if "flagged" in r.extra]
    assert len(flagged) == 1 and flagged[0].extra["graph_check"]["changed_with_inputs"] is False
    assert "graph check failed" in flagged[0].extra["flagged"].lower()
    graphs = [r for r in records if r.params["graph"] and "flagged" not in r.extra]
    assert len(graphs) == 3 and all(r.extra["graph_check"]["ok"] for r in graphs)
    assert "1 FLAGGED" in step.summarize(records)

    from phasecal.fitting.fit import read_steps
    from phasecal.records import RunHeader, append_record

    raw = tmp_path / "raw.jsonl"
    for rec in [RunHeader(device={"name": "cpu"}, settings={}, model={"name": "tiny"}), *records]:
        append_record(raw, rec)
    _, steps, sources = read_steps([raw])
    assert len(steps) == len(records) - 1 and sources[0]["flagged_step_points_left_out"] == 1


def test_one_interleaved_group_holds_the_default_cpu_grid():
    """Groups of the CPU grid sat 3-8% apart under drift: the default grid is sampled as one group."""
    assert step.CPU_GROUP == len(step.compositions(step.CPU_GRID))


def test_only_a_default_cpu_run_samples_in_the_longer_rounds():
    assert step.rounds(is_cuda=False, quick=False) == step.CPU_ROUNDS > step.ROUNDS
    assert step.rounds(is_cuda=False, quick=True) == step.rounds(is_cuda=True, quick=False) == step.ROUNDS
