#!/usr/bin/env bash
# Usage: tools/misc/device_wheels.sh [OUT_DIR]   (default .whl/, git-ignored)
# The pure-Python packages the device tier (tests/test_device) and
# `tools/benchmarks/train_step.py --task classifier` need on a GPU machine
# that has Python 3.12 and PyTorch with CUDA but no mm package and no
# network: mmengine, mmpretrain, mmcv's Python part (built here from mmcv's
# source without its compiled ops: mmcv.cnn, mmcv.transforms) and their
# small dependencies. Run it where pip reaches PyPI; carry OUT_DIR to the
# GPU machine and run tools/misc/device_tier.sh there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/.whl}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
PYVER="${DEVICE_PYTHON_VERSION:-3.12}"
mkdir -p "$OUT"
PIP=("$PY" -m pip --disable-pip-version-check)
# Pinned as tools/setup_env.sh and setup.py pin them; setuptools < 82 for
# pkg_resources, which mmengine's config loader imports.
"${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform any -d "$OUT" \
    mmengine==0.10.7 mmpretrain==1.2.0 addict termcolor yapf platformdirs \
    'setuptools<82' model-index ordered-set markdown click mat4py \
    importlib-metadata zipp lazy-importer
if ! ls "$OUT"/mmcv_lite-2.1.0-*.whl >/dev/null 2>&1; then
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: \
        mmcv==2.1.0 -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-2.1.0.tar.gz -C "$BUILD"
    # No compiled ops: mmcv names that wheel mmcv-lite (Python files only).
    (cd "$BUILD/mmcv-2.1.0" && MMCV_WITH_OPS=0 "${PIP[@]}" wheel -q --no-deps \
        --no-build-isolation . -w "$OUT" >"$BUILD/build.log" 2>&1) ||
        { cat "$BUILD/build.log" >&2; exit 1; }
fi
ls -1 "$OUT"
