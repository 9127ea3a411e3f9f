#!/usr/bin/env bash
# Train on a Slurm cluster:
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [options]
# The interpreter is $PYTHON (default: python on PATH), e.g.
#   PYTHON=/path/to/venv/bin/python bash tools/slurm_train.sh ...
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: [GPUS=8] bash tools/slurm_train.sh PARTITION JOB CONFIG" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck disable=SC2086
srun -p "$PARTITION" --job-name="$JOB_NAME" \
  --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
  --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 $SRUN_ARGS \
  "${PYTHON:-python}" -u "$HERE/train.py" "$CONFIG" --launcher slurm "$@"
