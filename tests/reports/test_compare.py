"""Devices on shared axes, the roofline and the ratio table, on synthetic results of two devices plus the
published H200 reference: checked from the figure objects, not from pixels."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from synthetic import write_device, write_scheduler

from phasecal import __version__
from phasecal.reports import compare, ratios, roofline
from phasecal.reports.data import load_results
from phasecal.reports.style import Missing

SHARED = [compare.bandwidth_by_device, compare.step_cost_by_device, compare.beta_mb_by_device,
          compare.decode_cost_by_context]
DEVICES = ("Test CPU [cpu-test] · tiny", "NVIDIA Test GPU [nvidia-test-gpu] · tiny")


def footer(fig: Figure) -> str:
    return " ".join(" ".join(t.get_text() for t in fig.texts).split())


def device_lines(ax, label: str) -> list:
    return [line for line in ax.get_lines() if line.get_label().startswith(label)]


@pytest.mark.parametrize("make", SHARED, ids=lambda f: f.__name__)
def test_one_line_per_device_on_shared_axes(two_devices: Path, make):
    fig = make(load_results(two_devices))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    if len(axes) > 1:  # step cost: prefill and decode side by side, one y-axis
        assert all(ax.get_shared_y_axes().joined(axes[0], ax) for ax in axes)
    for ax in axes:
        for label in DEVICES:
            assert len(device_lines(ax, label)) == 1, (make.__name__, label)


@pytest.mark.parametrize("make", SHARED + [roofline.roofline], ids=lambda f: f.__name__)
def test_footer_names_date_version_devices_and_software(two_devices: Path, make):
    text = footer(make(load_results(two_devices)))
    assert re.search(rf"drawn \d{{4}}-\d\d-\d\d by phasecal {re.escape(__version__)}", text)
    assert "NVIDIA Test GPU [nvidia-test-gpu] · tiny: measured 2026-01-01" in text
    assert "published reference, measured 2026-04-30" in text  # the H200 calibration


def test_every_figure_footer_has_date_version_and_device(two_devices: Path):
    from test_figures import FIGURES

    results = load_results(two_devices)
    for make in FIGURES:
        text = footer(make(results))
        assert re.search(rf"drawn \d{{4}}-\d\d-\d\d by phasecal {re.escape(__version__)}", text), make.__name__
        assert ": measured 2026-01-01" in text, make.__name__


def test_published_reference_is_drawn_as_such(two_devices: Path):
    fig = compare.beta_mb_by_device(load_results(two_devices))
    [ref] = [line for line in fig.axes[0].get_lines() if "published reference" in line.get_label()]
    assert ref.get_color() == "black" and ref.get_linestyle() == "--"
    assert "NVIDIA H200" in ref.get_label()


def test_log_axis_only_where_values_span_decades(two_devices: Path):
    results = load_results(two_devices)
    # the GPU is 20x the CPU and the H200 datasheet is far above both: decades
    assert compare.bandwidth_by_device(results).axes[0].get_yscale() == "log"
    write_device(two_devices / "near", "cpu-a", "CPU A", seed=5, probes=("bandwidth",), profile=False)
    write_device(two_devices / "near", "cpu-b", "CPU B", speed=1.5, seed=6, probes=("bandwidth",), profile=False)
    near = compare.bandwidth_by_device(load_results(two_devices / "near"))
    assert near.axes[0].get_yscale() == "linear" and near.axes[0].get_ylim()[0] == 0


def test_device_missing_a_probe_is_a_footer_line_not_an_empty_panel(two_devices: Path):
    write_device(two_devices, "cpu-steps-only", "Steps Only CPU", probes=("step",), seed=7)
    fig = compare.bandwidth_by_device(load_results(two_devices))
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1
    assert "Not measured: bandwidth on Steps Only CPU [cpu-steps-only] · tiny (run `phasecal probe --suite " \
           "bandwidth`)" in footer(fig)


def test_default_run_alone_gives_one_line_notes(tmp_path: Path):
    write_device(tmp_path, "cpu-default", "Default CPU", probes=("step",))
    results = load_results(tmp_path)
    missing = compare.bandwidth_by_device(results)
    assert isinstance(missing, Missing) and "phasecal probe --suite bandwidth" in missing.text
    assert isinstance(compare.step_cost_by_device(results), Figure)
    assert "\n" not in missing._repr_markdown_()


def test_roofline_places_kernels_and_steps_under_both_roofs(two_devices: Path):
    fig = roofline.roofline(load_results(two_devices))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[:2] == list(DEVICES) and any("H200" in t and "published reference" in t for t in titles)
    cpu = fig.axes[0]
    labels = [line.get_label() for line in cpu.get_lines()]
    assert any(lab.startswith("measured roof") for lab in labels)
    assert any(lab.startswith("GEMM") for lab in labels) and any(lab.startswith("step") for lab in labels)
    h200 = next(ax for ax in fig.axes if "H200" in ax.get_title())
    assert any("datasheet" in line.get_label() for line in h200.get_lines())
    assert any("paper decode attention" in line.get_label() for line in h200.get_lines())


def test_roofline_intensity_of_a_gemm():
    from phasecal.point_params import GemmParams
    from phasecal.records import PointRecord

    params = GemmParams("torch", "up_proj", 64, 128, 256, "bfloat16").to_dict()
    rec = PointRecord(probe="gemm", key="g", params=params, median_s=1e-3, spread=0.0, samples_s=[1e-3], extra={})
    p = roofline.gemm_point(rec, None)
    assert p.intensity == pytest.approx(2 * 64 * 128 * 256 / ((64 * 256 + 256 * 128 + 64 * 128) * 2))
    assert p.tflops == pytest.approx(2 * 64 * 128 * 256 / 1e-3 / 1e12)


def test_ratio_table_against_a_chosen_baseline(two_devices: Path):
    results = load_results(two_devices)
    table = ratios.ratio_markdown(results, baseline="NVIDIA Test GPU")
    assert "NVIDIA Test GPU [nvidia-test-gpu] · tiny — baseline" in table
    row = next(line for line in table.splitlines() if line.startswith("| β_p"))
    cpu, gpu = row.split(" | ")[1:3]
    assert gpu.endswith("(×1)") and cpu.endswith("(×0.05)")  # the synthetic GPU is 20x faster
    assert "**" not in table
    with pytest.raises(ValueError, match="matches no device"):
        ratios.ratio_markdown(results, baseline="TPU")


def test_symlinked_and_several_result_folders(two_devices: Path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("machine-b")
    write_device(elsewhere, "cpu-linked", "Linked CPU", probes=("step", "bandwidth"))
    os.symlink(elsewhere / "cpu-linked", two_devices / "cpu-linked")
    results = load_results(two_devices)
    linked = next(d for d in results.devices if d.slug == "cpu-linked")
    assert linked.sources("step") == [f"{two_devices.name}/cpu-linked/tiny/raw.jsonl"]
    other = tmp_path_factory.mktemp("machine-c")
    write_device(other, "cpu-test", "Test CPU", probes=("step",), seed=9)
    both = load_results([two_devices, other])
    labels = [d.label for d in both.devices]
    assert len([lab for lab in labels if lab.startswith("Test CPU")]) == 2 and len(set(labels)) == len(labels)
    assert len(both.references) == 1


def test_default_run_gives_pages_without_empty_panels(tmp_path: Path):
    """What `phasecal run` leaves (steps, a profile, MB against EB on the trace): every figure draws data in
    every panel it keeps, or is one line naming what to run."""
    from test_figures import FIGURES

    folder = write_device(tmp_path, "cpu-default", "Default CPU", probes=("step",))
    write_scheduler(folder, cases=(("azure_conv", None),))
    results = load_results(tmp_path)
    for make in FIGURES + SHARED + [roofline.roofline]:
        fig = make(results)
        if isinstance(fig, Missing):
            assert "run `" in fig.text, make.__name__
            continue
        assert fig.axes, make.__name__
        for ax in fig.axes:
            drawn = ax.lines or ax.patches or ax.collections or ax.images
            assert ax.get_visible() and drawn, f"{make.__name__}: empty panel {ax.get_title()!r}"


def test_notebook_folder_finds_results_without_setup(tmp_path: Path, monkeypatch):
    """`jupyter lab reports/notebooks` runs kernels in that folder, with no PHASECAL_RESULTS set."""
    from phasecal.reports.data import default_results_dirs

    monkeypatch.delenv("PHASECAL_RESULTS", raising=False)
    monkeypatch.chdir(Path(__file__).resolve().parents[2] / "reports" / "notebooks")
    assert default_results_dirs() == [Path(__file__).resolve().parents[2] / "results"]
    # installed from a wheel (no results/ beside the package): the nearest results/ above the working folder
    (tmp_path / "results").mkdir()
    (tmp_path / "reports" / "notebooks").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "reports" / "notebooks")
    assert default_results_dirs(repo=tmp_path / "site-packages") == [tmp_path / "results"]
    monkeypatch.setenv("PHASECAL_RESULTS", f"{tmp_path}/a{os.pathsep}{tmp_path}/b")
    assert default_results_dirs() == [tmp_path / "a", tmp_path / "b"]
