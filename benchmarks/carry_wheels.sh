#!/usr/bin/env bash
# Fill a folder (default .whl/, ignored by git: carry it to the GPU machine) with what the device check installs
# there without a network: the phasecal wheel, and wheels of the runtime needs the GPU image lacks (jsonschema,
# jsonschema-specifications, referencing, rpds-py; attrs and typing-extensions are on it), at the versions of
# this checkout's .venv. rpds-py is compiled: its wheel is for one CPython (3.12 there) on manylinux x86-64.
#   benchmarks/carry_wheels.sh                                  # for the GPU machines (CPython 3.12)
#   benchmarks/carry_wheels.sh --python-version 3.11 --dest DIR  # for another interpreter (CI's dry run)
# PYTHON picks the interpreter whose pip and versions are used (default .venv/bin/python).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
version=3.12
dest=$repo/.whl
while [ $# -gt 0 ]; do
    case $1 in
        --python-version) version=${2:?--python-version needs X.Y}; shift 2 ;;
        --dest) dest=${2:?--dest needs a folder}; shift 2 ;;
        *) echo "carry_wheels: unknown argument '$1' (known: --python-version X.Y, --dest DIR)" >&2; exit 2 ;;
    esac
done
PY=${PYTHON:-$repo/.venv/bin/python}
needs=(jsonschema jsonschema-specifications referencing rpds-py)
pins=$("$PY" -c 'import sys, importlib.metadata as m; print(" ".join(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' \
    "${needs[@]}")
mkdir -p "$dest"
# one version of each in the folder: two of one package stop the install there
rm -f "$dest"/phasecal-*.whl "$dest"/jsonschema-*.whl "$dest"/jsonschema_specifications-*.whl \
    "$dest"/referencing-*.whl "$dest"/rpds_py-*.whl
"$PY" -m pip wheel --no-deps -q --disable-pip-version-check -w "$dest" "$repo"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
# shellcheck disable=SC2086  # $pins is a list of name==version
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp "${platforms[@]}" -d "$dest" $pins
echo "carry_wheels: $dest holds $(cd "$dest" && ls ./*.whl | xargs -n1 basename | tr '\n' ' ')"
