#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py options]
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIST_SCRIPT=test.py exec "$DIR/dist_train.sh" "$1" "$3" "$2" "${@:4}"
