"""A request as the scheduler sees it: token counts, progress, and the times the metrics need."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class Request:
    """One request. `num_computed` tokens are in the KV cache; `num_generated` output tokens exist.

    The known tokens are the prompt plus the outputs so far; a step whose chunk brings `num_computed`
    up to all known tokens produces the next output token. A decode is that chunk of one token; after a
    recompute preemption `num_computed` drops to 0 and the known tokens are prefilled again.
    """

    rid: int
    prompt_len: int
    output_len: int
    arrival: float = 0.0
    num_computed: int = 0
    num_generated: int = 0
    admitted_time: float | None = None  # when its first prefill chunk was scheduled (kept across preemptions)
    first_token_time: float | None = None
    finish_time: float | None = None
    preemptions: int = 0

    @property
    def pending(self) -> int:
        """Known tokens not yet in the KV cache (1 for a decoding request)."""
        return self.prompt_len + self.num_generated - self.num_computed

    @property
    def is_decode(self) -> bool:
        """True when the next step for this request is a decode (one token on top of its cached context)."""
        return self.num_generated > 0 and self.num_computed == self.prompt_len + self.num_generated - 1
