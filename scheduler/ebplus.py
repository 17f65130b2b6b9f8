"""EB+: the online selector. Starts in MB; every M completions it re-estimates the workload over a
window, recomputes θ, N̂, k̂ and the crossover Δ, and switches MB→EB when Δ > δ, EB→MB when Δ < −3δ."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..fitting.profile import Profile
from ..fitting.threshold_types import WorkloadStats
from ..fitting.thresholds import derive_thresholds
from .eb import ExclusiveBatching
from .mb import MixedBatching
from .protocols import ModeDecision
from .request import Request
from .state import Batch, SchedulerState


@dataclass
class SelectorSettings:
    """The authors' M = 100 and window 500; δ relative to β_EB; cooldown and low-occupancy floor in requests."""

    every: int = 100  # M: completions between decisions
    window: int = 500  # completions the estimates are taken over
    delta_rel: float = 0.05  # δ = delta_rel · β_EB (s/token)
    cooldown: int = 200  # completions after a switch with no new decision
    min_occupancy: float = 16.0  # mean requests in the system below which no decision is taken
    eps: float = 0.01


class EBPlus:
    """MB or EB, chosen online from the crossover; `switches` counts mode changes, `decisions` logs them."""

    name = "ebplus"

    def __init__(self, profile: Profile, settings: SelectorSettings | None = None):
        self.profile = profile
        self.settings = settings or SelectorSettings()
        self.mb = MixedBatching()
        self.eb: ExclusiveBatching | None = None  # made at the first decision, from the thresholds it derives
        self.mode = "mb"
        self.switches = 0
        self.decisions: list[ModeDecision] = []
        self._lengths: deque[tuple[int, int]] = deque(maxlen=self.settings.window)
        self._occupancy: deque[int] = deque(maxlen=self.settings.every)
        self._completions = 0
        self._last_switch: int | None = None  # completions at the last switch (None: never switched)

    def schedule(self, st: SchedulerState) -> Batch:
        if self.mode == "eb":
            assert self.eb is not None  # made by the decision that switched to EB
            return self.eb.schedule(st)
        return self.mb.schedule(st)

    def on_finish(self, req: Request, st: SchedulerState) -> None:
        self._lengths.append((req.prompt_len, req.output_len))
        self._occupancy.append(len(st.running) + len(st.waiting))  # running still holds the finished one
        self._completions += 1
        if self._completions % self.settings.every == 0:
            self._decide(st)

    def on_step_time(self, batch: Batch, seconds: float) -> None:
        pass  # the selector decides on completions and the profile, not on step times

    def _decide(self, st: SchedulerState) -> None:
        s = self.settings
        if self._last_switch is not None and self._completions - self._last_switch < s.cooldown:
            return
        occupancy = sum(self._occupancy) / len(self._occupancy)
        if occupancy < s.min_occupancy or self.profile.mixed is None:
            return
        outs = tuple(o for _, o in self._lengths)
        stats = WorkloadStats(
            mu_l=sum(p for p, _ in self._lengths) / len(self._lengths), mu_o=sum(outs) / len(outs),
            max_num_seqs=st.config.max_num_seqs, kv_capacity_tokens=st.config.kv_capacity_tokens, eps=s.eps,
            concurrency=max(1, round(occupancy)), output_lengths=outs,
        )
        th = derive_thresholds(self.profile, stats, exact_k=False)
        n_slots = max(1, min(th.n_star_clt, st.config.max_num_seqs))
        if self.eb is None:
            self.eb = ExclusiveBatching(th.theta_star, n_slots)
        else:
            self.eb.set_thresholds(th.theta_star, n_slots)
        delta = s.delta_rel * th.beta_eb
        new = self.mode
        if self.mode == "mb" and th.crossover_delta > delta:
            new = "eb"
        elif self.mode == "eb" and th.crossover_delta < -3 * delta:
            new = "mb"
        self.decisions.append(ModeDecision(self._completions, occupancy, th.n, th.theta_star, th.crossover_delta, new))
        if new != self.mode:
            self.mode = new
            self.switches += 1
            self._last_switch = self._completions
            if new == "eb":
                self.eb.enter(st)
