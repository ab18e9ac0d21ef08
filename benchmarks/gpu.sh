#!/usr/bin/env bash
# Every GPU measurement of benchmarks/README.md in one script, for a short loan of a GPU machine:
#   OUT=/some/dir bash benchmarks/gpu.sh [FRAMES]
# It records the GPU, then benchmarks/speed.py at 1, 256 and 2048 sessions and the bare loop at 2048 seeds
# (PureJaxRL's anchor: 2048 CartPole PPO agents x 500k frames), each row's steps/s, device memory and wall
# time, into $OUT. It expects JAX with CUDA importable (pip install -e ".[cuda12]"). FRAMES defaults to
# 500000 per session; pass a small number to try the script on a CPU first.
set -euo pipefail
OUT=${OUT:?set OUT to the folder the results go to}
FRAMES=${1:-500000}
export PYTHONUNBUFFERED=1 PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi") >"$OUT/gpu.txt"
python -c "import jax; print(jax.devices())" | tee -a "$OUT/gpu.txt"
python benchmarks/speed.py --frames "$FRAMES" --sessions 1,256,2048 --bare-seeds 2048 --skip-sb3 2>&1 \
  | tee "$OUT/speed.txt"
