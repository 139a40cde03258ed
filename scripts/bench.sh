#!/usr/bin/env bash
# Runs every benchmark side by side in one run; results land in benchmarks/results/ (json + md).
#   make bench            full runs (the numbers quoted in the README)
#   make bench ARGS=--quick
set -eo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
[ -f requirements-bench.txt ] && pip install -q --no-deps -r requirements-bench.txt 2>&1 | grep -v "is ignored" || true
source install/setup.bash
export MUJOCO_GL=${MUJOCO_GL:-egl} HF_HUB_OFFLINE=1
for b in benchmarks/*_bench.py; do
  echo "== $b"
  python "$b" "$@"
done
echo "== benchmarks/speech_bench.py --confirm-always (read back: the speech node's default)"
python benchmarks/speech_bench.py --confirm-always "$@"
