"""What each probe's points measured, typed: one params dataclass per probe kind, and the rates it derives.

A `PointRecord` stores these as plain JSON objects (`params`, and beside the timing's own keys, `extra`);
the probes build them through these classes (`to_dict`) and every reader goes through `from_dict`, which
refuses a malformed object with a message naming the field. Torch-free, so fitting and reports can read
any raw file. Rates are not measured twice: each is computed by the probe from the record's `median_s`
(the measured time) and a count fixed by the params, and the field says which.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


class ParamsError(ValueError):
    """A point's params or rates that do not describe what its probe measures; the message names the field."""


def _field(d: dict, key: str, where: str, kind: str) -> Any:
    """`d[key]` checked against `kind`: int (>= 0, not bool), float (finite), bool, str, or `?`-suffixed optional."""
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if key not in d or d[key] is None:
        if optional:
            return None
        raise ParamsError(f"{where}.{key} is missing")
    v = d[key]
    ok = {"int": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
          "float": isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
          "bool": isinstance(v, bool), "str": isinstance(v, str) and bool(v)}[kind]
    if not ok:
        raise ParamsError(f"{where}.{key} must be {'a non-negative integer' if kind == 'int' else 'a ' + kind}, "
                          f"got {v!r}")
    return float(v) if kind == "float" else v


def _chunks(d: dict, where: str) -> tuple[tuple[int, int], ...]:
    """params.prefill: [[q >= 1 new tokens, c >= 0 cached], ...]."""
    value = d.get("prefill", [])
    if not isinstance(value, list | tuple):
        raise ParamsError(f"{where}.prefill must be a list, got {type(value).__name__}")
    out = []
    for chunk in value:
        if (not isinstance(chunk, list | tuple) or len(chunk) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in chunk) or chunk[0] < 1 or chunk[1] < 0):
            raise ParamsError(f"{where}.prefill entries must be [q >= 1 new tokens, c >= 0 cached], got {chunk!r}")
        out.append((chunk[0], chunk[1]))
    return tuple(out)


def _contexts(d: dict, where: str) -> tuple[int, ...]:
    """params.decode: the KV context of each decode, [ctx >= 1, ...]."""
    value = d.get("decode", [])
    if not isinstance(value, list | tuple) or any(isinstance(c, bool) or not isinstance(c, int) or c < 1
                                                  for c in value):
        raise ParamsError(f"{where}.decode must list decode contexts (integers >= 1), got {value!r}")
    return tuple(value)


def _mixed_fields(d: dict, where: str) -> tuple[int | None, float | None]:
    """(budget, decode_share) of a mixed batch: a positive token budget and a share in [0, 1]."""
    budget, share = _field(d, "budget", where, "int?"), _field(d, "decode_share", where, "float?")
    if budget is not None and budget < 1:
        raise ParamsError(f"{where}.budget must be a positive integer, got {budget!r}")
    if share is not None and not 0 <= share <= 1:
        raise ParamsError(f"{where}.decode_share must be a number in [0, 1], got {share!r}")
    return budget, share


def _one_of(value: str, allowed: tuple[str, ...], key: str, where: str) -> str:
    if value not in allowed:
        raise ParamsError(f"{where}.{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


class _Record:
    """`to_dict` for the dataclasses below: plain JSON (tuples become lists), None fields left out."""

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = [list(x) if isinstance(x, tuple) else x for x in v]
        return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class StepParams(_Record):
    """A whole model step: prefill chunks (q new tokens on c cached ones) and decodes (KV context each)."""

    prefill: tuple[tuple[int, int], ...]
    decode: tuple[int, ...]
    graph: bool  # timed as a CUDA Graph replay, else eager (host input building included)
    grid: str | None = None  # the probe grid it belongs to: prefill, decode or mixed (None: written elsewhere)
    budget: int | None = None  # mixed grid: the token budget B
    decode_share: float | None = None  # mixed grid: decode tokens / B

    @property
    def num_tokens(self) -> int:
        return sum(q for q, _ in self.prefill) + len(self.decode)

    @classmethod
    def from_dict(cls, d: dict, where: str = "params") -> StepParams:
        prefill, decode = _chunks(d, where), _contexts(d, where)
        if not prefill and not decode:
            raise ParamsError(f"{where}: an empty step (no prefill chunk, no decode) measures nothing")
        graph = _field(d, "graph", where, "bool?") or False
        grid = _field(d, "grid", where, "str?")
        if grid is not None:
            _one_of(grid, ("prefill", "decode", "mixed"), "grid", where)
        return cls(prefill, decode, graph, grid, *_mixed_fields(d, where))


@dataclass(frozen=True)
class BandwidthParams(_Record):
    """One BabelStream op of one implementation over a working set, hot or cold cache."""

    impl: str  # triton, cupy or torch
    op: str  # copy, scale, add, triad, read, write
    working_set_bytes: int
    dtype: str
    cold: bool  # cache flushed before every sample

    @classmethod
    def from_dict(cls, d: dict, where: str = "params") -> BandwidthParams:
        return cls(_field(d, "impl", where, "str"),
                   _one_of(_field(d, "op", where, "str"), ("copy", "scale", "add", "triad", "read", "write"),
                           "op", where),
                   _field(d, "working_set_bytes", where, "int"), _field(d, "dtype", where, "str"),
                   _field(d, "cold", where, "bool"))


@dataclass(frozen=True)
class GemmParams(_Record):
    """One linear layer of the model at M tokens: [M, K] @ [K, N]."""

    impl: str  # torch (cuBLAS on a GPU) or triton
    layer: str
    m: int
    n: int
    k: int
    dtype: str

    @property
    def flops(self) -> int:
        return 2 * self.m * self.n * self.k

    @classmethod
    def from_dict(cls, d: dict, where: str = "params") -> GemmParams:
        return cls(_field(d, "impl", where, "str"), _field(d, "layer", where, "str"), _field(d, "m", where, "int"),
                   _field(d, "n", where, "int"), _field(d, "k", where, "int"), _field(d, "dtype", where, "str"))


@dataclass(frozen=True)
class AttentionParams(_Record):
    """One attention call of one layer over a paged KV cache: pure prefill, pure decode or a mixed batch."""

    kind: str  # prefill, decode or mixed
    impl: str
    prefill: tuple[tuple[int, int], ...]
    decode: tuple[int, ...]
    dtype: str
    budget: int | None = None  # mixed: the token budget
    decode_share: float | None = None  # mixed: decode tokens / budget

    @classmethod
    def from_dict(cls, d: dict, where: str = "params") -> AttentionParams:
        kind = _one_of(_field(d, "kind", where, "str"), ("prefill", "decode", "mixed"), "kind", where)
        prefill, decode = _chunks(d, where), _contexts(d, where)
        if not prefill and not decode:
            raise ParamsError(f"{where}: an attention call with no prefill chunk and no decode measures nothing")
        budget, share = _mixed_fields(d, where)
        if kind == "mixed" and share is None:
            raise ParamsError(f"{where}.decode_share is missing (a mixed attention point needs it)")
        return cls(kind, _field(d, "impl", where, "str"), prefill, decode, _field(d, "dtype", where, "str"),
                   budget, share)


@dataclass(frozen=True)
class LaunchParams(_Record):
    """What a launch point times: a CPU op call, a host enqueue, a launch+sync round trip, or a CUDA
    Graph replay of `nodes` launches."""

    impl: str  # triton, cupy or torch
    what: str  # call, enqueue, launch_sync or graph
    nodes: int = 1

    @classmethod
    def from_dict(cls, d: dict, where: str = "params") -> LaunchParams:
        what = _one_of(_field(d, "what", where, "str"), ("call", "enqueue", "launch_sync", "graph"), "what", where)
        nodes = _field(d, "nodes", where, "int")
        if nodes < 1:
            raise ParamsError(f"{where}.nodes must be >= 1, got {nodes}")
        return cls(_field(d, "impl", where, "str"), what, nodes)


@dataclass(frozen=True)
class AllreduceParams(_Record):
    """`reps` back-to-back all-reduces (sum) of one message over `world` ranks, eager or as a CUDA Graph replay."""

    bytes: int  # the message, as nccl-tests' size
    dtype: str
    world: int  # ranks taking part (the TP degree)
    backend: str  # nccl or gloo
    graph: bool
    reps: int = 1  # all-reduces per sample; median_s is per all-reduce

    @classmethod
    def from_dict(cls, d: dict, where: str = "params") -> AllreduceParams:
        nbytes, world, reps = (_field(d, k, where, "int") for k in ("bytes", "world", "reps"))
        if nbytes < 1 or world < 2 or reps < 1:
            raise ParamsError(f"{where}: an all-reduce needs bytes >= 1, world >= 2 and reps >= 1, "
                              f"got {nbytes}, {world}, {reps}")
        return cls(nbytes, _field(d, "dtype", where, "str"), world,
                   _one_of(_field(d, "backend", where, "str"), ("nccl", "gloo"), "backend", where),
                   _field(d, "graph", where, "bool"), reps)


ProbeParams = StepParams | BandwidthParams | GemmParams | AttentionParams | LaunchParams | AllreduceParams
PARAMS: dict[str, type[ProbeParams]] = {"step": StepParams, "bandwidth": BandwidthParams, "gemm": GemmParams,
                                        "attention": AttentionParams, "launch": LaunchParams,
                                        "allreduce": AllreduceParams}


def params_from_dict(probe: str, d: object, where: str = "params") -> ProbeParams:
    """The typed params of a point of `probe` (ParamsError for an unknown probe or a malformed object)."""
    if probe not in PARAMS:
        raise ParamsError(f"{where}: unknown probe {probe!r} (known: {', '.join(PARAMS)})")
    if not isinstance(d, dict):
        raise ParamsError(f"{where}: params must be an object, got {type(d).__name__}")
    return PARAMS[probe].from_dict(d, where)


# -- rates: derived by the probe from the record's median_s (the measured time), stored in `extra` --------


@dataclass(frozen=True)
class StepRates(_Record):
    tokens: int  # new tokens in the step (from the params)
    tokens_per_s: float  # tokens / median_s


@dataclass(frozen=True)
class BandwidthRates(_Record):
    elements: int  # per array (the working set split over the op's arrays, a multiple of 1024)
    bytes_moved: int  # arrays read + written, each once, as BabelStream counts
    gb_s: float  # bytes_moved / median_s / 1e9


@dataclass(frozen=True)
class GemmRates(_Record):
    flops: int  # 2*M*N*K
    tflops: float  # flops / median_s / 1e12
    gb_s: float  # A, W and C once each / median_s / 1e9


@dataclass(frozen=True)
class AttentionRates(_Record):
    prefill_tflops: float | None = None  # 4*heads*head_dim*s_p / median_s / 1e12 (None: no prefill chunk)
    decode_kv_gb_s: float | None = None  # KV bytes the decodes read / median_s / 1e9 (None: no decode)


@dataclass(frozen=True)
class LaunchChecks(_Record):
    graph_holds_work: bool | None = None  # graph points: the captured chain really ran (None: not checked)


@dataclass(frozen=True)
class AllreduceRates(_Record):
    """As nccl-tests reports them: algbw = bytes / median_s; busbw = algbw * 2(n-1)/n (a ring's per-link load)."""

    algbw_gb_s: float
    busbw_gb_s: float

    @classmethod
    def of(cls, nbytes: int, world: int, seconds: float) -> AllreduceRates:
        algbw = nbytes / seconds / 1e9
        return cls(algbw, algbw * 2 * (world - 1) / world)


RATES: dict[str, type] = {"step": StepRates, "bandwidth": BandwidthRates, "gemm": GemmRates,
                          "attention": AttentionRates, "launch": LaunchChecks, "allreduce": AllreduceRates}


def rates_from_dict(probe: str, extra: object, where: str = "extra"):
    """The typed rates of a point of `probe` from its `extra` (the timing's own keys beside them are ignored)."""
    if probe not in RATES:
        raise ParamsError(f"{where}: unknown probe {probe!r} (known: {', '.join(RATES)})")
    if not isinstance(extra, dict):
        raise ParamsError(f"{where}: extra must be an object, got {type(extra).__name__}")
    cls = RATES[probe]
    values = {}
    for f in fields(cls):
        kind = str(f.type).split(" ")[0]
        values[f.name] = _field(extra, f.name, where, kind + ("?" if "None" in str(f.type) else ""))
    return cls(**values)
