"""The glue of a decoder step in Triton: RMSNorm with fused residual add, neox rotary embedding,
SiLU-and-mul, and the KV-cache write (scatter new K/V into pages).

Every wrapper returns new tensors (nothing is modified in place except the KV cache, which is what
a cache write is for); empty inputs (0 tokens) return empty outputs without launching. All math is
in fp32, results rounded once to the input dtype. Order as the Triton tutorials: kernels, thin
wrappers, torch references (`*_ref`); checks in tests/kernels.
"""

from __future__ import annotations

from functools import cache

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

from ._common import interpreting, next_pow2, require

# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------


@triton.jit
def _rms_norm_kernel(
    x_ptr, residual_ptr, weight_ptr, out_ptr, residual_out_ptr,
    hidden, eps, stride_x, stride_r, stride_o, stride_ro,
    HAS_RESIDUAL: tl.constexpr, BLOCK: tl.constexpr,
):
    """One program per row: (residual =) x + residual, rounded; out = residual * rsqrt(mean(sq) + eps) * w."""
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < hidden
    x = tl.load(x_ptr + row * stride_x + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_RESIDUAL:
        x += tl.load(residual_ptr + row * stride_r + offs, mask=mask, other=0.0).to(tl.float32)
        rounded = x.to(residual_out_ptr.dtype.element_ty)
        tl.store(residual_out_ptr + row * stride_ro + offs, rounded, mask=mask)
        x = rounded.to(tl.float32)  # normalise what the next layer will add to, as vLLM does
    rstd = 1.0 / tl.sqrt(tl.sum(x * x, 0) / hidden + eps)
    w = tl.load(weight_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * stride_o + offs, (x * rstd * w).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rotate_heads(x_ptr, out_ptr, token, cos, sin, num_heads, stride_t, stride_h, stride_ot, stride_oh,
                  HALF: tl.constexpr, HALF_P: tl.constexpr, BLOCK_H: tl.constexpr):
    """Neox rotation of all heads of one token: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)."""
    offs_h = tl.arange(0, BLOCK_H)
    offs_d = tl.arange(0, HALF_P)
    mask = (offs_h < num_heads)[:, None] & (offs_d < HALF)[None, :]
    src = x_ptr + token * stride_t + offs_h[:, None] * stride_h + offs_d[None, :]
    x1 = tl.load(src, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(src + HALF, mask=mask, other=0.0).to(tl.float32)
    dst = out_ptr + token * stride_ot + offs_h[:, None] * stride_oh + offs_d[None, :]
    tl.store(dst, (x1 * cos - x2 * sin).to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(dst + HALF, (x2 * cos + x1 * sin).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rotary_kernel(
    positions_ptr, inv_freq_ptr, q_ptr, k_ptr, q_out_ptr, k_out_ptr, num_q_heads, num_k_heads,
    stride_qt, stride_qh, stride_kt, stride_kh, stride_qot, stride_qoh, stride_kot, stride_koh,
    HALF: tl.constexpr, HALF_P: tl.constexpr, BLOCK_HQ: tl.constexpr, BLOCK_HK: tl.constexpr,
    ACCURATE_TRIG: tl.constexpr,
):
    """One program per token: angle = position * inv_freq (fp32), rotate all q and k heads."""
    token = tl.program_id(0).to(tl.int64)
    offs_d = tl.arange(0, HALF_P)
    inv_freq = tl.load(inv_freq_ptr + offs_d, mask=offs_d < HALF, other=0.0)
    angle = tl.load(positions_ptr + token).to(tl.float32) * inv_freq
    if ACCURATE_TRIG:  # libdevice reduces large angles exactly; the interpreter lacks it
        cos = libdevice.cos(angle)
        sin = libdevice.sin(angle)
    else:
        cos = tl.cos(angle)
        sin = tl.sin(angle)
    _rotate_heads(q_ptr, q_out_ptr, token, cos[None, :], sin[None, :], num_q_heads,
                  stride_qt, stride_qh, stride_qot, stride_qoh, HALF, HALF_P, BLOCK_HQ)
    _rotate_heads(k_ptr, k_out_ptr, token, cos[None, :], sin[None, :], num_k_heads,
                  stride_kt, stride_kh, stride_kot, stride_koh, HALF, HALF_P, BLOCK_HK)


@triton.jit
def _silu_and_mul_kernel(x_ptr, out_ptr, inter, stride_x, stride_o, BLOCK: tl.constexpr):
    """Grid (tokens, column blocks): out = silu(gate) * up with gate, up the two halves of a row of x."""
    row = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < inter
    gate = tl.load(x_ptr + row * stride_x + offs, mask=mask, other=0.0).to(tl.float32)
    up = tl.load(x_ptr + row * stride_x + inter + offs, mask=mask, other=0.0).to(tl.float32)
    out = gate / (1.0 + tl.exp(-gate)) * up
    tl.store(out_ptr + row * stride_o + offs, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _write_kv_kernel(
    k_ptr, v_ptr, k_cache_ptr, v_cache_ptr, slot_mapping_ptr, num_kv_heads,
    stride_kt, stride_kh, stride_vt, stride_vh,
    stride_kcb, stride_kcs, stride_kch, stride_vcb, stride_vcs, stride_vch,
    HEAD_DIM: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    """One program per token: copy its K and V (all KV heads) into cache slot slot_mapping[token]; skip slot < 0."""
    token = tl.program_id(0).to(tl.int64)
    slot = tl.load(slot_mapping_ptr + token).to(tl.int64)
    if slot < 0:  # padding token, as in vLLM
        return
    block = slot // BLOCK_SIZE
    offset = slot % BLOCK_SIZE
    offs_h = tl.arange(0, BLOCK_H)
    offs_d = tl.arange(0, BLOCK_D)
    mask = (offs_h < num_kv_heads)[:, None] & (offs_d < HEAD_DIM)[None, :]
    k = tl.load(k_ptr + token * stride_kt + offs_h[:, None] * stride_kh + offs_d[None, :], mask=mask)
    v = tl.load(v_ptr + token * stride_vt + offs_h[:, None] * stride_vh + offs_d[None, :], mask=mask)
    k_dst = k_cache_ptr + block * stride_kcb + offset * stride_kcs + offs_h[:, None] * stride_kch + offs_d[None, :]
    v_dst = v_cache_ptr + block * stride_vcb + offset * stride_vcs + offs_h[:, None] * stride_vch + offs_d[None, :]
    tl.store(k_dst, k, mask=mask)
    tl.store(v_dst, v, mask=mask)


# ----------------------------------------------------------------------------------------------
# Thin wrappers
# ----------------------------------------------------------------------------------------------


def rms_norm(
    x: torch.Tensor, weight: torch.Tensor, eps: float, residual: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """RMSNorm over the last dim, with vLLM's fused_add_rms_norm semantics; returns (out, new_residual).

    With `residual`: new_residual = x + residual (rounded to x's dtype), out = norm(new_residual) * weight.
    Without: out = norm(x) * weight and new_residual is x itself (what the next layer adds to).
    Neither input is modified. Works on any leading shape, e.g. [tokens, heads, head_dim] for qk-norm.
    """
    hidden = x.shape[-1]
    require(weight.shape == (hidden,), f"weight must be [{hidden}] (x's last dim), got {tuple(weight.shape)}")
    require(residual is None or residual.shape == x.shape,
            f"residual must have x's shape {tuple(x.shape)}, got {None if residual is None else tuple(residual.shape)}")
    rows = x.reshape(-1, hidden)
    if rows.stride(-1) != 1:
        rows = rows.contiguous()
    out = torch.empty_like(rows)
    res_in = None if residual is None else residual.reshape(-1, hidden).contiguous()
    res_out = None if residual is None else torch.empty_like(rows)
    if rows.shape[0] > 0:
        has_res = residual is not None
        _rms_norm_kernel[(rows.shape[0],)](
            rows, res_in if has_res else rows, weight, out, res_out if has_res else out,
            hidden, eps, rows.stride(0), res_in.stride(0) if has_res else 0, out.stride(0),
            res_out.stride(0) if has_res else 0,
            HAS_RESIDUAL=has_res, BLOCK=next_pow2(hidden), num_warps=min(16, max(1, next_pow2(hidden) // 256)),
        )
    out = out.view(x.shape)
    return out, (x if residual is None else res_out.view(x.shape))


@cache
def _inv_freq(head_dim: int, theta: float, device: str) -> torch.Tensor:
    """Neox/HF inverse frequencies theta^(-2i/d), fp32, built once per (head_dim, theta, device)."""
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))


def _as_heads(x: torch.Tensor, head_dim: int, name: str) -> torch.Tensor:
    require(x.shape[-1] % head_dim == 0 and x.dim() in (2, 3),
            f"{name} must be [tokens, heads * head_dim] or [tokens, heads, head_dim] with head_dim {head_dim}, "
            f"got {tuple(x.shape)}")
    view = x.view(x.shape[0], x.shape[1] // head_dim, head_dim) if x.dim() == 2 else x
    require(view.stride(-1) == 1, f"{name}'s last dim must be contiguous")
    return view


def rotary_embedding(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, head_dim: int, theta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Neox-style rotary embedding (rotate the two halves of each head); returns NEW (q, k), inputs untouched.

    positions: [tokens] integer positions; q, k: [tokens, heads * head_dim] or [tokens, heads, head_dim]
    (any head count, e.g. GQA); the outputs keep the input shapes. The whole head_dim is rotated.
    """
    require(head_dim % 2 == 0, f"head_dim must be even for neox rotary, got {head_dim}")
    q3, k3 = _as_heads(q, head_dim, "q"), _as_heads(k, head_dim, "k")
    require(positions.shape == (q.shape[0],) and k.shape[0] == q.shape[0],
            f"positions {tuple(positions.shape)}, q {tuple(q.shape)} and k {tuple(k.shape)} must share tokens")
    q_out, k_out = torch.empty_like(q3), torch.empty_like(k3)
    if q.shape[0] > 0:
        half = head_dim // 2
        _rotary_kernel[(q.shape[0],)](
            positions, _inv_freq(head_dim, float(theta), str(q.device)), q3, k3, q_out, k_out,
            q3.shape[1], k3.shape[1], q3.stride(0), q3.stride(1), k3.stride(0), k3.stride(1),
            q_out.stride(0), q_out.stride(1), k_out.stride(0), k_out.stride(1),
            HALF=half, HALF_P=next_pow2(half), BLOCK_HQ=next_pow2(q3.shape[1]), BLOCK_HK=next_pow2(k3.shape[1]),
            ACCURATE_TRIG=not interpreting(),
        )
    return q_out.view(q.shape), k_out.view(k.shape)


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    """SwiGLU activation: x is [tokens, 2 * I] = [gate | up]; returns silu(gate) * up, [tokens, I]."""
    require(x.dim() == 2 and x.shape[1] % 2 == 0, f"x must be [tokens, 2 * intermediate], got {tuple(x.shape)}")
    require(x.stride(1) == 1, "x's last dim must be contiguous")
    inter = x.shape[1] // 2
    out = torch.empty(x.shape[0], inter, device=x.device, dtype=x.dtype)
    if x.shape[0] > 0:
        block = min(1024, next_pow2(inter))
        _silu_and_mul_kernel[(x.shape[0], triton.cdiv(inter, block))](
            x, out, inter, x.stride(0), out.stride(0), BLOCK=block, num_warps=4
        )
    return out


def _check_kv_write(k, v, k_cache, v_cache, slot_mapping) -> None:
    require(k_cache.dim() == 4 and k_cache.shape == v_cache.shape,
            "k_cache and v_cache must both be [num_blocks, block_size, num_kv_heads, head_dim]")
    kv_shape = (k.shape[0], k_cache.shape[2], k_cache.shape[3])
    require(k.shape == v.shape == kv_shape,
            f"k and v must be [tokens, num_kv_heads, head_dim] = {kv_shape}, got {tuple(k.shape)}, {tuple(v.shape)}")
    require(slot_mapping.shape == (k.shape[0],) and not slot_mapping.is_floating_point(),
            f"slot_mapping must be an integer tensor of [{k.shape[0]}] slots, got {tuple(slot_mapping.shape)}")
    require(k.dtype == v.dtype == k_cache.dtype == v_cache.dtype, "k, v and the caches must share a dtype")


def write_kv_cache(
    k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, slot_mapping: torch.Tensor
) -> None:
    """Scatter new K/V ([tokens, num_kv_heads, head_dim]) into the paged caches IN PLACE.

    slot_mapping[t] = block_id * block_size + offset; tokens with a negative slot are skipped (padding).
    """
    _check_kv_write(k, v, k_cache, v_cache, slot_mapping)
    require(k.stride(-1) == 1 and v.stride(-1) == 1 and k_cache.stride(-1) == 1 and v_cache.stride(-1) == 1,
            "k, v and the caches must be contiguous in head_dim")
    if k.shape[0] == 0:
        return
    num_kv_heads, head_dim = k_cache.shape[2], k_cache.shape[3]
    _write_kv_kernel[(k.shape[0],)](
        k, v, k_cache, v_cache, slot_mapping, num_kv_heads,
        k.stride(0), k.stride(1), v.stride(0), v.stride(1), *k_cache.stride()[:3], *v_cache.stride()[:3],
        HEAD_DIM=head_dim, BLOCK_H=next_pow2(num_kv_heads), BLOCK_D=next_pow2(head_dim),
        BLOCK_SIZE=k_cache.shape[1],
    )


# ----------------------------------------------------------------------------------------------
# Torch references
# ----------------------------------------------------------------------------------------------


def rms_norm_ref(x, weight, eps, residual=None):
    """Reference of `rms_norm`: same rounding points, fp32 math."""
    if residual is not None:
        x = (x.float() + residual.float()).to(x.dtype)
    out = torch.nn.functional.rms_norm(x.float(), (x.shape[-1],), weight.float(), eps)
    return out.to(x.dtype), x


def rotary_embedding_ref(positions, q, k, head_dim, theta):
    """Reference of `rotary_embedding` (neox halves), fp32 math."""
    inv_freq = _inv_freq(head_dim, float(theta), str(q.device))
    angle = positions.float()[:, None] * inv_freq[None, :]
    cos, sin = angle.cos()[:, None, :], angle.sin()[:, None, :]

    def rotate(x):
        x3 = (x.unflatten(-1, (-1, head_dim)) if x.dim() == 2 else x).float()
        x1, x2 = x3.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype).view(x.shape)

    return rotate(q), rotate(k)


def silu_and_mul_ref(x):
    """Reference of `silu_and_mul`."""
    gate, up = x.float().chunk(2, dim=-1)
    return (torch.nn.functional.silu(gate) * up).to(x.dtype)


def write_kv_cache_ref(k, v, k_cache, v_cache, slot_mapping):
    """Reference of `write_kv_cache` (in place), skipping negative slots."""
    keep = slot_mapping >= 0
    slots = slot_mapping[keep].long()
    block_size = k_cache.shape[1]
    k_cache[slots // block_size, slots % block_size] = k[keep]
    v_cache[slots // block_size, slots % block_size] = v[keep]
