"""Workload specs, the short strings of `-w`: `azure_conv:load=0.8`, `balanced:c=512:n=4000`, `my_trace.csv:n=500`.

Each kind of workload takes only the options that mean something for it; any other option is an error
naming the ones it takes, never silently ignored. `:load=ρ` is resolved later by the runner, which knows
the device's capacity (scheduler/capacity.py): the spec only records it on the workload.
"""

from __future__ import annotations

import math
import re

from .trace import bundled_trace_path, load_trace
from .workloads import PAPER_WORKLOADS, Workload, concurrency_shift, distribution_shift, synthetic

MAX_REQUESTS = 1_000_000  # a workload the simulator builds in seconds and holds in well under 1 GiB
MAX_CONCURRENCY = 1_000_000
MAX_TOKENS = 10_000_000  # mean prompt or output length of a synthetic request
MAX_LOAD = 1000.0

# the options each kind of workload takes, with what they mean (for the error message)
TRACE_OPTIONS = {"n": "first N requests", "load": "time-scale the arrivals to offered load ρ"}
SYNTHETIC_OPTIONS = {"c": "closed loop at concurrency C", "rate": "Poisson arrivals at R req/s",
                     "load": "Poisson arrivals at offered load ρ of the device's capacity",
                     "n": "number of requests", "jitter": "uniform ±J length jitter"}
SHIFT_DIST_OPTIONS = {"c": "concurrency", "n": "requests per phase", "jitter": "uniform ±J length jitter"}
SHIFT_CONC_OPTIONS = {"n": "requests per phase", "jitter": "uniform ±J length jitter"}

SPEC_HELP = ("a workload is azure_conv or a trace file PATH.csv (options :n=, :load=), decode_heavy|balanced|"
             "prefill_heavy or L/O such as 512/512 (one of :c=CONC, :rate=REQ_PER_S, :load=RHO; and :n=, "
             ":jitter=), shift_dist[:c=,:n=] or shift_conc[:n=]")


def _spec_number(spec: str, kv: dict[str, str], key: str, kind: type, lo: float, hi: float,
                 lo_open: bool = False, hi_open: bool = False):
    """Option `key` of a workload spec as a finite `kind` in [lo, hi] (bounds open where asked); None if absent."""
    if key not in kv:
        return None
    text = kv[key]
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"workload {spec!r}: {key}={text!r} is not {'an integer' if kind is int else 'a number'}; "
                         f"{SPEC_HELP}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"workload {spec!r}: {key}={text} must be a finite number")
    if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
        raise ValueError(f"workload {spec!r}: {key}={text} is out of range: it must be in "
                         f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}")
    return value


def _options(spec: str, opts: list[str]) -> dict[str, str]:
    kv: dict[str, str] = {}
    for o in opts:
        if "=" not in o:
            raise ValueError(f"workload {spec!r}: option {o!r} is not key=value; {SPEC_HELP}")
        k, v = o.split("=", 1)
        if k.strip() in kv:
            raise ValueError(f"workload {spec!r}: option {k.strip()}= given twice")
        kv[k.strip()] = v.strip()
    return kv


def _check_applies(spec: str, kind: str, kv: dict[str, str], allowed: dict[str, str]) -> None:
    """Refuse options that mean nothing for this kind of workload, naming the ones it takes."""
    wrong = sorted(set(kv) - set(allowed))
    if wrong:
        takes = ", ".join(f":{k}= ({what})" for k, what in allowed.items())
        raise ValueError(f"workload {spec!r}: {', '.join(f':{k}=' for k in wrong)} does not apply to {kind}; "
                         f"it takes {takes}")


def is_trace_file(head: str) -> bool:
    """A spec head names a trace file when it ends in .csv (anything else is a built-in workload)."""
    return head.lower().endswith(".csv")


def workload_from_spec(spec: str, seed: int = 0) -> Workload:
    """Build a workload from a short spec, e.g. `balanced:c=512:n=4000`, `128/1024:load=0.8`, `trace.csv:n=100`.

    Every number is checked (finite, in range) before anything is built, and every option must apply to
    the workload: ValueError naming the option otherwise. `:load=` is left on `Workload.load` for the runner.
    """
    head, *opts = spec.strip().split(":")
    kv = _options(spec, opts)
    n = _spec_number(spec, kv, "n", int, 1, MAX_REQUESTS)
    c = _spec_number(spec, kv, "c", int, 1, MAX_CONCURRENCY)
    rate = _spec_number(spec, kv, "rate", float, 0, 1e12, lo_open=True)
    load = _spec_number(spec, kv, "load", float, 0, MAX_LOAD, lo_open=True)
    jitter = _spec_number(spec, kv, "jitter", float, 0, 1, hi_open=True)
    jitter = 0.5 if jitter is None else jitter
    if head == "azure_conv" or is_trace_file(head):
        _check_applies(spec, "a trace", kv, TRACE_OPTIONS)
        path = bundled_trace_path(head) if head == "azure_conv" else head
        arrivals, prompts, outputs = load_trace(path)
        name = head if head == "azure_conv" else head.replace("\\", "/").rsplit("/", 1)[-1]
        name += "" if load is None else f" load={load:g}"
        w = Workload(name, prompts[:n], outputs[:n], arrivals=arrivals[:n])
    elif head == "shift_dist":
        _check_applies(spec, "shift_dist", kv, SHIFT_DIST_OPTIONS)
        per = n or 2000
        w = distribution_shift([(1024, 128, per), (512, 512, per), (128, 1024, per)], c or 512,
                               jitter=jitter, seed=seed)
    elif head == "shift_conc":
        _check_applies(spec, "shift_conc", kv, SHIFT_CONC_OPTIONS)
        per = n or 1000
        w = concurrency_shift(512, 256, [(32, per), (512, per), (1024, per), (256, per), (2048, per)],
                              jitter=jitter, seed=seed)
    else:
        _check_applies(spec, "a synthetic workload", kv, SYNTHETIC_OPTIONS)
        w = _synthetic_from_spec(spec, head, n, c, rate, load, jitter, seed)
    w.load = load
    return w


def _synthetic_from_spec(spec: str, head: str, n: int | None, c: int | None, rate: float | None,
                         load: float | None, jitter: float, seed: int) -> Workload:
    if sum(x is not None for x in (c, rate, load)) > 1:
        raise ValueError(f"workload {spec!r}: give one of c= (closed loop), rate= or load= (open loop), not several")
    if head in PAPER_WORKLOADS:
        mu_l, mu_o = PAPER_WORKLOADS[head]
    elif re.fullmatch(r"\d+(\.\d+)?/\d+(\.\d+)?", head):
        mu_l, mu_o = (float(x) for x in head.split("/"))
        if not (1 <= mu_l <= MAX_TOKENS and 1 <= mu_o <= MAX_TOKENS):
            raise ValueError(f"workload {spec!r}: mean prompt and output lengths must be in [1, {MAX_TOKENS:,}] "
                             "tokens")
    else:
        raise ValueError(f"unknown workload {head!r}; {SPEC_HELP}")
    if load is not None:
        rate = 1.0  # unit-rate Poisson arrivals; the runner time-scales them to the load
    elif c is None and rate is None:
        c = 256
    w = synthetic(mu_l, mu_o, n or 2000, concurrency=c, rate=rate, jitter=jitter, seed=seed)
    if load is not None:
        w.name = w.family = f"{mu_l:g}/{mu_o:g} load={load:g}"
    if head in PAPER_WORKLOADS:
        w.name, w.family = f"{head} ({w.name})", head
    return w
