#!/usr/bin/env bash
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# One Slurm task per GPU through srun, on as many nodes as GPUS needs:
# GPUS (total, default 8), GPUS_PER_NODE (default 8), CPUS_PER_TASK
# (default 5), SRUN_ARGS (more srun options, e.g. "--quotatype=auto").
# Each task runs tools/train.py with --launcher slurm: mmengine reads its
# rank from SLURM_PROCID and the master node from SLURM_NODELIST
# (MASTER_PORT, default 29500, sets the port). Needs GPUs: on CPUs use
# tools/dist_train.sh (torchrun, gloo).
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,9p' "$0" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2086 (SRUN_ARGS is a list of options)
exec srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$DIR/train.py" "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher=slurm "${@:5}"
