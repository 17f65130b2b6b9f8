"""Every figure function on synthetic results: it draws, it names devices, units and sources, it marks
references, and it survives missing data with a visible note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from synthetic import write_device, write_scheduler

from phasecal.probes.suite_summary import ProbeSummary, SuiteSummary
from phasecal.reports import (
    device_attention,
    device_bandwidth,
    device_gemm,
    device_launch,
    devices,
    scheduling,
    step_cost,
)
from phasecal.reports.data import load_results
from phasecal.reports.style import Missing, png_bytes

# each figure's measured quantities, with the unit its axes must name
AXIS_UNITS = {
    devices.device_summary: ("TB/s", "µs", "TFLOP/s"),
    device_bandwidth.bandwidth_sweep: ("bandwidth (TB/s)", "working set (MiB)"),
    device_launch.launch_overhead: ("µs",),
    device_gemm.gemm_rates: ("TFLOP/s",),
    device_attention.attention_rates: ("KV read (TB/s)", "TFLOP/s", "time (ms)"),
    step_cost.step_time_vs_tokens: ("step time (ms)",),
    step_cost.marginal_cost_vs_decode_share: ("(µs/token)",),
    step_cost.predicted_vs_measured: ("measured step time (ms)", "predicted step time (ms)"),
    step_cost.model_error_by_family: ("MAPE (%)",),
    scheduling.scheduler_throughput: ("(tokens/s",),
    scheduling.scheduler_latency: ("TTFT (ms)", "TPOT (ms)"),
    scheduling.scheduler_concurrency: ("throughput (tokens/s)", "TTFT median (ms)", "TPOT median (ms)"),
}
FIGURES = list(AXIS_UNITS)


def texts(fig: Figure | Missing) -> str:
    """All text a reader sees: titles, labels, legends, notes, tick labels."""
    if isinstance(fig, Missing):
        return fig.text
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    return " ".join(" ".join(out).split())  # wrapped notes and titles compare as one line


@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_figure_names_devices_units_and_sources(two_devices: Path, make):
    fig = make(load_results(two_devices))
    text = texts(fig)
    assert png_bytes(fig, dpi=30).startswith(b"\x89PNG")
    assert "Data: " in text and "none found" not in text
    assert "NVIDIA Test GPU" in text and "tiny" in text  # device and model on every figure
    axes = " ".join(t for ax in fig.axes if ax.get_visible()
                    for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()))
    missing = [unit for unit in AXIS_UNITS[make] if unit not in axes]
    assert not missing, f"axes do not name {missing}"


@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_figure_with_no_results_says_so(tmp_path: Path, make):
    fig = make(load_results(tmp_path / "missing"))
    assert "no " in texts(fig).lower()


def test_new_device_appears_without_code_change(two_devices: Path):
    before = load_results(two_devices)
    assert "AMD New Accelerator" not in before.summary()
    write_device(two_devices, "amd-new-accel", "AMD New Accelerator", kind="cuda", speed=5, seed=3,
                 probes=("step", "bandwidth", "gemm", "attention"))
    write_scheduler(two_devices / "amd-new-accel" / "tiny" / "sched", speed=5)
    after = load_results(two_devices)
    assert len(after.devices) == len(before.devices) + 1
    for make in FIGURES:
        if make is scheduling.scheduler_concurrency:
            continue  # only workloads run at several concurrencies appear there (checked below)
        assert "AMD New Accelerator" in texts(make(after)), make.__name__
    assert "AMD New Accelerator" in texts(scheduling.scheduler_concurrency(after))
    assert "AMD New Accelerator" in devices.headline_markdown(after)
    assert "AMD New Accelerator" in scheduling.winners_markdown(after)


def test_cpu_launch_panel_says_graphs_are_cuda_only(two_devices: Path):
    text = texts(device_launch.launch_overhead(load_results(two_devices)))
    assert "torch: op call (host)" in text
    assert "Test CPU [cpu-test] · tiny (no CUDA Graph data on this device: CUDA only)" in text
    assert "torch: graph, per node" in text  # the GPU's replay fit


def test_device_without_launch_records_gets_a_note(two_devices: Path):
    write_device(two_devices, "cpu-other", "Other CPU", probes=("step",), profile=False)
    text = texts(device_launch.launch_overhead(load_results(two_devices)))
    assert "no launch data for Other CPU [cpu-other] · tiny: not measured" in text


def test_references_are_marked_published(two_devices: Path):
    results = load_results(two_devices)
    att = texts(device_attention.attention_rates(results))
    assert "paper" in att and "published reference" in att
    # the synthetic GPU's name matches no datasheet; an H100 name does
    write_device(two_devices, "nvidia-h100-80gb-hbm3", "NVIDIA H100 80GB HBM3", kind="cuda", speed=30, seed=4,
                 probes=("bandwidth", "gemm"), profile=False)
    results = load_results(two_devices)
    for make in (device_bandwidth.bandwidth_sweep, device_gemm.gemm_rates, devices.device_summary):
        text = texts(make(results))
        assert "datasheet" in text and "published reference" in text and "probes/peaks.json" in text


def test_headline_names_the_faster_device(two_devices: Path):
    md = devices.headline_markdown(load_results(two_devices))
    assert "**highest bandwidth**: NVIDIA Test GPU" in md
    assert "**fastest GEMM**: NVIDIA Test GPU" in md
    assert "**lowest eager launch overhead**: Test CPU" in md  # a CPU op call is cheaper than a GPU enqueue here


def test_paper_attention_rates_match_the_published_anchor(two_devices: Path):
    rates = device_attention.paper_attention_rates(load_results(two_devices))
    decode = dict(rates["decode"])
    assert decode[2048] == pytest.approx(3.75, rel=0.01)  # DESIGN.md: ~3.75 TB/s of KV read at context 2048


def test_winners_table_picks_the_best_throughput(two_devices: Path):
    results = load_results(two_devices)
    runs = scheduling.load_scheduler_runs(results)
    case = [r for r in runs if r.profile.startswith("NVIDIA Test GPU") and r.case == "balanced\nc=64"]
    best = max(case, key=lambda r: r.result.throughput_tok_s)
    line = next(x for x in scheduling.winners_markdown(results).splitlines()
                if x.startswith("| NVIDIA Test GPU") and "| balanced c=64 |" in x)
    assert f"**{scheduling.POLICY_NAMES[best.policy]}**" in line


def test_predicted_vs_measured_reports_the_error(two_devices: Path):
    text = texts(step_cost.predicted_vs_measured(load_results(two_devices)))
    assert "MAPE" in text and "±10%" in text


def test_unreadable_files_are_listed_not_fatal(two_devices: Path):
    # the fixture holds a corrupt profile and a torn raw file; every figure test above draws beside them
    results = load_results(two_devices)
    assert any("broken-device/tiny/profile.json" in p for p in results.problems)
    assert any("broken-device/tiny/raw.jsonl" in p for p in results.problems)
    assert [d.slug for d in results.devices] == ["cpu-test", "nvidia-test-gpu"]


def test_scheduler_study_on_published_calibration_is_labelled(two_devices: Path):
    results = load_results(two_devices)
    runs = [r for r in scheduling.load_scheduler_runs(results) if r.reference]
    assert {r.profile for r in runs} == {"NVIDIA H200 · Qwen/Qwen3-8B (published calibration)"}
    assert {(r.workload, r.concurrency) for r in runs} >= {("decode_heavy", 512), ("decode_heavy", 2048),
                                                          ("azure_conv", None)}
    eb = next(r for r in runs if r.case == "decode_heavy\nc=2048" and r.policy == "eb")
    assert eb.result.tpot_p50_s == pytest.approx(0.032) and eb.predicted == "EB"
    table = scheduling.winners_markdown(results)
    assert "| NVIDIA H200 · Qwen/Qwen3-8B (published calibration) | decode_heavy c=2048 | **EB**" in table
    assert "published calibration" in texts(scheduling.scheduler_throughput(results))


def test_skipped_probe_parts_are_listed(two_devices: Path):
    launch = ProbeSummary(planned=1, skipped=["launch/cupy: CuPy needs a CUDA GPU"], not_run=[], summary="1 points")
    summary = SuiteSummary("Test CPU", None, {"launch": launch})
    (two_devices / "cpu-test" / "tiny" / "summary.json").write_text(json.dumps(summary.to_dict()))
    md = devices.skipped_markdown(load_results(two_devices))
    assert "**Test CPU [cpu-test] · tiny**" in md and "- launch/cupy: CuPy needs a CUDA GPU" in md


def test_winners_table_shows_ties_as_ties(two_devices: Path):
    # the synthetic study's Azure-trace run has MB and EB at the same throughput, and EB's TTFT is lower
    table = scheduling.winners_markdown(load_results(two_devices))
    line = next(x for x in table.splitlines() if "published calibration" in x and "| azure_conv |" in x)
    best, ttft = line.split(" | ")[2], line.split(" | ")[5]
    assert best == "MB = EB (tie within 1%: 7,500 tok/s)"
    assert ttft == "**EB** (30 ms)"
    assert scheduling._duration(8000.0) == "8,000 s"


def test_malformed_suite_summary_is_listed_not_fatal(two_devices: Path):
    (two_devices / "cpu-test" / "tiny" / "summary.json").write_text(json.dumps({"probes": {"launch": {"skipped": 3}}}))
    results = load_results(two_devices)
    assert any("cpu-test/tiny/summary.json: probes.launch: malformed probe summary" in p for p in results.problems)
