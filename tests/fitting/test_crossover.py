"""The crossover vocabulary: every crossing of β_MB(r) with its direction, on synthetic curves and on the
committed profiles (this project's CPU and the paper's H200 calibration)."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasecal.fitting.crossover import (
    blend_crossover,
    decode_batch_for_share,
    decode_crossover,
    quadratic_crossings,
)
from phasecal.fitting.profile import ExclusiveCosts, MixedCost, load_profile

RESULTS = Path(__file__).parents[2] / "results"
CPU_PROFILE = RESULTS / "cpu-intel-r-xeon-r-processor" / "tiny" / "profile.json"
PAPER_PROFILE = RESULTS / "reference" / "paper_H200_Qwen3-8B" / "profile.json"


def _bisect(f, lo: float, hi: float) -> float:
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if (f(mid) > 0) == (f(lo) > 0) else (lo, mid)
    return 0.5 * (lo + hi)


def test_two_crossings_each_with_its_direction():
    # g(r) = (r − 0.2)(r − 0.7) = 0.14 − 0.9r + r²: positive below 0.2, negative between, positive above 0.7
    got = quadratic_crossings(0.14, -0.9, 1.0, "ref")
    assert [(c.share, c.costs_more) for c in got.crossings] == [(pytest.approx(0.2), "below"),
                                                                 (pytest.approx(0.7), "above")]
    assert "below r = 0.200" in got.describe() and "above r = 0.700" in got.describe()


def test_roots_outside_and_touching_are_not_crossings():
    (only,) = quadratic_crossings(0.75, -2.0, 1.0, "ref").crossings  # (r − 0.5)(r − 1.5): 1.5 is outside
    assert (only.share, only.costs_more) == (pytest.approx(0.5), "below")
    touch = quadratic_crossings(0.25, -1.0, 1.0, "ref")  # (r − 0.5)²: touches, never crosses
    assert touch.crossings == () and touch.everywhere == "more"


@settings(max_examples=200, deadline=None)
@given(st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1))
def test_crossings_are_sign_changes_of_the_gap(c0, c1, c2):
    got = quadratic_crossings(c0, c1, c2, "ref")
    g = lambda r: c0 + c1 * r + c2 * r * r  # noqa: E731
    for c in got.crossings:
        assert 0 <= c.share <= 1
        assert abs(g(c.share)) <= 1e-9 * max(abs(c0), abs(c1), abs(c2), 1.0)
    if not got.crossings:  # no crossing: the gap keeps one sign on [0, 1] (up to touching zeros)
        signs = {g(r / 100) > 0 for r in range(101) if abs(g(r / 100)) > 1e-9}
        assert len(signs) <= 1


def test_committed_cpu_profile_crossing():
    profile = load_profile(CPU_PROFILE)
    cross = profile.derived.crossover
    # measured on this project's CPU: β_MB(r) falls through the exclusive blend near r = 0.150, and stays
    # below pure decode's β_d at every share (a decode token reading its KV context costs more on this CPU)
    (blend,) = cross.blend.crossings
    assert (round(blend.share, 3), blend.costs_more) == (0.150, "below")
    assert cross.decode.crossings == () and cross.decode.everywhere == "less"
    # the stored report is what the definition gives for the stored coefficients
    assert cross.blend == blend_crossover(profile.mixed, profile.exclusive["eager"])


def test_committed_paper_profile_crossing_is_the_definitions_value():
    profile = load_profile(PAPER_PROFILE)
    m, c = profile.mixed, profile.exclusive["eager"]
    expected = _bisect(lambda r: m.a + m.b * r + m.c * r * r - c.beta_d, 0.0, 1.0)
    (cross,) = profile.derived.crossover.decode.crossings
    assert cross.share == pytest.approx(expected, abs=1e-9) and cross.costs_more == "above"
    assert round(cross.share, 3) == 0.365  # not the ~80% the paper reports: see the profile's notes
    assert profile.derived.crossover.blend.crossings == ()
    n_eq = profile.derived.crossover.decode_batch_at_paper_share
    assert c.alpha_d / n_eq + c.beta_d == pytest.approx(m.beta_mb(0.8))


def test_decode_batch_for_share_none_when_beta_mb_below_beta_d():
    assert decode_batch_for_share(MixedCost(1, 1.0, 0.0, 0.0), ExclusiveCosts(1.0, 1.0, 1.0, 2.0)) is None


def test_run_show_and_report_agree_on_the_committed_profiles():
    from phasecal.fitting.explain import crossover_lines

    for path in (CPU_PROFILE, PAPER_PROFILE):
        profile = load_profile(path)
        stored = json.loads(path.read_text())["derived"]["crossover"]
        line = crossover_lines(profile.derived.crossover)[0]
        assert decode_crossover(profile.mixed, profile.exclusive["eager"]).describe() in line
        assert stored["decode"]["crossings"] == [{"share": c.share, "costs_more": c.costs_more}
                                                 for c in profile.derived.crossover.decode.crossings]
