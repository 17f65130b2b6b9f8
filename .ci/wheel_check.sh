#!/usr/bin/env bash
# The wheel as a user gets it, in an environment shaped like the GPU machines'.
#
# Builds the wheel, checks it holds every file of the checkout's package folders, makes a fresh venv
# outside the checkout with the runtime dependencies at the GPU machines' versions where this index has
# them (triton 3.6 and numpy < 2.3, as its interpreter needs; torch 2.13 CPU, since torch 2.11 has only
# multi-GB CUDA builds on PyPI), installs the wheel there with --no-deps, and from a neutral folder runs
# the CLI (--version, run --quick, show, simulate). Then, in the same venv: the sm_90 compile and the
# kernel tests under triton 3.6, and the device check's CPU dry run (benchmarks/gpu_check.sh --dry-run).
# The GPU machines lack jsonschema and its needs, so the venv lacks them too: they come as wheels beside the
# phasecal wheel (benchmarks/carry_wheels.sh, for this interpreter), on PYTHONPATH for the CLI and kernel steps,
# and the dry run installs them itself as the device check does there.
# Usage: .ci/wheel_check.sh [STEP...]  (steps: cli triton36 dryrun; the wheel is always built; default all)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
steps=${*:-cli triton36 dryrun}
start=$SECONDS
say() { printf '\n== wheel check: %s (%ds)\n' "$1" $((SECONDS - start)); }
want() { [[ " $steps " == *" $1 "* ]]; }
# Run a command into a log: its last lines when it passes, all of it when it fails.
quiet() {
    local log=$tmp/$1.log; shift
    "$@" >"$log" 2>&1 || { cat "$log"; echo "wheel check: failed: $*"; exit 1; }
    tail -n 3 "$log"
}

say "build the wheel, fetch the wheels of its needs the GPU machines lack, and check its files"
venv_version=$("${PYTHON:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
quiet carry "$repo/benchmarks/carry_wheels.sh" --python-version "$venv_version" --dest "$tmp/dist"
wheel=$(ls "$tmp"/dist/phasecal-*.whl)
"$repo/.venv/bin/python" "$repo/tests/packaging/wheel_files.py" "$wheel"

say "fresh venv outside the checkout: the GPU machines' packages, then the wheel with --no-deps"
venv=$tmp/venv
"${PYTHON:-python3}" -m venv "$venv"
quiet pip "$venv/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0" "triton==3.6.0" "numpy<2.3" \
    scikit-learn scipy typer rich matplotlib pytest hypothesis attrs  # attrs: on the GPU image, jsonschema needs it
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "$wheel"
if "$venv/bin/python" -c "import jsonschema" 2>/dev/null; then
    echo "wheel check: the venv has jsonschema, unlike the GPU machines"; exit 1
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index --no-deps --target "$tmp/needs" \
    $(ls "$tmp"/dist/*.whl | grep -v /phasecal-)
export PYTHONPATH=$tmp/needs  # the carried needs, for the CLI and kernel steps
"$venv/bin/python" -c 'import torch, triton, numpy; print("venv:", "torch", torch.__version__,
    "triton", triton.__version__, "numpy", numpy.__version__)'

neutral=$tmp/neutral
mkdir -p "$neutral"
cd "$neutral"  # nothing of the checkout is importable from here
if want cli; then
    say "the installed CLI from a neutral folder"
    "$venv/bin/phasecal" --version
    quiet run "$venv/bin/phasecal" run --quick --out "$tmp/out"
    profile=$(ls "$tmp"/out/*/*/profile.json)
    quiet show "$venv/bin/phasecal" show "$profile"
    quiet simulate "$venv/bin/phasecal" simulate -p "$profile" -w "512/128:c=8:n=40" --policy all
    "$venv/bin/python" -m phasecal --version
fi

if want triton36; then
    say "sm_90 compile under triton 3.6 (no TRITON_INTERPRET)"
    quiet sm90 env -u TRITON_INTERPRET "$venv/bin/python" "$repo/tests/kernels/compile_sm90.py"
    say "kernel tests under triton 3.6 (interpreter)"
    quiet kernel_tests "$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/tests/kernels" -m "not slow"
fi

if want dryrun; then
    say "device check, CPU dry run, with the wheel and its carried needs installed by the script itself"
    env -u PYTHONPATH PYTHON="$venv/bin/python" "$repo/benchmarks/gpu_check.sh" --dry-run --wheel "$wheel" \
        --out "$tmp/gpu_check_out"
fi
say "done"
