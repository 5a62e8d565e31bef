#!/usr/bin/env bash
# Usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# tools/test.py on GPUS GPUs of a Slurm cluster, as tools/slurm_train.sh
# runs train.py (the same variables, tools/slurm_run.sh); metrics are
# printed by rank 0 only.
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,5p' "$0" >&2
    exit 2
fi
exec "$(dirname "${BASH_SOURCE[0]}")/slurm_run.sh" test.py "$1" "$2" "$3" \
    "$4" "${@:5}"
