"""A synthetic decoder-only model: real shapes from the catalog, random weights, a paged KV cache.

It runs one serving step for any batch of prefill chunks and decodes, as an engine would: embed,
per layer RMSNorm (+ residual), QKV projection, (Qwen3) q/k norm, neox rotary, KV-cache write, paged
attention, output projection, SiLU-gated MLP, then the LM head on each sequence's last token. The
probes time it; the executed scheduler runs it. Two backends run the glue around the GEMMs (which are
torch's, i.e. cuBLAS, in both): `triton`, the kernels of step_ops.py and attention*.py as a serving
engine runs its own fused glue (the default on a GPU), and `torch`, their torch references (the
default on a CPU, where Triton would only be its interpreter). Pure-decode steps go to the split-KV
decode kernel, other steps to the unified kernel.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from . import step_ops
from .attention import decode_attention, paged_attention_ref, unified_attention
from .attention_ref import DecodePlan, decode_plan
from .catalog import ModelShape

BACKENDS = ("torch", "triton")
EPS = 1e-6


def default_backend(device: str | torch.device) -> str:
    """`triton` on a GPU, `torch` elsewhere (the interpreter would time Python, not kernels)."""
    return "triton" if torch.device(device).type == "cuda" else "torch"


@dataclass
class SeqChunk:
    """One sequence's part of a step: `num_new` tokens computed on top of `num_cached` in the cache.

    `block_table` lists the cache pages holding its tokens and must cover num_cached + num_new.
    A decode is num_new == 1 with num_cached > 0.
    """

    num_cached: int
    num_new: int
    block_table: list[int]

    @property
    def seq_len(self) -> int:
        return self.num_cached + self.num_new


@dataclass
class StepInputs:
    """Device tensors of one step, built once by `prepare` so a CUDA Graph can replay over them."""

    input_ids: torch.Tensor  # [T]
    positions: torch.Tensor  # [T]
    slot_mapping: torch.Tensor  # [T] cache slot of each new token
    query_start_loc: torch.Tensor  # [S+1] int32, cumulative new tokens
    seq_lens: torch.Tensor  # [S] int32, cached + new
    block_tables: torch.Tensor  # [S, max_blocks] int32
    last_token: torch.Tensor  # [S] index of each sequence's last new token
    chunks: list[SeqChunk]
    max_query_len: int  # longest chunk of the step: picks the attention kernel's tile size
    max_seq_len: int  # longest sequence: the keys the decode kernel's splits cover
    host_lengths: tuple[list[int], list[int]]  # query_start_loc and seq_lens on the host (no device sync)
    pure_decode: bool  # one new token per sequence: the split-KV decode kernel runs the attention
    decode_plan: DecodePlan | None = None  # the torch backend's decode groups, built once for all layers


def probe_chunks(prefill: list[tuple[int, int]], decode: list[int], block_size: int, num_blocks: int,
                 scatter_seed: int | None = None) -> list[SeqChunk]:
    """A synthetic batch: prefill chunks (q new on c cached) then decodes (context ctx, 1 new token).
    Each sequence on its own contiguous run of pages, or, with `scatter_seed`, on pages drawn in a seeded
    random order from the whole cache, as an engine's block allocator leaves them once requests have come
    and gone. ValueError if they do not fit in `num_blocks` pages."""
    specs = [(c, q) for q, c in prefill] + [(ctx, 1) for ctx in decode]
    order = list(range(num_blocks))
    if scatter_seed is not None:
        random.Random(scatter_seed).shuffle(order)
    chunks, next_block = [], 0
    for cached, new in specs:
        if new < 1 or cached < 0:
            raise ValueError(f"a chunk needs >= 1 new token and >= 0 cached ones, got new={new}, cached={cached}")
        n = -(-(cached + new) // block_size)
        chunks.append(SeqChunk(cached, new, order[next_block:next_block + n]))
        next_block += n
    if next_block > num_blocks:
        raise ValueError(f"the batch needs {next_block} KV pages of {block_size} tokens but the cache has "
                         f"{num_blocks}: shrink the batch or give the model more num_blocks")
    return chunks


class SyntheticModel:
    """Random-weight model of a catalog shape with a paged KV cache; see the module docstring."""

    def __init__(self, shape: ModelShape, device: str = "cpu", dtype: torch.dtype = torch.float32,
                 num_blocks: int = 256, block_size: int = 16, seed: int = 0, backend: str | None = None):
        backend = default_backend(device) if backend is None else backend
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.shape, self.device, self.dtype = shape, torch.device(device), dtype
        self.block_size, self.num_blocks, self.backend = block_size, num_blocks, backend
        # sums a row-parallel layer's partial outputs over tensor-parallel ranks (kernels/tp_model.py); None: one device
        self.reduce = None
        # drawn on the target device: generating 8B weights and a GPU-sized cache on the host and
        # copying them over would take minutes
        g = torch.Generator(device=self.device).manual_seed(seed)

        def randn(*size: int) -> torch.Tensor:
            return torch.randn(*size, generator=g, device=self.device, dtype=dtype)

        def weight(k: int, n: int) -> torch.Tensor:
            # stored [N, K] as torch Linear; 1/sqrt(K) keeps activations O(1) through the layers
            return randn(n, k).mul_(k**-0.5)

        def norm(n: int) -> torch.Tensor:
            return randn(n).mul_(0.1).add_(1)

        s = shape
        self.embed = randn(s.vocab_size, s.hidden_size)
        self.lm_head = self.embed if s.tie_embeddings else weight(s.hidden_size, s.vocab_size)
        self.final_norm = norm(s.hidden_size)
        self.layers = []
        for _ in range(s.num_layers):
            lin = {name: weight(k, n) for name, (k, n) in s.linear_shapes().items() if name != "lm_head"}
            lin.update(input_norm=norm(s.hidden_size), post_norm=norm(s.hidden_size))
            if s.qk_norm:
                lin.update(q_norm=norm(s.head_dim), k_norm=norm(s.head_dim))
            self.layers.append(lin)
        cache_shape = (num_blocks, block_size, s.num_kv_heads, s.head_dim)
        self.k_cache = [randn(*cache_shape) for _ in range(s.num_layers)]
        self.v_cache = [randn(*cache_shape) for _ in range(s.num_layers)]

    @property
    def kv_capacity_tokens(self) -> int:
        return self.num_blocks * self.block_size

    def prepare(self, chunks: list[SeqChunk]) -> StepInputs:
        """Build the step's index tensors on the device (host work an engine does before launching)."""
        bs = self.block_size
        positions, slots, qsl, max_blocks = [], [], [0], 1
        for ch in chunks:
            if len(ch.block_table) * bs < ch.seq_len:
                raise ValueError(f"block_table of {len(ch.block_table)} pages cannot hold {ch.seq_len} tokens")
            pos = range(ch.num_cached, ch.seq_len)
            positions.extend(pos)
            slots.extend(ch.block_table[p // bs] * bs + p % bs for p in pos)
            qsl.append(qsl[-1] + ch.num_new)
            max_blocks = max(max_blocks, len(ch.block_table))
        tables = torch.zeros(len(chunks), max_blocks, dtype=torch.int32)
        for i, ch in enumerate(chunks):
            tables[i, : len(ch.block_table)] = torch.tensor(ch.block_table, dtype=torch.int32)
        pos_t = torch.tensor(positions, dtype=torch.long)
        dev, lens = self.device, [ch.seq_len for ch in chunks]
        tables = tables.to(dev)
        return StepInputs(
            input_ids=((pos_t * 7919 + 13) % self.shape.vocab_size).to(dev),
            positions=pos_t.to(dev),
            slot_mapping=torch.tensor(slots, dtype=torch.long).to(dev),
            query_start_loc=torch.tensor(qsl, dtype=torch.int32).to(dev),
            seq_lens=torch.tensor(lens, dtype=torch.int32).to(dev),
            block_tables=tables,
            last_token=(torch.tensor(qsl[1:], dtype=torch.long) - 1).to(dev),
            chunks=chunks,
            max_query_len=max(ch.num_new for ch in chunks),
            max_seq_len=max(ch.seq_len for ch in chunks),
            host_lengths=(qsl, lens),
            pure_decode=all(ch.num_new == 1 for ch in chunks),
            decode_plan=decode_plan(qsl, lens, tables, bs) if self.backend == "torch" else None,
        )

    @torch.inference_mode()
    def forward(self, chunks: list[SeqChunk]) -> torch.Tensor:
        """Run one step; returns the greedy next token of each sequence."""
        if not chunks:
            return torch.empty(0, dtype=torch.long, device=self.device)
        return self.forward_prepared(self.prepare(chunks))

    @torch.inference_mode()
    def forward_prepared(self, inp: StepInputs) -> torch.Tensor:
        """The device part of a step over prepared inputs (what a CUDA Graph captures): next tokens."""
        return self.logits(inp).argmax(dim=-1)

    @torch.inference_mode()
    def logits(self, inp: StepInputs) -> torch.Tensor:
        """LM-head logits of each sequence's last new token, [S, vocab]."""
        s, ops = self.shape, _OPS[self.backend]
        h = self.embed[inp.input_ids]
        residual = None
        for i, lw in enumerate(self.layers):
            h, residual = ops.rms_norm(h, lw["input_norm"], EPS, residual)
            q, k, v = (h @ lw["qkv_proj"].T).split([s.q_size, s.kv_size, s.kv_size], dim=-1)
            q = q.view(-1, s.num_heads, s.head_dim)
            k = k.view(-1, s.num_kv_heads, s.head_dim)
            v = v.view(-1, s.num_kv_heads, s.head_dim)
            if s.qk_norm:
                q, _ = ops.rms_norm(q, lw["q_norm"], EPS)
                k, _ = ops.rms_norm(k, lw["k_norm"], EPS)
            q, k = ops.rotary_embedding(inp.positions, q, k, s.head_dim, s.rope_theta)
            ops.write_kv_cache(k, v, self.k_cache[i], self.v_cache[i], inp.slot_mapping)
            o = self._attention(i, q, inp)
            h = self._reduced(o.reshape(-1, s.q_size) @ lw["o_proj"].T)
            h, residual = ops.rms_norm(h, lw["post_norm"], EPS, residual)
            h = self._reduced(ops.silu_and_mul(h @ lw["gate_up_proj"].T) @ lw["down_proj"].T)
        h, _ = ops.rms_norm(h[inp.last_token], self.final_norm, EPS, residual[inp.last_token])
        return h @ self.lm_head.T

    def _reduced(self, h: torch.Tensor) -> torch.Tensor:
        return h if self.reduce is None else self.reduce(h)

    def _attention(self, layer: int, q: torch.Tensor, inp: StepInputs) -> torch.Tensor:
        caches = (self.k_cache[layer], self.v_cache[layer])
        if self.backend == "torch":
            return paged_attention_ref(q, *caches, inp.query_start_loc, inp.seq_lens, inp.block_tables,
                                       host_lengths=inp.host_lengths, plan=inp.decode_plan)
        if inp.pure_decode:  # one query per sequence: split the keys so that small batches fill the GPU
            return decode_attention(q, *caches, inp.seq_lens, inp.block_tables, max_seq_len=inp.max_seq_len)
        return unified_attention(q, *caches, inp.query_start_loc, inp.seq_lens, inp.block_tables,
                                 max_query_len=inp.max_query_len)

    def warmup(self) -> None:
        """Run one step of each kind a run can meet, so that every kernel variant is compiled and, on a
        GPU, autotuned before timing: a prefill, a mixed step, and decodes with and without split keys.
        On a GPU the decodes are sized as measured ones are (one long context; a batch filling the GPU),
        since the autotuner keeps the configuration that was fastest on them. Their pages run through
        the cache, wrapping when it is short: the steps only write garbage into it."""
        bs, capacity = self.block_size, self.kv_capacity_tokens
        long = max(1, min(capacity, 4096) - 1)  # > 256 keys when the cache allows: the decode kernel splits
        batch, batch_ctx = (64, max(1, min(2048, capacity // 64 - 1))) if self.device.type == "cuda" else (2, 2)
        page = 0
        for specs in ([(0, 2)], [(0, 2), (2, 1)], [(2, 1)], [(long, 1)], [(batch_ctx, 1)] * batch):
            chunks = []
            for cached, new in specs:
                pages = -(-(cached + new) // bs)
                chunks.append(SeqChunk(cached, new, [(page + i) % self.num_blocks for i in range(pages)]))
                page += pages
            self.forward(chunks)


@dataclass(frozen=True)
class StepOps:
    """The glue of a step, one implementation per backend (the torch ones are the Triton ones' references)."""

    rms_norm: object
    rotary_embedding: object
    silu_and_mul: object
    write_kv_cache: object


_OPS = {
    "triton": StepOps(step_ops.rms_norm, step_ops.rotary_embedding, step_ops.silu_and_mul, step_ops.write_kv_cache),
    "torch": StepOps(step_ops.rms_norm_ref, step_ops.rotary_embedding_ref, step_ops.silu_and_mul_ref,
                     step_ops.write_kv_cache_ref),
}
