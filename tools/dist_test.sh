#!/usr/bin/env bash
# Evaluate on N processes with torchrun:
#   bash tools/dist_test.sh CONFIG CHECKPOINT N [test.py options]
# The interpreter is $PYTHON (default: python on PATH), e.g.
#   PYTHON=/path/to/venv/bin/python bash tools/dist_test.sh ...
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m torch.distributed.run \
  --nnodes=1 --master_addr="$MASTER_ADDR" --master_port="$PORT" \
  --nproc_per_node="$NPROC" \
  "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
