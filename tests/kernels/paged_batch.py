"""Builds random paged-KV batches for the attention tests: pages shuffled, unused cache slots NaN."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PagedBatch:
    q: torch.Tensor
    k_cache: torch.Tensor
    v_cache: torch.Tensor
    query_start_loc: torch.Tensor
    seq_lens: torch.Tensor
    block_tables: torch.Tensor

    def varlen_args(self) -> tuple:
        return (self.q, self.k_cache, self.v_cache, self.query_start_loc, self.seq_lens, self.block_tables)


def make_paged_batch(
    chunks: list[tuple[int, int]], num_heads: int, num_kv_heads: int, head_dim: int, block_size: int,
    dtype: torch.dtype, device: str, seed: int = 0, spare_blocks: int = 2,
) -> PagedBatch:
    """A batch where sequence i has chunks[i] = (cached, new) tokens; its K/V fill shuffled pages.

    Cache slots no sequence owns are NaN, so a kernel that reads past a sequence's end fails the check.
    The block table is padded with spare columns pointing at random pages, as engines leave them.
    """
    gen = torch.Generator().manual_seed(seed)
    seq_lens = [c + n for c, n in chunks]
    pages_per_seq = [-(-s // block_size) for s in seq_lens]
    max_pages = max(pages_per_seq, default=0) + 1
    num_blocks = sum(pages_per_seq) + spare_blocks
    shape = (num_blocks, block_size, num_kv_heads, head_dim)
    k_cache = torch.full(shape, float("nan"))
    v_cache = torch.full(shape, float("nan"))
    order = torch.randperm(num_blocks, generator=gen)
    block_tables = torch.randint(0, num_blocks, (len(chunks), max_pages), generator=gen, dtype=torch.int32)
    used = 0
    for seq, (seq_len, pages) in enumerate(zip(seq_lens, pages_per_seq, strict=True)):
        ids = order[used : used + pages]
        used += pages
        block_tables[seq, :pages] = ids.int()
        kv = torch.randn(2, pages * block_size, num_kv_heads, head_dim, generator=gen)
        kv[:, seq_len:] = float("nan")
        k_cache[ids] = kv[0].view(pages, block_size, num_kv_heads, head_dim)
        v_cache[ids] = kv[1].view(pages, block_size, num_kv_heads, head_dim)
    new = [n for _, n in chunks]
    query_start_loc = torch.tensor([0] + new, dtype=torch.int32).cumsum(0, dtype=torch.int32)
    q = torch.randn(sum(new), num_heads, head_dim, generator=gen)
    return PagedBatch(
        q=q.to(device, dtype), k_cache=k_cache.to(device, dtype), v_cache=v_cache.to(device, dtype),
        query_start_loc=query_start_loc.to(device), seq_lens=torch.tensor(seq_lens, dtype=torch.int32).to(device),
        block_tables=block_tables.to(device),
    )
