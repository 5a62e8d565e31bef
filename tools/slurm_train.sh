#!/usr/bin/env bash
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# tools/train.py on GPUS GPUs of a Slurm cluster, one task per GPU, across
# nodes as GPUS needs; GPUS (default 8), GPUS_PER_NODE, CPUS_PER_TASK,
# SRUN_ARGS: see tools/slurm_run.sh.
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,5p' "$0" >&2
    exit 2
fi
exec "$(dirname "${BASH_SOURCE[0]}")/slurm_run.sh" train.py "$1" "$2" "$3" \
    --work-dir="$4" "${@:5}"
