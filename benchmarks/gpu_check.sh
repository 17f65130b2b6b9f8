#!/usr/bin/env bash
# The prepared device check (see benchmarks/gpu_check.py for the stages and flags):
#   benchmarks/gpu_check.sh               # on an H100/H200: 8-minute deadline, files into $OUT or ./gpu_check_out
#   benchmarks/gpu_check.sh --dry-run     # the same machinery on a CPU in under a minute
# Needs only what the GPU machines have (Python >= 3.11, torch, triton, numpy, pytest, ...); installs nothing
# over the network. PYTHON picks the interpreter (default python3).
set -euo pipefail
exec "${PYTHON:-python3}" "$(cd "$(dirname "$0")" && pwd)/gpu_check.py" "$@"
