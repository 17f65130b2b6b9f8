"""The torch reference of paged attention (layout in paged_tiles.py), used by the tests of every
attention kernel and as the attention of the synthetic model's `torch` backend.

Through torch SDPA, in fp32 by default: decodes batched in groups of similar context (each padded to
its longest and masked), prefill chunks one by one. Given the lengths on the host (`host_lengths`) it
never syncs with the device, so a CUDA Graph can capture it; with `upcast=False` it runs in q's dtype,
as a torch engine would (the attention probe's torch baseline). Keys past a sequence's end are never read into a
result: the tests fill them with NaN, which a mask alone would not stop (0 * NaN is NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .decode_grouping import decode_groups


def _gather(cache: torch.Tensor, pages: torch.Tensor, num_seqs: int, length: int, dtype,
            past: torch.Tensor | None = None) -> torch.Tensor:
    """[num_seqs, kv_heads, length, head_dim] in `dtype` from the pages [num_seqs, pages] of each sequence;
    the token rows `past` (flat indices j·pages·block_size + t) zeroed.

    Zeroed in the gathered copy's own layout with index_fill_: a broadcast masked_fill over the transposed
    view took 5 ms of an 8.5 ms batch of 32 decodes of unequal contexts on a 2-core EPYC.
    """
    kv = cache.index_select(0, pages.flatten())  # a copy; index_select beats advanced indexing ~2x on the CPU
    if past is not None:
        kv.view(-1, cache.shape[2] * cache.shape[3]).index_fill_(0, past, 0.0)
    return kv.view(num_seqs, -1, *cache.shape[2:])[:, :length].transpose(1, 2).to(dtype)


@dataclass
class DecodeGroup:
    """Decodes attended by one call: their rows in q and the output, pages, padded length, mask, and the
    gathered rows past each one's end (zeroed), all built once per step."""

    index: torch.Tensor  # [g] each decode's query row
    pages: torch.Tensor  # [g, pages]
    length: int  # the longest context of the group
    visible: torch.Tensor  # [g, 1, 1, length] keys inside each sequence
    past: torch.Tensor | None  # flat gathered rows past a shorter sequence's end


@dataclass
class DecodePlan:
    """The step's decode groups, and which sequences they cover (the rest run as chunks)."""

    groups: list[DecodeGroup]
    decoded: frozenset[int]


def decode_plan(starts: list[int], lens: list[int], block_tables: torch.Tensor, block_size: int) -> DecodePlan:
    """Group the step's single-token decodes (`decode_groups`) and build each group's index tensors from
    the host lengths, on the block tables' device (no sync); a model builds it once per step, not per layer."""
    dev = block_tables.device
    decode = [i for i in range(len(lens)) if starts[i + 1] - starts[i] == 1 and lens[i] > 1]
    groups = []
    for idx in decode_groups(decode, lens):
        length, ends = max(lens[i] for i in idx), torch.tensor([lens[i] for i in idx])
        pages = block_tables[torch.tensor(idx, device=dev), : -(-length // block_size)]
        pos = torch.arange(length)
        visible = pos[None, :] < ends[:, None]
        past = None
        if min(lens[i] for i in idx) < length:
            rows_at = torch.arange(len(idx))[:, None] * (pages.shape[1] * block_size) + pos
            past = rows_at[~visible].to(dev)
        groups.append(DecodeGroup(torch.tensor([starts[i] for i in idx], device=dev), pages, length,
                                  visible[:, None, None, :].to(dev), past))
    return DecodePlan(groups, frozenset(decode))


def _decodes(q, k_cache, v_cache, group: DecodeGroup, scale, dtype) -> torch.Tensor:
    """Attention of one group of single-token decodes; [group size, heads, head_dim] in `dtype`."""
    gqa, n = q.shape[1] // k_cache.shape[2], group.index.shape[0]
    k, v = (_gather(c, group.pages, n, group.length, dtype, group.past) for c in (k_cache, v_cache))  # [B, kvh, L, d]
    qd = q[group.index].to(dtype)  # [B, h, d]
    o = F.scaled_dot_product_attention(qd[:, :, None], k, v, attn_mask=group.visible, scale=scale,
                                       enable_gqa=gqa > 1)
    return o[:, :, 0]


def _chunk(q, k_cache, v_cache, block_tables, seq: int, start: int, num_new: int, seq_len: int, scale, dtype):
    """Causal attention of one chunk of `num_new` tokens ending at `seq_len`; [num_new, heads, head_dim]."""
    bs, gqa = k_cache.shape[1], q.shape[1] // k_cache.shape[2]
    pages = block_tables[seq : seq + 1, : -(-seq_len // bs)]
    k, v = (_gather(c, pages, 1, seq_len, dtype)[0] for c in (k_cache, v_cache))  # [kvh, L, d]
    qi = q[start : start + num_new].transpose(0, 1).to(dtype)  # [h, q, d]
    pos_q = torch.arange(seq_len - num_new, seq_len, device=q.device)
    # a boolean mask: the scores past the diagonal are computed, then dropped (the step model's p_mask)
    mask = torch.arange(seq_len, device=q.device)[None, :] <= pos_q[:, None]
    o = F.scaled_dot_product_attention(qi, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa > 1)
    return o.transpose(0, 1)


def paged_attention_ref(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, query_start_loc: torch.Tensor,
    seq_lens: torch.Tensor, block_tables: torch.Tensor, scale: float | None = None, *,
    host_lengths: tuple[list[int], list[int]] | None = None, upcast: bool = True, plan: DecodePlan | None = None,
) -> torch.Tensor:
    """Causal paged attention of a mixed batch with GQA, output in q's dtype (shaped like q).

    `host_lengths`: (query_start_loc, seq_lens) as host lists when the caller has them (no device sync).
    `upcast`: fp32 math (the reference); False: in q's dtype. `plan`: the step's `decode_plan`, when the
    caller built it once for all layers.
    """
    out = torch.empty_like(q)
    starts, lens = host_lengths or (query_start_loc.tolist(), seq_lens.tolist())
    dtype = torch.float32 if upcast else q.dtype
    plan = plan or decode_plan(starts, lens, block_tables, k_cache.shape[1])
    for group in plan.groups:
        out[group.index] = _decodes(q, k_cache, v_cache, group, scale, dtype).to(q.dtype)
    for i, (a, b) in enumerate(zip(starts, starts[1:], strict=False)):
        if b > a and i not in plan.decoded:
            out[a:b] = _chunk(q, k_cache, v_cache, block_tables, i, a, b - a, lens[i], scale, dtype).to(q.dtype)
    return out
