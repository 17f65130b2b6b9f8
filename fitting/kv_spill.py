"""Where the decode KV cache spills out of the last-level cache: a physics term from the run header.

A step reads the model's weights and its decodes' KV cache. The timing loop replays the same step, and
a serving engine's consecutive steps share most of both, so whatever of them the last-level cache (L3 on
a CPU, L2 on a GPU) holds is read at cache speed. Beside the weights there is room for
K = max(LLC bytes − weight bytes, 0) / KV bytes per token tokens of KV; past s_d = K (total decode KV
tokens of the step) every further KV token comes from memory at a higher cost. The linear families and
the roofline add t_kv_spill · max(s_d − K, 0) for it (predict.py), K stored beside the coefficient as
`kv_cache_tokens`.

On the 2-core AMD EPYC VM (32 MiB L3, tiny model: 16.8 MB of fp32 weights, 4,096 B of KV per token)
K = 4,096 tokens. The fit takes this K as the centre of a search for the onset (families.fit_spill_onset):
a process's share of a shared cache moves with its neighbours, and the onsets fitted there went from K to
2.4 K. Where the weights alone fill the cache (an 8B
model on any GPU), K = 0 and the term would equal the s_d column already fitted: it is left out.
"""

from __future__ import annotations

from phasecal.kernels.catalog import shape_from_record

from .derive import DTYPE_BYTES


def last_level_cache(device: dict) -> tuple[str, int | None]:
    """(level name, bytes) of the cache a step's working set lives in: L2 on a GPU, L3 (else L2) on a CPU."""
    if device.get("kind") == "cuda":
        return "l2", device.get("l2_bytes")
    if device.get("l3_bytes"):
        return "l3", device.get("l3_bytes")
    return "l2", device.get("l2_bytes")


def kv_spill_derivation(device: dict, model: dict, dtype: str | None) -> dict:
    """K (`kv_cache_tokens`, None where it cannot be derived or is 0) and the numbers it comes from, with a note."""
    level, llc = last_level_cache(device)
    width = DTYPE_BYTES.get(str(dtype).removeprefix("torch."))
    out: dict = {"kv_cache_tokens": None, "cache_level": level, "llc_bytes": llc}
    try:
        shape = shape_from_record(model)
    except (KeyError, TypeError, ValueError):
        shape = None
    if not (isinstance(llc, int) and llc > 0) or shape is None or width is None:
        missing = [what for what, ok in (("the device's cache size", isinstance(llc, int) and llc > 0),
                                         ("the model shape", shape is not None),
                                         (f"the bytes of dtype {dtype!r}", width is not None)) if not ok]
        out["note"] = f"no KV spill term: the run header lacks {' and '.join(missing)}"
        return out
    weights, per_token = shape.num_params() * width, shape.kv_bytes_per_token(width)
    out |= {"weight_bytes": weights, "kv_bytes_per_token": per_token}
    if weights >= llc:
        out["note"] = (f"no KV spill term: the weights ({weights / 2**20:.1f} MiB) fill the {level.upper()} "
                       f"({llc / 2**20:.1f} MiB), so max(s_d − K, 0) = s_d, a column every family already has")
        return out
    out["kv_cache_tokens"] = float((llc - weights) // per_token)
    out["note"] = (f"K = ({level.upper()} {llc / 2**20:.1f} MiB − weights {weights / 2**20:.1f} MiB) / "
                   f"{per_token} B of KV per token = {out['kv_cache_tokens']:.0f} decode KV tokens")
    return out
