#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NPROC [train.py options]
# One process per GPU, or per CPU share with the gloo backend when no GPU is
# visible. NNODES, NODE_RANK, MASTER_ADDR and PORT set multi-node runs.
set -euo pipefail
CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --master_port="$PORT" --nproc_per_node="$NPROC" \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
