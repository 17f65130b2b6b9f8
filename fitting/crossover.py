"""The MB/EB crossover vocabulary, defined once: two shares of decode tokens and one load-dependent decision.

- **Decode crossover** (the paper's crossover share, DESIGN.md): every decode share r in [0, 1] where MB's
  marginal cost per token β_MB(r) crosses pure decode's β_d.
- **Blend crossover**: every r where β_MB(r) crosses what the same tokens cost in exclusive steps,
  (1 − r)·β_p + r·β_d. It answers "is mixing this step dearer than splitting it?".
- **Δ(N)** (`thresholds.crossover_delta`): the load-dependent decision EB+ acts on; it adds the per-step
  overheads α, amortised over the refill k̂ and the batch N, to the marginal gap. Δ > 0: EB wins.

Both shares are reported as every crossing with its direction, "mixing costs more above r = …" (β_MB
rises through the reference) or "below r = …" (it falls through it). β_MB and both references are at
most quadratic in r, so the crossings are the real roots of a quadratic: exact, no grid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .record_shape import checked

if TYPE_CHECKING:  # profile.py imports this module (its derived values hold a CrossoverReport)
    from .profile import ExclusiveCosts, MixedCost

PAPER_H200_SHARE = 0.8  # the paper's abstract: MB's per-token cost exceeds pure decode's above ~80% on H200
_TOUCH = 1e-12  # a root where the slope is this small (relative) only touches the reference: no crossing


@dataclass(frozen=True)
class Crossing:
    """β_MB(r) crosses its reference at decode share `share`; `costs_more` says on which side mixing is dearer."""

    share: float
    costs_more: str  # "above" or "below"

    def describe(self) -> str:
        return f"mixing costs more {self.costs_more} r = {self.share:.3f}"


@dataclass(frozen=True)
class ShareCrossover:
    """Where β_MB(r) crosses `reference` on r in [0, 1]; without a crossing, on which side it stays."""

    reference: str  # "pure decode β_d" or "exclusive blend (1−r)β_p + rβ_d"
    crossings: tuple[Crossing, ...]
    everywhere: str | None  # without crossings: "more" or "less" (mixing costs that at every share)

    def describe(self) -> str:
        """One line: every crossing with its direction, or the side β_MB keeps."""
        if self.crossings:
            return "; ".join(c.describe() for c in self.crossings) + f" (against {self.reference})"
        return f"no crossing in [0, 1]: mixing costs {self.everywhere} than {self.reference} at every share"

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ShareCrossover:
        v = checked(ShareCrossover, d, "derived.crossover.*", skip=("crossings",))
        if not isinstance(v["crossings"], list | tuple):
            raise TypeError("derived.crossover.*.crossings must be a list")
        crossings = tuple(Crossing(**checked(Crossing, c, "derived.crossover.*.crossings[]")) for c in v["crossings"])
        if any(not 0 <= c.share <= 1 or c.costs_more not in ("above", "below") for c in crossings) \
                or v["everywhere"] not in (None, "more", "less"):
            raise ValueError("derived.crossover: a crossing outside [0, 1] or a direction other than above/below")
        return ShareCrossover(v["reference"], crossings, v["everywhere"])


DECODE_REFERENCE = "pure decode β_d"
BLEND_REFERENCE = "exclusive blend (1−r)β_p + rβ_d"


def quadratic_crossings(c0: float, c1: float, c2: float, reference: str) -> ShareCrossover:
    """Crossings of g(r) = c0 + c1·r + c2·r² (β_MB minus its reference) through 0 on [0, 1]."""
    scale = max(abs(c0), abs(c1), abs(c2), 1e-300)
    a0, a1, a2 = c0 / scale, c1 / scale, c2 / scale
    if abs(a2) < 1e-12:
        roots = [-a0 / a1] if abs(a1) > _TOUCH else []
    else:
        disc = a1 * a1 - 4 * a2 * a0
        if disc <= 0:
            roots = []  # none, or a double root where g only touches 0
        else:
            q = -0.5 * (a1 + math.copysign(math.sqrt(disc), a1))  # stable form: no cancellation
            roots = sorted({q / a2, a0 / q if q != 0 else -a1 / a2})
    crossings = []
    for r in roots:
        slope = a1 + 2 * a2 * r
        if 0.0 < r < 1.0 and abs(slope) > _TOUCH:  # a root on an end changes sign outside [0, 1]
            crossings.append(Crossing(float(r), "above" if slope > 0 else "below"))
    everywhere = None
    if not crossings:
        ends = [a0 + a1 * r + a2 * r * r for r in (0.0, 0.5, 1.0)]
        everywhere = "more" if max(ends, key=abs) > 0 else "less"  # the side away from a touching root
    return ShareCrossover(reference, tuple(crossings), everywhere)


def decode_crossover(mixed: MixedCost, costs: ExclusiveCosts) -> ShareCrossover:
    """The paper's crossover share: every r where β_MB(r) crosses β_d."""
    return quadratic_crossings(mixed.a - costs.beta_d, mixed.b, mixed.c, DECODE_REFERENCE)


def blend_crossover(mixed: MixedCost, costs: ExclusiveCosts) -> ShareCrossover:
    """Every r where β_MB(r) crosses the exclusive blend (1−r)·β_p + r·β_d."""
    return quadratic_crossings(mixed.a - costs.beta_p, mixed.b + costs.beta_p - costs.beta_d, mixed.c,
                               BLEND_REFERENCE)


def decode_batch_for_share(mixed: MixedCost, costs: ExclusiveCosts, share: float = PAPER_H200_SHARE) -> float | None:
    """The decode batch N at which decode's all-in cost per token, α_d/N + β_d, equals β_MB(`share`).

    β_MB fitted to inverse engine throughput carries every per-step overhead amortised over the step's
    tokens, while β_d is only the slope of exclusive decode steps. Against decode's all-in cost per token
    the crossing moves right as N falls; this is the N that puts it at `share`. None if β_MB(share) ≤ β_d
    (no decode batch makes decode dearer than that).
    """
    gap = mixed.beta_mb(share) - costs.beta_d
    return costs.alpha_d / gap if gap > 0 else None


@dataclass
class CrossoverReport:
    """Both crossover shares of a profile, and how the decode share compares with the paper's ~80% on H200."""

    decode: ShareCrossover
    blend: ShareCrossover
    paper_share: float = PAPER_H200_SHARE
    decode_batch_at_paper_share: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> CrossoverReport:
        v = checked(CrossoverReport, d, "derived.crossover", skip=("decode", "blend", "notes"))
        if not isinstance(v.get("notes", []), list) or not all(isinstance(n, str) for n in v.get("notes", [])):
            raise TypeError("derived.crossover.notes must be a list of strings")
        return CrossoverReport(ShareCrossover.from_dict(d["decode"]), ShareCrossover.from_dict(d["blend"]),
                               v["paper_share"], v["decode_batch_at_paper_share"], list(v.get("notes", [])))


def crossover_report(mixed: MixedCost, costs: ExclusiveCosts, beta_mb_source: str) -> CrossoverReport:
    """Both shares with a note relating the decode share to the paper's ~80% on H200.

    `beta_mb_source` says how β_MB was measured ("step slopes" for phasecal's grid, "engine throughput"
    for the paper's published coefficients): it decides which reading of the ~80% applies.
    """
    decode, blend = decode_crossover(mixed, costs), blend_crossover(mixed, costs)
    n_eq = decode_batch_for_share(mixed, costs)
    notes = [f"decode crossover (the paper's definition, β_MB(r) against β_d): {decode.describe()}",
             f"blend crossover: {blend.describe()}",
             f"the paper reports ~{PAPER_H200_SHARE:.0%} on H200 (Qwen3-8B) for the decode crossover"]
    if beta_mb_source == "engine throughput":
        notes.append("this β_MB was fitted to inverse engine throughput, so it carries every per-step overhead "
                     "(scheduling, sampling, α amortised over the step's tokens) while β_d is the bare slope of "
                     "exclusive decode steps: the two are not like for like, and the crossing lands elsewhere")
    else:
        notes.append("this β_MB is the slope of mixed-step time over token budgets at each share, overheads "
                     "left out (α_MB), like β_d: a like-for-like crossing, not the paper's engine-throughput one")
    if n_eq is not None:
        notes.append(f"against decode's all-in cost per token α_d/N + β_d, β_MB({PAPER_H200_SHARE:.0%}) is reached "
                     f"at a decode batch N ≈ {n_eq:.0f}: at that batch the decode crossover sits at "
                     f"{PAPER_H200_SHARE:.0%}")
    else:
        notes.append(f"β_MB({PAPER_H200_SHARE:.0%}) ≤ β_d: no decode batch puts the decode crossover at "
                     f"{PAPER_H200_SHARE:.0%} on this profile")
    return CrossoverReport(decode, blend, PAPER_H200_SHARE, n_eq, notes)
