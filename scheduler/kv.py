"""KV-cache accounting in fixed-size blocks, with real block ids (the executed path indexes its cache by them)."""

from __future__ import annotations

from .request import Request


class BlockManager:
    """Paged KV allocator: `num_blocks` blocks of `block_size` tokens; a request's table covers its cached tokens."""

    def __init__(self, num_blocks: int, block_size: int):
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"KV cache needs ≥ 1 block of ≥ 1 token, got {num_blocks} blocks of {block_size}")
        self.num_blocks = num_blocks
        self.block_size = block_size
        self._free = list(range(num_blocks - 1, -1, -1))  # low ids at the end: handed out first
        self.tables: dict[int, list[int]] = {}
        self.peak_used = 0

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def num_used(self) -> int:
        return self.num_blocks - len(self._free)

    def grow(self, req: Request, tokens: int) -> bool:
        """Extend `req`'s table to cover `tokens` tokens; False (and nothing allocated) if blocks are short."""
        table = self.tables.get(req.rid)
        need = (tokens + self.block_size - 1) // self.block_size - (len(table) if table is not None else 0)
        if need <= 0:
            return True
        if need > len(self._free):
            return False
        if table is None:
            table = self.tables[req.rid] = []
        free = self._free
        table.extend(reversed(free[-need:]))  # the same ids, in the same order, as `need` pops
        del free[-need:]
        used = self.num_blocks - len(self._free)
        if used > self.peak_used:
            self.peak_used = used
        return True

    def release(self, req: Request) -> None:
        """Return all of `req`'s blocks (finish or preemption)."""
        self._free.extend(reversed(self.tables.pop(req.rid, [])))

    def table(self, req: Request) -> list[int]:
        return self.tables.get(req.rid, [])

    def check(self) -> None:
        """Invariants (for tests): every block is free or owned by exactly one request."""
        owned = [b for t in self.tables.values() for b in t]
        all_ids = owned + self._free
        if len(all_ids) != self.num_blocks or len(set(all_ids)) != self.num_blocks:
            raise AssertionError(f"KV blocks lost or shared: {len(owned)} owned + {len(self._free)} free "
                                 f"of {self.num_blocks}, {len(set(all_ids))} distinct")
