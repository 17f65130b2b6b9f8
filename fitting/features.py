"""Features of one step, from its batch composition (torch-free; shared by fitting and the simulator)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass

from phasecal.kernels.decode_grouping import decode_padding

FEATURE_DOCS = {
    "n_p": "prefill tokens in the step (new tokens of all prefill chunks)",
    "n_d": "decode tokens in the step (one per decoding sequence)",
    "s_p": "prefill attention work: sum over chunks of q*(c + (q+1)/2), q new on top of c cached tokens",
    "s_d": "decode KV tokens read: sum of the decode contexts",
    "n_seq": "sequences in the step (prefill chunks + decodes)",
    "d_pad": "decode keys read past the decodes' own contexts where an attention pads decodes of similar context "
             "into one call (the torch attention's grouping, kernels/decode_grouping.py); 0 at equal contexts",
    "p_mask": "prefill attention scores past the causal diagonal: sum over chunks of q*(q-1)/2, what an attention "
              "computes and then masks when it does not skip them (the torch attention's boolean mask); s_p "
              "counts only the kept ones",
}
FEATURE_NAMES = tuple(FEATURE_DOCS)
# features a profile's stored points always carry; profiles fitted before d_pad and p_mask lack them (read as 0)
REQUIRED_FEATURES = FEATURE_NAMES[:5]


@dataclass(frozen=True)
class StepFeatures:
    """What a step's cost is modelled from. `graph` says whether it ran as a CUDA Graph replay."""

    n_p: float
    n_d: float
    s_p: float
    s_d: float
    n_seq: float
    d_pad: float = 0.0
    p_mask: float = 0.0
    graph: bool = False

    def vector(self) -> tuple[float, ...]:
        return astuple(self)[: len(FEATURE_NAMES)]


def step_features(prefill: Iterable[Sequence[int]], decode: Iterable[int], graph: bool = False) -> StepFeatures:
    """Features of a step holding prefill chunks (q new, c cached) and decodes (context lengths)."""
    n_p = s_p = p_mask = n_chunks = 0
    for q, c in prefill:
        n_p += q
        s_p += q * (c + (q + 1) / 2)
        p_mask += q * (q - 1) / 2
        n_chunks += 1
    decode = list(decode)
    return StepFeatures(float(n_p), float(len(decode)), float(s_p), float(sum(decode)),
                        float(n_chunks + len(decode)), float(decode_padding(decode)), float(p_mask), graph)
