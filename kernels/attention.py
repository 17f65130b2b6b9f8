"""Attention over a paged KV cache, one file per kernel, each with GQA, fp32 accumulation and
fp16/bf16/fp32 inputs:

- `unified_attention` (attention_unified.py): prefill chunks and decode tokens of a mixed batch in
  one launch, after vLLM's unified Triton attention;
- `prefill_attention` (attention_prefill.py): the same kernel with 128-row q-tiles, autotuned;
- `decode_attention` (attention_decode.py): split-KV decode (flash-decoding);
- `paged_attention_ref` (attention_ref.py): the torch reference all three are checked against.

The cache layout they share is described in paged_tiles.py. Checks in tests/kernels, timings in
benchmarks/bench_kernels.py.
"""

from .attention_decode import decode_attention, default_num_splits
from .attention_prefill import prefill_attention
from .attention_ref import paged_attention_ref
from .attention_unified import unified_attention

__all__ = ["decode_attention", "default_num_splits", "paged_attention_ref", "prefill_attention", "unified_attention"]
