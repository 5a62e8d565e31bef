#!/usr/bin/env bash
# Usage: tools/slurm_run.sh SCRIPT PARTITION JOB_NAME [SCRIPT's arguments]
# What tools/slurm_train.sh and slurm_test.sh share: tools/SCRIPT on GPUS
# GPUs through srun, one Slurm task per GPU, on as many nodes as GPUS needs.
# GPUS (total, default 8), GPUS_PER_NODE (default min(GPUS, 8)),
# CPUS_PER_TASK (default 5), SRUN_ARGS (more srun options). Each task runs
# with --launcher slurm: mmengine reads its rank from SLURM_PROCID and the
# master node from SLURM_NODELIST (MASTER_PORT, default 29500, sets the
# port). Needs GPUs: on CPUs use tools/dist_train.sh (torchrun, gloo).
set -euo pipefail
SCRIPT=$1
PARTITION=$2
JOB_NAME=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2086 (SRUN_ARGS is a list of options)
exec srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$DIR/$SCRIPT" "${@:4}" --launcher=slurm
