"""The profile's derived values as records: one dataclass each, one to_dict/from_dict for the whole.

`Derived` is what a fit (or an import) derives from the step costs: documentation of the families and
features, the exclusive α/β fit's quality, β_MB's fit, marginal costs, the ridge point, both crossover
shares, bootstrap intervals, and the EB decision per workload. Torch-free.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .crossover import CrossoverReport
from .record_shape import check_shape, checked
from .threshold_types import Thresholds

Interval = tuple[float, float]  # (low, high) of a bootstrap percentile interval


@dataclass
class Uncertainty:
    """Bootstrap of the fit: per-point samples resampled, medians retaken, everything refitted.

    `replicas` keeps each resample's fitted numbers (exclusive α/β, β_MB's a, b, c and α_MB, the step
    model's coefficients under `model.<name>`), so thresholds for any workload get intervals later.
    """

    method: str
    resamples: int
    level: float  # e.g. 0.9 for 5th..95th percentiles
    seconds: float  # wall time the bootstrap took
    intervals: dict[str, Interval]
    replicas: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> Uncertainty:
        v = checked(Uncertainty, d, "derived.uncertainty", skip=("replicas",))
        replicas = v.get("replicas", [])
        if not isinstance(replicas, list):
            raise TypeError("derived.uncertainty.replicas must be a list")
        for i, r in enumerate(replicas):
            check_shape(r, "dict[str, float]", f"derived.uncertainty.replicas[{i}]")
        return Uncertainty(v["method"], v["resamples"], v["level"], v["seconds"],
                           {k: (float(x[0]), float(x[1])) for k, x in v["intervals"].items()}, replicas)


@dataclass
class WorkloadDecision:
    """The EB thresholds for one workload, their bootstrap intervals, and the verdict on MB against EB.

    `verdict` is "EB" or "MB" when the interval of Δ(N) lies on one side of 0, "too close to call" when it
    spans 0 (the point estimate's side is then `thresholds.decision`).
    """

    thresholds: Thresholds
    verdict: str
    intervals: dict[str, Interval] = field(default_factory=dict)
    resamples: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> WorkloadDecision:
        v = checked(WorkloadDecision, d, "derived.eb_thresholds[]", skip=("thresholds",))
        th = checked(Thresholds, v["thresholds"], "derived.eb_thresholds[].thresholds", skip=("checks",))
        return WorkloadDecision(Thresholds.from_dict(th), v["verdict"],
                                {k: (float(x[0]), float(x[1])) for k, x in v.get("intervals", {}).items()},
                                v.get("resamples", 0))


@dataclass
class Derived:
    """Values derived from the fitted step costs (see the module docstring); every field optional."""

    chosen_family: str | None = None
    family_docs: dict[str, str] = field(default_factory=dict)
    feature_docs: dict[str, str] = field(default_factory=dict)
    exclusive_fit: dict[str, dict] = field(default_factory=dict)  # per mode: points, R², MAPE %, context range
    graph_fit: dict | None = None  # the chosen family on CUDA-Graph steps: points and k-fold MAPE, or a note
    beta_mb_fit: dict = field(default_factory=dict)  # method, budgets, shares, β(r) points, step-model check
    marginal_cost: dict[str, float] = field(default_factory=dict)
    mixed_heldout: dict | None = None  # the chosen family on mixed steps, each decode share left out in turn
    ridge_point: dict | None = None
    kv_spill: dict | None = None  # K of the KV spill term and the cache, weight and KV sizes it comes from, or why none
    kv_capacity_tokens: int | None = None
    crossover: CrossoverReport | None = None
    uncertainty: Uncertainty | None = None
    eb_thresholds: dict[str, WorkloadDecision] = field(default_factory=dict)
    tensor_parallel: dict | None = None  # a --tp run: degree, interconnect, comm term beside the all-reduce probe
    tensor_parallel: dict | None = None  # a --tp run: degree, interconnect, comm term beside the all-reduce probe

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> Derived:
        """Rebuild from `to_dict`'s output; KeyError/TypeError/ValueError on a malformed entry."""
        known = {f.name for f in fields(Derived)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise KeyError(f"{unknown[0]} (not a derived value this phasecal knows)")
        # kv_capacity_tokens: profile_meaning checks its range; the records below check their own fields
        values = checked(Derived, d, "derived",
                         skip=("kv_capacity_tokens", "crossover", "uncertainty", "eb_thresholds"))
        if not isinstance(d.get("eb_thresholds", {}), dict):
            raise TypeError("derived.eb_thresholds must be an object")
        values["crossover"] = CrossoverReport.from_dict(d["crossover"]) if d.get("crossover") else None
        values["uncertainty"] = Uncertainty.from_dict(d["uncertainty"]) if d.get("uncertainty") else None
        values["eb_thresholds"] = {k: WorkloadDecision.from_dict(v) for k, v in d.get("eb_thresholds", {}).items()}
        return Derived(**values)
