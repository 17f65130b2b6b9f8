"""The two contracts the engine loop (simulator.run_engine) is written against: a scheduling policy and an
executor that runs or costs each step. Every policy (mb, eb, ebplus, ...) and executor (simulated, executed)
declares every member, so the loop reads them directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .request import Request
from .state import Batch, SchedulerState


@dataclass(frozen=True)
class ModeDecision:
    """One decision of an online selector (EB+): the estimates it was taken on and the mode it chose."""

    completions: int  # requests finished when it was taken
    occupancy: float  # mean requests in the system over the last decision window
    n: int  # N the thresholds were derived for
    theta: float  # θ* of EB at that N
    delta: float  # the crossover Δ (s/token): > 0 favours EB
    mode: str  # "mb" or "eb"


class Policy(Protocol):
    """Chooses each step's batch from the queues and the KV cache."""

    name: str

    @property
    def switches(self) -> int:
        """Mode changes during the run (0 for a policy with one mode)."""
        ...

    @property
    def decisions(self) -> list[ModeDecision]:
        """What an online selector decided, in order (empty for a policy with one mode)."""
        ...

    def schedule(self, st: SchedulerState) -> Batch:
        """The next step's batch (may preempt); never empty while requests are running or waiting."""
        ...

    def on_finish(self, req: Request, st: SchedulerState) -> None:
        """Called when `req` finishes, before it leaves `st.running`."""
        ...

    def on_step_time(self, batch: Batch, seconds: float) -> None:
        """Called after each step the executor ran (or costed) on its own, with the seconds it took."""
        ...


class Executor(Protocol):
    """Runs (or costs) one step and says how long it took."""

    executed: bool  # the model really ran and step times were measured (else they come from a profile)

    def step(self, batch: Batch, st: SchedulerState) -> float:
        """Seconds the step takes."""
        ...


class OneMode:
    """Base of the policies with one mode (MB, PF, EB): no switches, no online decisions, nothing to do when
    a request finishes or a step's time is known."""

    switches = 0

    @property
    def decisions(self) -> list[ModeDecision]:
        return []

    def on_finish(self, req: Request, st: SchedulerState) -> None:
        pass

    def on_step_time(self, batch: Batch, seconds: float) -> None:
        pass
