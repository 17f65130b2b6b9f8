"""A synthetic decoder-only model: real shapes from the catalog, random weights, a paged KV cache.

It runs one serving step for any batch of prefill chunks and decodes, as an engine would: embed,
per layer RMSNorm, QKV projection, (Qwen3) q/k norm, neox rotary, KV-cache write, paged attention,
output projection, SiLU-gated MLP, then the LM head on each sequence's last token. The probes time
it; the executed scheduler runs it. Attention goes through the Triton kernel on CUDA and through
torch SDPA on the CPU (`attention="torch"|"triton"`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .catalog import ModelShape


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


def probe_chunks(prefill: list[tuple[int, int]], decode: list[int], block_size: int,
                 num_blocks: int) -> list[SeqChunk]:
    """A synthetic batch: prefill chunks (q new on c cached) then decodes (context ctx, 1 new token),
    each on its own contiguous run of pages. ValueError if they do not fit in `num_blocks` pages."""
    specs = [(c, q) for q, c in prefill] + [(ctx, 1) for ctx in decode]
    chunks, next_block = [], 0
    for cached, new in specs:
        if new < 1 or cached < 0:
            raise ValueError(f"a chunk needs >= 1 new token and >= 0 cached ones, got new={new}, cached={cached}")
        n = -(-(cached + new) // block_size)
        chunks.append(SeqChunk(cached, new, list(range(next_block, next_block + n))))
        next_block += n
    if next_block > num_blocks:
        raise ValueError(f"the batch needs {next_block} KV pages of {block_size} tokens but the cache has "
                         f"{num_blocks}: shrink the batch or give the model more num_blocks")
    return chunks


class SyntheticModel:
    """Random-weight model of a catalog shape with a paged KV cache; see the module docstring."""

    def __init__(self, shape: ModelShape, device: str = "cpu", dtype: torch.dtype = torch.float32,
                 num_blocks: int = 256, block_size: int = 16, seed: int = 0, attention: str | None = None):
        if attention is None:
            attention = "triton" if str(device).startswith("cuda") else "torch"
        if attention not in ("torch", "triton"):
            raise ValueError(f"attention must be 'torch' or 'triton', got {attention!r}")
        self.shape, self.device, self.dtype = shape, torch.device(device), dtype
        self.block_size, self.num_blocks, self.attention = block_size, num_blocks, attention
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
        inv_freq = 1.0 / (s.rope_theta ** (torch.arange(0, s.head_dim, 2, dtype=torch.float32) / s.head_dim))
        self.inv_freq = inv_freq.to(self.device)

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
        dev = self.device
        return StepInputs(
            input_ids=((pos_t * 7919 + 13) % self.shape.vocab_size).to(dev),
            positions=pos_t.to(dev),
            slot_mapping=torch.tensor(slots, dtype=torch.long).to(dev),
            query_start_loc=torch.tensor(qsl, dtype=torch.int32).to(dev),
            seq_lens=torch.tensor([ch.seq_len for ch in chunks], dtype=torch.int32).to(dev),
            block_tables=tables.to(dev),
            last_token=(torch.tensor(qsl[1:], dtype=torch.long) - 1).to(dev),
            chunks=chunks,
            max_query_len=max(ch.num_new for ch in chunks),
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
        s = self.shape
        h = self.embed[inp.input_ids]
        residual = None
        for i, lw in enumerate(self.layers):
            h, residual = _add_rms_norm(h, residual, lw["input_norm"])
            q, k, v = (h @ lw["qkv_proj"].T).split([s.q_size, s.kv_size, s.kv_size], dim=-1)
            q = q.view(-1, s.num_heads, s.head_dim)
            k = k.view(-1, s.num_kv_heads, s.head_dim)
            v = v.view(-1, s.num_kv_heads, s.head_dim)
            if s.qk_norm:
                q = F.rms_norm(q, (s.head_dim,), lw["q_norm"], 1e-6)
                k = F.rms_norm(k, (s.head_dim,), lw["k_norm"], 1e-6)
            q, k = _rope_neox(q, inp.positions, self.inv_freq), _rope_neox(k, inp.positions, self.inv_freq)
            self._write_kv(i, k, v, inp.slot_mapping)
            o = self._attention(i, q, inp)
            h = o.reshape(-1, s.q_size) @ lw["o_proj"].T
            h, residual = _add_rms_norm(h, residual, lw["post_norm"])
            gate, up = (h @ lw["gate_up_proj"].T).chunk(2, dim=-1)
            h = (F.silu(gate) * up) @ lw["down_proj"].T
        h, _ = _add_rms_norm(h[inp.last_token], residual[inp.last_token], self.final_norm)
        return h @ self.lm_head.T

    def _write_kv(self, layer: int, k: torch.Tensor, v: torch.Tensor, slots: torch.Tensor) -> None:
        flat = (self.num_blocks * self.block_size, self.shape.num_kv_heads, self.shape.head_dim)
        self.k_cache[layer].view(flat).index_copy_(0, slots, k)
        self.v_cache[layer].view(flat).index_copy_(0, slots, v)

    def _attention(self, layer: int, q: torch.Tensor, inp: StepInputs) -> torch.Tensor:
        args = (q, self.k_cache[layer], self.v_cache[layer], inp.query_start_loc, inp.seq_lens, inp.block_tables)
        if self.attention == "triton":
            from .attention import unified_attention

            return unified_attention(*args, max_query_len=inp.max_query_len)
        return torch_paged_attention(*args, chunks=inp.chunks)


def _add_rms_norm(x: torch.Tensor, residual: torch.Tensor | None, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    residual = x if residual is None else x + residual
    return F.rms_norm(residual, (residual.shape[-1],), w, 1e-6), residual


def _rope_neox(x: torch.Tensor, positions: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    freqs = positions.float()[:, None] * inv_freq[None, :]
    cos, sin = freqs.cos()[:, None, :].to(x.dtype), freqs.sin()[:, None, :].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def torch_paged_attention(q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, chunks):
    """Paged attention through torch SDPA: decodes batched (padded, masked), prefill chunks one by one."""
    out = torch.empty_like(q)
    bs, gqa = k_cache.shape[1], q.shape[1] // k_cache.shape[2]
    decode = [i for i, ch in enumerate(chunks) if ch.num_new == 1 and ch.num_cached > 0]
    prefill = [i for i, ch in enumerate(chunks) if not (ch.num_new == 1 and ch.num_cached > 0)]
    if decode:
        idx = torch.tensor(decode, device=q.device)
        max_len = max(chunks[i].seq_len for i in decode)
        tables = block_tables[idx, : -(-max_len // bs)]
        flat = tables.flatten()  # index_select beats advanced indexing ~2x on the CPU
        k = k_cache.index_select(0, flat).view(len(decode), -1, *k_cache.shape[2:])[:, :max_len]  # [B, L, kvh, d]
        v = v_cache.index_select(0, flat).view(len(decode), -1, *v_cache.shape[2:])[:, :max_len]
        mask = torch.arange(max_len, device=q.device)[None, :] < seq_lens[idx][:, None]
        qd = q[query_start_loc[idx].long()]  # [B, h, d]
        o = F.scaled_dot_product_attention(qd[:, :, None], k.transpose(1, 2), v.transpose(1, 2),
                                           attn_mask=mask[:, None, None, :], enable_gqa=gqa > 1)
        out[query_start_loc[idx].long()] = o[:, :, 0]
    for i in prefill:
        ch = chunks[i]
        start = int(query_start_loc[i])
        table = block_tables[i, : -(-ch.seq_len // bs)]
        k = k_cache.index_select(0, table).flatten(0, 1)[: ch.seq_len].transpose(0, 1)  # [kvh, L, d]
        v = v_cache.index_select(0, table).flatten(0, 1)[: ch.seq_len].transpose(0, 1)
        qi = q[start : start + ch.num_new].transpose(0, 1)  # [h, q, d]
        pos_q = torch.arange(ch.num_cached, ch.seq_len, device=q.device)
        mask = torch.arange(ch.seq_len, device=q.device)[None, :] <= pos_q[:, None]
        o = F.scaled_dot_product_attention(qi, k, v, attn_mask=mask, enable_gqa=gqa > 1)
        out[start : start + ch.num_new] = o.transpose(0, 1)
    return out
