#!/usr/bin/env bash
# Runs the test suite against the colcon install (not the source tree), as a robot would import it.
set -eo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
source install/setup.bash
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec pytest "$@"
