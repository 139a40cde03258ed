#!/usr/bin/env bash
# The simulated graph end to end (see vla_ros/demo.py); pictures land in runs/demo/.
set -eo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
source install/setup.bash
export MUJOCO_GL=${MUJOCO_GL:-egl} HF_HUB_OFFLINE=1
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-42} ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
exec python -P -m vla_ros.demo "$@"
