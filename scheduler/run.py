"""Public entry points: build policies from a profile and a workload, simulate (and optionally execute) them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..fitting.bootstrap import decide
from ..fitting.derived_values import WorkloadDecision
from ..fitting.profile import Profile
from ..fitting.threshold_types import Thresholds, WorkloadStats
from .admission import admit_execution, admit_simulation
from .capacity import Capacity, at_load, mb_capacity, offered_load
from .eb import ExclusiveBatching
from .ebplus import EBPlus, SelectorSettings
from .fair import FairBatching, held_out_error
from .mb import MixedBatching, PrefillFirst
from .metrics import SLO, ErrorBand, PolicySummary, summarize
from .schedule_doc import WorkloadInfo
from .simulator import EngineResult, SimulatedExecutor, run_engine
from .state import EngineConfig
from .workload_spec import workload_from_spec
from .workloads import Workload

POLICIES = ("mb", "pf", "eb", "ebplus", "fair")
EXECUTED_KV_TOKENS = 65536  # default KV cache of an executed run when the config gives none (memory is real there)


def workload_stats(workload: Workload, config: EngineConfig, eps: float = 0.01) -> WorkloadStats:
    """The threshold inputs of a workload known in advance: its mean lengths and output-length sample."""
    conc = max(workload.concurrency) if workload.concurrency is not None else None
    return WorkloadStats(mu_l=workload.mean_prompt, mu_o=workload.mean_output, max_num_seqs=config.max_num_seqs,
                         kv_capacity_tokens=config.kv_capacity_tokens, eps=eps, concurrency=conc,
                         output_lengths=tuple(workload.output_lens[:20000]))


def make_policy(name: str, profile: Profile, thresholds: Thresholds, selector: SelectorSettings | None = None,
                slo: SLO | None = None, decode_graph: bool = False):
    """A fresh policy object. EB takes θ* and N from `thresholds` (derived offline from the workload); fair
    plans its steps against `slo` (default SLO()) with the profile's step model."""
    if name == "mb":
        return MixedBatching()
    if name == "pf":
        return PrefillFirst()
    if name == "eb":
        return ExclusiveBatching(thresholds.theta_star, thresholds.n)
    if name == "ebplus":
        return EBPlus(profile, selector)
    if name == "fair":
        slo = slo or SLO()
        return FairBatching(profile, slo.ttft_s, slo.tpot_s, decode_graph=decode_graph)
    raise ValueError(f"unknown policy {name!r}: choose from {', '.join(POLICIES)} (or 'all')")


def parse_policies(spec: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """'all', 'mb,eb' or a sequence of names -> validated tuple."""
    names = POLICIES if spec == "all" else tuple(spec.split(",")) if isinstance(spec, str) else tuple(spec)
    for n in names:
        if n not in POLICIES:
            raise ValueError(f"unknown policy {n!r}: choose from {', '.join(POLICIES)} or 'all'")
    return names


@dataclass
class PolicyRun:
    """One policy's simulated run, and its executed run when asked for (with the throughput gap)."""

    simulated: PolicySummary
    simulated_result: EngineResult
    executed: PolicySummary | None = None
    executed_result: EngineResult | None = None

    @property
    def throughput_gap(self) -> float | None:
        """(executed − simulated) / simulated throughput; None when not executed."""
        if self.executed is None:
            return None
        return self.executed.throughput_tok_s / self.simulated.throughput_tok_s - 1


@dataclass
class SimulationReport:
    """Each policy's run on one workload, with the engine limits, the EB decision (thresholds, bootstrap
    intervals, verdict), MB's capacity on the workload and the load it offered (ρ; None for a closed loop)."""

    workload: str
    workload_info: WorkloadInfo
    config: EngineConfig
    decision: WorkloadDecision
    capacity: Capacity
    offered_load: float | None
    runs: dict[str, PolicyRun] = field(default_factory=dict)
    error_band: ErrorBand | None = None  # each policy with every step slower/faster by the held-out error

    @property
    def thresholds(self) -> Thresholds:
        return self.decision.thresholds

    def summaries(self) -> list[PolicySummary]:
        return [r.simulated for r in self.runs.values()]


def apply_load(profile: Profile, workload: Workload, config: EngineConfig) -> tuple[Workload, Capacity]:
    """MB's capacity on `workload` under `profile` and the resolved `config`, and the workload time-scaled
    to the load its spec asked for (`Workload.load`), or unchanged when it asked for none."""
    capacity = mb_capacity(profile, workload, config)
    if workload.load is not None:
        workload = at_load(workload, workload.load, capacity)
    return workload, capacity


def simulate(profile: Profile, workload: Workload | str, policies=("mb", "eb"), *, execute: bool = False,
             config: EngineConfig | None = None, seed: int = 0, slo: SLO | None = None,
             selector: SelectorSettings | None = None, fast_forward: bool = True,
             device: str | None = None, error_band: bool = False) -> SimulationReport:
    """Simulate each policy on `workload` (a Workload or a spec such as 'balanced:c=512'); with `execute`,
    also run the synthetic model of `profile.model['name']` for real on `device` (default: cuda if
    available, else cpu) under the same policy code and report the throughput gap; with `error_band`, also
    simulate each policy with every step slower and faster by the step model's held-out error."""
    band_error = held_out_error(profile) if error_band else None
    if error_band and not (band_error and 0 < band_error < 1):  # NaN fails too
        raise ValueError("the profile's step model has no held-out error (k-fold MAPE, below 100%) to band the "
                         "simulation with; refit it with `phasecal fit` or drop --error-band")
    spec = workload if isinstance(workload, str) else None
    if spec is not None:
        workload = workload_from_spec(spec, seed=seed)
    names = parse_policies(policies)
    config = config or EngineConfig()
    if execute and config.kv_capacity_tokens is None:
        config = EngineConfig(config.max_num_seqs, config.token_budget, config.block_size, EXECUTED_KV_TOKENS,
                              config.decode_graph)
    config = config.resolved(profile)
    admit_simulation(config, workload)
    if execute:
        admit_execution(profile, config, device)
    workload, capacity = apply_load(profile, workload, config)
    decision = decide(profile, workload_stats(workload, config))
    th = decision.thresholds
    report = SimulationReport(workload.name, WorkloadInfo.of(workload, spec), config, decision, capacity,
                              offered_load(workload, capacity))
    if band_error:
        report.error_band = ErrorBand(band_error, [], [])

    def simulated(name: str, level: float = 1.0) -> EngineResult:
        return run_engine(make_policy(name, profile, th, selector, slo, config.decode_graph),
                          SimulatedExecutor(profile, config.decode_graph, level), workload, config,
                          fast_forward=fast_forward)

    for name in names:
        res = simulated(name)
        run = PolicyRun(summarize(res, workload.name, slo), res)
        if report.error_band is not None:
            report.error_band.slower.append(summarize(simulated(name, 1 + band_error), workload.name, slo))
            report.error_band.faster.append(summarize(simulated(name, 1 - band_error), workload.name, slo))
        if execute:
            from .executed import ExecutedExecutor  # torch only on this path

            ex = ExecutedExecutor(profile, config, device=device, seed=seed)
            eres = run_engine(make_policy(name, profile, th, selector, slo, config.decode_graph), ex, workload, config)
            run.executed, run.executed_result = summarize(eres, workload.name, slo), eres
        report.runs[name] = run
    return report


def compare_policies(profile: Profile, workload: Workload | str = "azure_conv", policies=("mb", "eb"),
                     seed: int = 0, config: EngineConfig | None = None) -> list[PolicySummary]:
    """Simulated summaries of `policies` on one workload (default: the bundled Azure conversation trace).

    For `phasecal run`: quick on one core (the whole Azure trace takes about 2-3 s of CPU per policy on
    the 2-core dev machine). `workload` is a Workload or a spec string (see workloads.workload_from_spec).
    """
    return simulate(profile, workload, policies, seed=seed, config=config).summaries()
