#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NPROC [train.py options]
# One process per GPU, or per CPU share with the gloo backend when no GPU is
# visible. NNODES, NODE_RANK, MASTER_ADDR and PORT set multi-node runs;
# tools/dist_test.sh runs test.py through this script (DIST_SCRIPT).
set -euo pipefail
CONFIG=$1
NPROC=$2
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python}" -m torch.distributed.run --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$DIR/${DIST_SCRIPT:-train.py}" "$CONFIG" "${@:3}" --launcher pytorch
