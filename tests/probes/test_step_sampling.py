"""Step-probe sampling on a shared CPU: which points of a group are measured again."""

from phasecal.probes.step import out_of_line


def test_out_of_line_picks_spreads_far_above_the_groups_median():
    spreads = [0.05, 0.06, 0.04, 0.05, 0.30, 0.13, 0.09]  # median 0.06: the line is at 0.12
    assert out_of_line(spreads) == [4, 5]
    assert out_of_line([0.1] * 5) == []  # a uniformly noisy group has nothing out of line
    assert out_of_line(spreads, factor=5.0) == []
