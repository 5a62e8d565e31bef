#!/usr/bin/env bash
# Usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# tools/test.py on GPUS GPUs through srun, as tools/slurm_train.sh runs
# train.py (same variables: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS);
# metrics are printed by rank 0 only.
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,5p' "$0" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2086 (SRUN_ARGS is a list of options)
exec srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$DIR/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher=slurm "${@:5}"
