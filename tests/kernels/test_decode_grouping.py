"""The torch attention's decode grouping, and the padding the step model prices from it."""

from hypothesis import given
from hypothesis import strategies as st

from phasecal.kernels.decode_grouping import decode_groups, decode_padding

LENS = st.lists(st.integers(2, 5000), min_size=1, max_size=40)


@given(LENS, st.integers(0, 5000))
def test_decode_groups_partition_by_added_padding(lens, merge):
    """Every decode lands in one group, groups ascend by context, and a group ends only where the next decode
    would add more than `merge` keys of padding to it."""
    groups = decode_groups(list(range(len(lens))), lens, merge)
    assert sorted(i for g in groups for i in g) == list(range(len(lens)))
    assert all([lens[i] for i in g] == sorted(lens[i] for i in g) for g in groups)
    for a, b in zip(groups, groups[1:], strict=False):
        assert lens[a[-1]] <= lens[b[0]] and (lens[b[0]] - lens[a[-1]]) * len(a) > merge


@given(LENS, st.integers(0, 5000), st.integers(0, 10_000))
def test_decode_padding_is_the_groups_padding(lens, merge, shift):
    """decode_padding = sum over decode_groups of size x longest − the contexts; a context shift (all decodes one
    step further) leaves it unchanged, which the simulator's decode stretches rely on."""
    groups = decode_groups(list(range(len(lens))), lens, merge)
    padded = sum(len(g) * max(lens[i] for i in g) for g in groups)
    assert decode_padding(lens, merge) == padded - sum(lens)
    assert decode_padding([c + shift for c in lens], merge) == decode_padding(lens, merge)


def test_equal_contexts_pad_nothing_and_a_spread_pads_its_gaps():
    assert decode_padding([300] * 16) == 0
    assert decode_padding([]) == 0
    assert decode_padding([100, 110]) == 10  # one group: the first decode padded by 10 keys
    assert decode_padding([100, 400]) == 0  # 300 keys of padding > MERGE_KEYS: two calls
