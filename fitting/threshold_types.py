"""What the EB threshold math takes (WorkloadStats) and gives (Thresholds, with its range checks), as records.

Torch-free plain dataclasses with one to_dict/from_dict each, so a profile can store them and a reader
rebuild them without re-parsing by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .record_shape import checked


@dataclass(frozen=True)
class WorkloadStats:
    """What the thresholds depend on besides the device: lengths, slots, KV capacity, OOM tolerance.

    `output_lengths` (observed) switch on the hazard fit; without them outputs are taken as geometric
    (p₀ = 1/μ_O, η = 0). `concurrency`, when given, caps N (a closed loop of c requests never fills
    more slots).
    """

    mu_l: float
    mu_o: float
    max_num_seqs: int
    kv_capacity_tokens: float
    eps: float = 0.01
    concurrency: int | None = None
    output_lengths: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RangeCheck:
    """Whether one formula's assumption holds here: `value` of the quantity it bounds, `note` what follows."""

    name: str
    holds: bool
    value: float
    note: str


@dataclass(frozen=True)
class Thresholds:
    """Everything `derive_thresholds` computed, with the inputs it used (for logs and reports)."""

    # inputs
    alpha_p: float
    beta_p: float
    alpha_d: float
    beta_d: float
    cost_source: str  # where α/β came from: the step model at the operating point, or the exclusive fit
    exclusive_fit: dict[str, float]  # R² and MAPE % of the phase-affine exclusive fit, shown beside α/β
    beta_mb_coeffs: tuple[float, float, float] | None
    alpha_mb: float
    alpha_mb_source: str
    mu_l: float
    mu_o: float
    p0: float
    eta: float
    eta_fitted: float | None  # the hazard slope before clamping (None: no fit)
    hazard_method: str
    kv_capacity_tokens: float
    eps: float
    max_num_seqs: int
    concurrency: int | None
    # outputs
    rhs_x: float  # p₀·α_p/α_d
    theta0: float
    delta_theta: float
    theta_star: float  # θ₀ + Δθ clipped to THETA_CLIP: what EB uses
    n_star_closed: int
    n_star_clt: int
    n_star_form: str  # which form N̂ used
    n: int  # N used for k̂ and the crossover: min(N̂*, max_num_seqs, concurrency)
    k_hat: int  # round(θ*·N), what EB uses
    k_hat0: float  # θ₀·N (real-valued), what the crossover uses
    k_exact: int | None  # exact k* for geometric outputs (β_d included); see checks: EB never uses it
    r: float
    beta_eb: float
    beta_mb: float | None
    crossover_lhs: float | None
    crossover_rhs: float | None
    crossover_delta: float | None  # Δ(N) < 0: MB wins
    decision: str  # "MB", "EB", or "EB (no β_MB in profile)"
    checks: tuple[RangeCheck, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> Thresholds:
        """Rebuild from `to_dict`'s output; KeyError naming the first missing field."""
        names = [f.name for f in fields(Thresholds)]
        missing = [n for n in names if n not in d and n != "checks"]
        if missing:
            raise KeyError(missing[0])
        values = {n: d[n] for n in names if n in d}
        if values.get("beta_mb_coeffs") is not None:
            values["beta_mb_coeffs"] = tuple(values["beta_mb_coeffs"])
        if not isinstance(d.get("checks", []), list | tuple):
            raise TypeError("thresholds.checks must be a list")
        values["checks"] = tuple(RangeCheck(**checked(RangeCheck, c, "thresholds.checks[]"))
                                 for c in d.get("checks", ()))
        return Thresholds(**values)
