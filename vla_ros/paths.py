"""Where the package's data files (config, models) live, in a source tree and in a colcon install.

The library must find `config/vocabulary.yaml` and the shipped models the same way whether it runs from
the repository (tests, training scripts), from a colcon install space (nodes), or from a robot's
workspace, without importing rclpy.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

PACKAGE = "vla_ros"


@lru_cache(maxsize=1)
def share_dir() -> Path:
    """The directory that holds `config/`, `launch/` and `models/` for this package.

    Order: $VLA_ROS_SHARE, the ament index (an installed package), then the source checkout that
    this module sits in.
    """
    override = os.environ.get("VLA_ROS_SHARE")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    # colcon install: <prefix>/lib/python3.X/site-packages/vla_ros -> <prefix>/share/vla_ros
    installed = here.parents[3] / "share" / PACKAGE if len(here.parents) > 3 else None
    if installed is not None and (installed / "config").is_dir():
        return installed
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "share" / PACKAGE
        if prefix and (candidate / "config").is_dir():
            return candidate
    source = here.parent
    if (source / "config").is_dir():
        return source
    raise FileNotFoundError(
        f"cannot find the {PACKAGE} share directory (config/, models/): set VLA_ROS_SHARE, "
        "source a colcon install, or run from the source tree"
    )


def config_path(name: str) -> Path:
    """A file under `config/`, with a clear error when it is missing."""
    path = share_dir() / "config" / name
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    return path


def models_dir() -> Path:
    """Where the models that ship with the package live."""
    return share_dir() / "models"
