#!/usr/bin/env bash
# colcon build of vla_ros into ./install, with the venv's Python; fails if colcon does not see a ROS package.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/vla_ros_build.lock; flock 9  # helpers and tests may build at once
source .venv/bin/activate
kind=$(colcon list --base-paths . 2>/dev/null | awk '$1=="vla_ros"{print $3}')
if [ "$kind" != "(ros.ament_python)" ]; then
  echo "colcon sees vla_ros as '$kind', not ros.ament_python: check package.xml" >&2; exit 1
fi
out=$(mktemp)
if ! colcon build --base-paths . --packages-select vla_ros >"$out" 2>&1; then
  cat "$out" >&2; rm -f "$out"; exit 1
fi
rm -f "$out"
