#!/usr/bin/env bash
# Train on N processes of this machine with torchrun:
#   bash tools/dist_train.sh CONFIG N [train.py options]
# GPUs: one process per GPU with NCCL. CPU-only: N gloo processes sharing
# the cores. The rendezvous binds to loopback unless MASTER_ADDR is set.
# The interpreter is $PYTHON (default: python on PATH), e.g.
#   PYTHON=/path/to/venv/bin/python bash tools/dist_train.sh ...
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash tools/dist_train.sh CONFIG NUM_PROCESSES [options]" >&2
  exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" \
  --master_addr="$MASTER_ADDR" --master_port="$PORT" \
  --nproc_per_node="$NPROC" \
  "$HERE/train.py" "$CONFIG" --launcher pytorch "$@"
