"""Device check, stage `env`: where phasecal is imported from, the versions, the device, NVML, a CuPy NVRTC build.

    python gpu_check_env.py SITE OUT.json [--dry-run]

Exit 1 when a phasecal module comes from anywhere but SITE (the installed wheel), when a GPU is
expected and missing, or when NVML or the CuPy kernel fails on the GPU. Writes OUT.json in every case.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path

PACKAGES = ("torch", "triton", "cupy-cuda13x", "numpy", "scipy", "scikit-learn", "pytest", "hypothesis",
            "matplotlib", "rich", "typer", "nvidia-ml-py")


def module_origins(site: Path) -> dict:
    """Import every phasecal module; list those whose file is not under site (the accidental imports)."""
    import phasecal

    # __main__ is left out: importing it runs the CLI
    names = [m.name for m in pkgutil.walk_packages(phasecal.__path__, "phasecal.") if m.name != "phasecal.__main__"]
    elsewhere, failed, lacking = {}, {}, {}
    for name in ["phasecal", *names]:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith("phasecal"):  # a package this machine lacks: noted, not fatal
                lacking[name] = e.name
                continue
            failed[name] = f"{type(e).__name__}: {e}"
            continue
        except Exception as e:
            failed[name] = f"{type(e).__name__}: {e}"
            continue
        path = Path(getattr(module, "__file__", "") or "").resolve()
        if not path.is_relative_to(site.resolve()):
            elsewhere[name] = str(path)
    return {"phasecal": str(Path(phasecal.__file__).parent), "modules": len(names) + 1,
            "outside_site": elsewhere, "import_errors": failed, "lacking_packages": lacking}


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def cupy_nvrtc_check() -> dict:
    """Build the CuPy bandwidth kernels with NVRTC and run a copy against torch's."""
    import torch

    from phasecal.kernels import bandwidth_cupy

    start = time.perf_counter()
    a = torch.randn(1 << 22, device="cuda", dtype=torch.bfloat16)
    out = bandwidth_cupy.stream_copy(a)
    torch.cuda.synchronize()
    return {"seconds": round(time.perf_counter() - start, 3), "copy_matches_torch": bool(torch.equal(out, a))}


def gpu_checks() -> dict:
    import torch

    from phasecal.probes.fingerprint import device_fingerprint
    from phasecal.probes.nvml import open_nvml

    device = torch.device("cuda", 0)
    nvml = open_nvml(device)
    found = {"fingerprint": device_fingerprint(device, nvml), "nvml": {"available": nvml.available,
                                                                        "reason": nvml.reason}}
    if nvml.available:
        found["nvml"]["state"] = vars(nvml.state())
    try:
        found["cupy"] = cupy_nvrtc_check()
    except Exception as e:
        found["cupy"] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=3)}
    return found


def problems(report: dict, dry_run: bool) -> list[str]:
    found = [f"{name} imported from {path}, not the installed wheel"
             for name, path in report["origin"]["outside_site"].items()]
    found += [f"{name} failed to import: {err}" for name, err in report["origin"]["import_errors"].items()]
    gpu = report.get("gpu")
    if gpu is None:
        if not dry_run:
            found.append("torch sees no CUDA GPU")
        return found
    if not gpu["nvml"]["available"]:
        found.append(f"NVML unavailable: {gpu['nvml']['reason']}")
    if not gpu["cupy"].get("copy_matches_torch"):
        found.append(f"CuPy NVRTC kernel: {gpu['cupy'].get('error', 'copy differs from its input')}")
    return found


def main(argv: list[str]) -> int:
    site, out, dry_run = Path(argv[0]), Path(argv[1]), "--dry-run" in argv[2:]
    import torch

    report = {"origin": module_origins(site), "versions": versions(), "cuda_available": torch.cuda.is_available(),
              "gpu_count": torch.cuda.device_count()}
    report["gpu"] = gpu_checks() if torch.cuda.is_available() else None
    report["problems"] = problems(report, dry_run)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    fp = (report["gpu"] or {}).get("fingerprint", {})
    origin = report["origin"]
    print(f"phasecal from {origin['phasecal']} ({origin['modules']} modules)")
    for name, package in origin["lacking_packages"].items():
        print(f"note: {name} needs {package}, which this machine lacks")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    print(f"device: {fp.get('name', 'no CUDA GPU')}; NVML and CuPy: "
          f"{'checked' if report['gpu'] else 'skipped: no GPU'}")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
