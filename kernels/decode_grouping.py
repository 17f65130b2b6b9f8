"""How the torch attention (attention_ref.py) groups a step's decodes into padded calls, in plain Python, so the
step model (fitting/features.py) can price the padding without importing torch."""

from __future__ import annotations

from collections.abc import Iterable

# a decode joins a padded group while the keys it adds stay within this many: one more call (gather, zeroing,
# SDPA) costs about what 256-1,000 keys do on a 2-core EPYC. Against one call padded to the longest context,
# decodes at contexts 150-450 took 1.8x the attention time of equal contexts with the same keys (2-64
# decodes); grouped with 256, 1.12x; with 0 (a call each), 2.3x
MERGE_KEYS = 256


def decode_groups(decode: list[int], lens: list[int], merge_keys: int | None = None) -> list[list[int]]:
    """The decodes `decode` (indices into `lens`) by ascending context, in groups each attended by one call
    padded to its longest context: a decode joins the current group while the padding it adds (its extra
    context times the group's size) stays within `merge_keys` keys, what one more call costs."""
    merge = MERGE_KEYS if merge_keys is None else merge_keys
    groups: list[list[int]] = []
    for i in sorted(decode, key=lambda j: lens[j]):
        if groups and (lens[i] - lens[groups[-1][-1]]) * len(groups[-1]) <= merge:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def decode_padding(contexts: Iterable[int], merge_keys: int = MERGE_KEYS) -> int:
    """Keys the grouped decodes read past their own contexts: the sum over `decode_groups` of size times the
    longest context, minus the contexts' sum (0 when the contexts are equal). Same grouping, no lists."""
    pad = size = top = 0
    for c in sorted(contexts):
        if size and (c - top) * size <= merge_keys:
            pad += (c - top) * size  # the group's earlier members now pad up to c
            size += 1
        else:
            size = 1
        top = c
    return pad
