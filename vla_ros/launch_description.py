"""Builds launch descriptions from vla_ros.graph; imported only by launch/*.launch.py (needs `launch`)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from vla_ros.graph import (
    LAUNCH_ARGS,
    NODES,
    PARAMS_FILE,
    TRUE_WORDS,
    parameter_overrides,
    sim_overrides,
    write_overrides,
)
from vla_ros.paths import share_dir


def _truthy(value: str) -> bool:
    return value.strip().lower() in TRUE_WORDS


def _nodes(context: LaunchContext, sim: bool) -> list:
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGS}
    params_file = values["params_file"] or str(share_dir() / "config" / PARAMS_FILE)
    if not Path(params_file).is_file():
        raise FileNotFoundError(f"params_file {params_file} does not exist")
    actions = []
    for spec in NODES:
        if spec.sim_only and not sim:
            continue
        if not _truthy(values[spec.enable_arg]):
            continue
        overrides = {**({"autostart": True} if spec.lifecycle else {}), **(sim_overrides(spec.name) if sim else {}),
                     **parameter_overrides(spec.name, values)}
        params = [params_file, str(write_overrides(spec.name, overrides, Path(tempfile.mkdtemp(prefix="vla_ros_"))))]
        cls = LifecycleNode if spec.lifecycle else Node
        kwargs = {"namespace": ""} if spec.lifecycle else {}
        actions.append(cls(package="vla_ros", executable=spec.executable, name=spec.name, output="screen",
                           emulate_tty=True, parameters=params, **kwargs))
    return actions


def generate(sim: bool) -> LaunchDescription:
    """The launch description of launch/sim.launch.py (`sim=True`) or launch/bringup.launch.py (a robot)."""
    args = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
            for a in LAUNCH_ARGS if sim or a.name != "sim"]
    if not sim:
        args.append(DeclareLaunchArgument("sim", default_value="false", description="(robot launch: no sim)"))
    return LaunchDescription([*args, OpaqueFunction(function=lambda ctx: _nodes(ctx, sim))])
