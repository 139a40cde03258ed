#!/usr/bin/env bash
# The simulated graph end to end (see vla_ros/demo.py): a table, runs/demo/demo.mp4 and demo.mcap.
# MUJOCO_GL is not set here: the sim node chooses EGL / OSMesa itself when there is no display (vla_sim.gl).
set -eo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
source install/setup.bash
export HF_HUB_OFFLINE=1
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-42} ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
exec python -P -m vla_ros.demo "$@"
