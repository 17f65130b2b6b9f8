"""Bandwidth, GEMM, attention and launch probes: what runs on the CPU runs end to end with valid
records, what cannot is skipped with its reason; the GPU parts run where a GPU is."""

import pytest

from phasecal.probes import attention, bandwidth, gemm, launch
from phasecal.probes.suite import SuiteConfig, run_suite
from phasecal.records import PointRecord, read_raw


def _run(tmp_path, suite, device="cpu", quick=False):
    path = run_suite(SuiteConfig(suite=suite, model="tiny", device=device, out_dir=tmp_path, quick=quick,
                                 threads=1 if device == "cpu" else None))
    return read_raw(path)[1], (path.parent / "summary.json").read_text()


@pytest.fixture
def small_sizes(fast_suite, monkeypatch):
    monkeypatch.setattr(bandwidth, "working_sets", lambda ctx: [256 * 1024, 1024 * 1024])
    monkeypatch.setattr(gemm, "CPU_M", (1, 8))
    monkeypatch.setattr(attention, "CPU", {"prefill": (16, 48), "batches": (1, 3), "contexts": (32,),
                                           "budget": 16, "mixed_context": 16})


@pytest.mark.slow  # 20-45 s each on a loaded 2-core CPU: the whole probe on its CPU grid
def test_bandwidth_on_cpu_counts_babelstream_bytes(small_sizes, tmp_path):
    points, summary = _run(tmp_path, "bandwidth")
    assert {p.params["impl"] for p in points} == {"torch"}
    assert {p.params["op"] for p in points} == set(bandwidth.ARRAYS)
    arrays = {"copy": 2, "scale": 2, "add": 3, "triad": 3, "read": 1, "write": 1}  # BabelStream's counts
    for p in points:
        assert p.extra["bytes_moved"] == arrays[p.params["op"]] * p.extra["elements"] * 4
        assert p.params["working_set_bytes"] * 0.9 <= p.extra["bytes_moved"] <= p.params["working_set_bytes"]
        assert 0.1 < p.extra["gb_s"] < 1000  # a CPU's memory system, not a unit slip
        assert len(p.samples_s) >= 10
    assert "interpreter" in summary and "CuPy raw kernels need a CUDA GPU" in summary
    assert '"plateau_gb_s"' in summary  # measured ceilings stored in summary.json


def test_bandwidth_sweep_straddles_the_cache(fast_suite, tmp_path):
    import torch

    from phasecal.probes.context import ProbeContext

    ctx = ProbeContext(device=torch.device("cpu"), timer=None, rule=None, shape=None, nvml=None,
                       fingerprint={"l3_bytes": 100 * 2**20})
    sizes = bandwidth.working_sets(ctx)
    assert min(sizes) < 100 * 2**20 / 32 and max(sizes) >= 2 * 100 * 2**20


def test_bandwidth_ceilings_find_plateau_and_knee():
    def rec(ws, gbs):
        return PointRecord("bandwidth", f"k{ws}", {"impl": "x", "op": "copy", "working_set_bytes": ws, "cold": False},
                           1.0, 0.0, [1.0], extra={"gb_s": gbs})

    recs = [rec(1, 90), rec(2, 88), rec(4, 60), rec(8, 21), rec(16, 20), rec(32, 20), rec(64, 19)]
    c = bandwidth.ceilings(recs)["x/copy"]
    assert c["plateau_gb_s"] == 20 and c["peak_gb_s"] == 90 and c["knee_bytes"] == 8


@pytest.mark.slow  # 20-45 s each on a loaded 2-core CPU: the whole probe on its CPU grid
def test_gemm_on_cpu_covers_every_linear_layer(small_sizes, tmp_path):
    points, summary = _run(tmp_path, "gemm")
    from phasecal.kernels.catalog import get_model_shape

    layers = get_model_shape("tiny").linear_shapes()
    assert {p.params["layer"] for p in points} == set(layers)
    assert {p.params["m"] for p in points} == {1, 8}
    for p in points:
        assert (p.params["k"], p.params["n"]) == layers[p.params["layer"]]
        assert 1e-6 < p.extra["tflops"] < 10  # a CPU core's GEMM rate, not a unit slip
    assert "gemm/triton" in summary


class FixedTimer:
    """A timer whose every point takes exactly 1 ms: the probes' rates are then known numbers."""

    is_cuda = False

    def measure(self, fn, rule, **kwargs):
        from phasecal.probes.timing import Timing

        fn()
        return Timing(samples_s=[1e-3] * 10, median_s=1e-3, spread=0.0, stop="converged", warmup_iters=1)


def _fixed_ctx():
    import torch

    from phasecal.kernels.catalog import get_model_shape
    from phasecal.probes.context import ProbeContext
    from phasecal.probes.timing import StopRule

    return ProbeContext(device=torch.device("cpu"), timer=FixedTimer(), rule=StopRule(), nvml=None, fingerprint={},
                        shape=get_model_shape("tiny"), dtype=torch.float32)


@pytest.mark.parametrize("op,ws,gb_s", [("copy", 1 << 20, 1.048576), ("triad", 3 << 20, 3.145728),
                                        ("read", 1 << 20, 1.048576), ("write", 1 << 20, 1.048576)])
def test_bandwidth_rate_of_a_1_ms_point(op, ws, gb_s):
    """1 MiB of copy moved in 1 ms is 1.048576 GB/s; 3 MiB of triad (two reads, a write) 3.145728."""
    from phasecal.probes.context import PlannedPoint

    point = PlannedPoint("k", {"impl": "torch", "op": op, "working_set_bytes": ws, "dtype": "float32", "cold": False})
    ctx = _fixed_ctx()
    rec = bandwidth.measure_point(ctx, point, bandwidth.BufferPool(ctx, [point]))
    assert rec.extra["gb_s"] == pytest.approx(gb_s)


def test_gemm_rate_of_a_1_ms_point():
    """8 x 32 @ 32 x 64 is 32768 flops: 3.2768e-5 TFLOP/s in 1 ms; it reads and writes 11264 bytes."""
    from phasecal.probes.context import PlannedPoint

    point = PlannedPoint("k", {"impl": "torch", "layer": "x", "m": 8, "n": 64, "k": 32, "dtype": "float32"})
    rec = gemm.measure_point(_fixed_ctx(), point)
    assert rec.extra["tflops"] == pytest.approx(3.2768e-5) and rec.extra["gb_s"] == pytest.approx(0.011264)


@pytest.mark.slow  # 20-45 s each on a loaded 2-core CPU: the whole probe on its CPU grid
def test_attention_on_cpu_runs_prefill_decode_and_mixed(small_sizes, tmp_path):
    points, summary = _run(tmp_path, "attention")
    kinds = {p.params["kind"] for p in points}
    assert kinds == {"prefill", "decode", "mixed"}
    mixed = [p for p in points if p.params["kind"] == "mixed"]
    assert sorted(p.params["decode_share"] for p in mixed) == list(attention.SHARES)
    for p in mixed:
        assert sum(q for q, _ in p.params["prefill"]) + len(p.params["decode"]) == p.params["budget"]
    dec = [p for p in points if p.params["kind"] == "decode"]
    assert all(p.extra["decode_kv_gb_s"] > 0 for p in dec)
    assert "unified vs two-launch" in summary


def test_launch_on_cpu_times_a_torch_call_and_skips_the_rest(fast_suite, tmp_path):
    points, summary = _run(tmp_path, "launch")
    assert [p.key for p in points] == ["launch/torch/call"]
    assert 0 < points[0].median_s < 1e-2
    assert "CUDA Graphs need a CUDA GPU" in summary


def test_graph_fit_recovers_a_plus_b_nodes_and_flags_flat_replays():
    def rec(n, t, impl="torch"):
        return PointRecord("launch", f"{impl}{n}", {"impl": impl, "what": "graph", "nodes": n}, t, 0.0, [t],
                           extra={"graph_holds_work": True})

    fit = launch.graph_fit([rec(n, 5e-6 + n * 1e-6) for n in (1, 4, 16, 64)])["torch"]
    assert fit["a_us"] == pytest.approx(5.0) and fit["b_us_per_node"] == pytest.approx(1.0)
    assert fit["grows_with_nodes"]
    assert fit["holds_work"] is True
    flat = launch.graph_fit([rec(n, 5e-6, "empty") for n in (1, 4, 16, 64)])["empty"]
    assert not flat["grows_with_nodes"]
    assert "CHECK FAILED" in launch.summarize([rec(n, 5e-6, "empty") for n in (1, 4, 16, 64)])


def test_unchecked_graph_replays_are_reported_as_unchecked():
    """CuPy graph points carry no holds-work check: the fit says None, not True."""
    recs = [PointRecord("launch", f"c{n}", {"impl": "cupy", "what": "graph", "nodes": n}, 5e-6 + n * 1e-6, 0.0,
                        [1.0]) for n in (1, 4, 16)]
    assert launch.graph_fit(recs)["cupy"]["holds_work"] is None
    assert "unchecked" in launch.summarize(recs)
    broken = recs + [PointRecord("launch", "x", {"impl": "cupy", "what": "graph", "nodes": 64}, 7e-5, 0.0, [1.0],
                                 extra={"graph_holds_work": False})]
    assert launch.graph_fit(broken)["cupy"]["holds_work"] is False


@pytest.mark.gpu
def test_gpu_quick_kernel_probes(tmp_path):
    for suite in ("bandwidth", "launch", "gemm", "attention"):
        points, _ = _run(tmp_path / suite, suite, device="cuda", quick=True)
        assert points and all(len(p.samples_s) >= 10 for p in points)
    fits = launch.graph_fit(read_raw(next((tmp_path / "launch").rglob("raw.jsonl")))[1])
    assert all(f["grows_with_nodes"] and f["holds_work"] is not False for f in fits.values())
    assert fits["torch"]["holds_work"] is True and fits["triton"]["holds_work"] is True
