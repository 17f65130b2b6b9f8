#!/usr/bin/env bash
# Set up phasecal in ./.venv (idempotent): torch, triton and the package with its test and report extras.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # Pinned so pip takes the CPU build this workplace keeps on disk instead of a multi-GB CUDA build;
    # on other machines PyPI's build of the same release runs on CPU and GPU alike.
    echo "setup: installing torch"
    pip install "torch==2.13.0"
fi
echo "setup: installing phasecal and its test/report extras"
pip install -e ".[dev,reports]"
echo "setup: done ($(.venv/bin/python -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)'))"
