#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with torch, mmcv (compiled ops),
# mmengine, mmdet and mmbnn. A second run checks a stamp and returns in seconds.
# Versions and the reasons for them: docs/stack.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMBNN_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
MMDET_VERSION=3.3.0
CACHE_DIR="${MMBNN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmbnn}"

say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# The aarch64 cross compiler and qemu-user: tests/test_ops/test_native_aarch64.py
# builds the native library for ARM and runs its NEON path under qemu
# (about 15 s to install with apt, 150 MB; skipped, saying so, without them).
# Optional: MMBNN_NO_CROSS=1, or no root / no apt-get, leaves them out.
if [ -z "${MMBNN_NO_CROSS:-}" ] && ! { command -v aarch64-linux-gnu-g++ \
        && command -v qemu-aarch64; } >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing g++-aarch64-linux-gnu and qemu-user (the ARM kernel test)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
            -y -qq --no-install-recommends g++-aarch64-linux-gnu \
            libc6-dev-arm64-cross qemu-user; } \
            >/dev/null 2>&1 || say "could not install them: the ARM test will be skipped"
    else
        say "no aarch64 cross compiler / qemu-aarch64: the ARM test will be skipped"
    fi
fi

# The stamp covers everything that decides what gets installed.
STAMP="$VENV/.mmbnn-setup-stamp"
want_stamp="$(cat "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
    && "$PY" -c 'import mmcv.ops, mmdet.models, mmbnn' 2>/dev/null; then
    say "environment up to date ($VENV)"
    exit 0
fi

say "installing build tools (setuptools<82: mmcv and mmengine import pkg_resources)"
"${PIP[@]}" install -q --upgrade pip 'setuptools<82' wheel ninja

if ! "$PY" -c "import torch, torchvision, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    say "installing torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION (about a minute)"
    "${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# mmcv.ops imports mmengine, so it goes in first (it does not need mmcv).
"${PIP[@]}" install -q "mmengine==$MMENGINE_VERSION"

PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
FLAVOUR=cpu
if command -v nvcc >/dev/null 2>&1 && "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    FLAVOUR=cuda
fi
WHEEL_DIR="$CACHE_DIR/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$FLAVOUR"

if ! "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        say "building mmcv $MMCV_VERSION with compiled $FLAVOUR ops: 77 C++ files,"
        say "about 13-25 minutes on 2 cores and 2.8 GB memory; done once, cached in $WHEEL_DIR"
        BUILD="$(mktemp -d)"
        trap 'rm -rf "$BUILD"' EXIT
        "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
        tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
        SRC="$BUILD/mmcv-$MMCV_VERSION"
        # torch >= 2.14 headers need C++20; mmcv's setup.py hard-codes older standards.
        sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        grep -q 'c++20' "$SRC/setup.py" || { say "C++ standard patch did not apply"; exit 1; }
        export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
        [ "$FLAVOUR" = cuda ] && export FORCE_CUDA=1
        start=$(date +%s)
        (cd "$SRC" && "${PIP[@]}" wheel --no-deps --no-build-isolation . -w "$BUILD/dist")
        mkdir -p "$WHEEL_DIR"
        cp "$BUILD"/dist/mmcv-*.whl "$WHEEL_DIR/"
        say "mmcv built in $(( $(date +%s) - start )) s"
    else
        say "using cached mmcv wheel from $WHEEL_DIR"
    fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
    # mmcv's runtime dependencies (the wheel went in with --no-deps).
    "${PIP[@]}" install -q addict packaging Pillow pyyaml yapf opencv-python-headless
fi
"$PY" -c 'import mmcv.ops' || { say "mmcv has no compiled ops; delete $WHEEL_DIR and rerun"; exit 1; }

say "installing mmdet $MMDET_VERSION and mmbnn (editable, with test extras)"
"${PIP[@]}" install -q "mmdet==$MMDET_VERSION" 'pycocotools>=2.0.11'
"${PIP[@]}" install -q --no-build-isolation -e "$ROOT[tests]"
"$PY" -c 'import mmcv.ops, mmdet.models, mmbnn'
echo "$want_stamp" > "$STAMP"
say "environment ready ($VENV)"
