#!/usr/bin/env bash
# Usage: bash tools/misc/device_tier.sh [OUT_DIR]   (default work_dirs/device_tier)
# The device tier (tests/test_device: every case on the CPU and on CUDA)
# and the GPU training-step benchmark, on a GPU machine with Python and
# PyTorch (CUDA) but no mm package: the wheels from
# tools/misc/device_wheels.sh (in .whl/ of this checkout) are installed
# into a folder of their own (DEVICE_SITE, default /tmp/mmbnn-site) on
# PYTHONPATH; nothing is downloaded and the machine's own packages are left
# alone. mmbnn runs from this checkout; its native CPU library is built on
# first use. The tier's log, a JUnit XML and the benchmark's output go to
# OUT_DIR; the exit status is the tier's.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/work_dirs/device_tier}"
SITE="${DEVICE_SITE:-/tmp/mmbnn-site}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
cd "$ROOT"
if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "no wheels in $ROOT/.whl: run tools/misc/device_wheels.sh where pip reaches PyPI" >&2
    exit 2
fi
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" .whl/*.whl || exit 2
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null
"$PY" - <<'PYEOF'
import torch, mmengine, mmcv, mmpretrain
print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), '
      f'{torch.cuda.device_count()} GPU(s): '
      f'{[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}; '
      f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (Python part), '
      f'mmpretrain {mmpretrain.__version__}')
PYEOF
start=$(date +%s)
# --confcutdir: tests/conftest.py imports mmdet (mmbnn.plugin); the tier's
# own conftest registers what it needs.
"$PY" -m pytest tests/test_device --confcutdir=tests/test_device \
    -p no:cacheprovider -q -rfEs --durations=10 \
    --junitxml="$OUT/device_tier.xml" 2>&1 | tee "$OUT/device_tier.log"
rc=${PIPESTATUS[0]}
echo "device tier: exit $rc in $(( $(date +%s) - start )) s"
"$PY" tools/benchmarks/train_step.py --task classifier --device cuda \
    --steps "${STEPS:-20}" 2>&1 | tee "$OUT/train_step_cuda.log"
exit "$rc"
