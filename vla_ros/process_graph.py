"""Start the installed node executables as separate processes, the way a launch file would.

Used by the graph tests (CI has no `ros2 launch`) and by `make demo`, so both run exactly what the
launch files describe in vla_ros.graph.

Each process gets the package's parameter file and the launch-argument overrides from vla_ros.graph,
its own process group (so teardown kills children too), and its output in a log file that a failing
test prints. Every wait has a timeout and says what it waited for.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import rclpy
from rclpy.node import Node

from vla_ros.graph import PARAMS_FILE, node_spec, parameter_overrides, sim_overrides, write_overrides
from vla_ros.paths import share_dir


def executable_path(executable: str) -> Path:
    """Where colcon installed the node executable `executable`; says to build if it is not there."""
    prefix = share_dir().parents[1]  # <install>/vla_ros
    path = prefix / "lib" / "vla_ros" / executable
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not installed: run scripts/build.sh")
    return path


@dataclass
class NodeProcess:
    """A node running as its own process group, with its log file, so a test can check on it and stop it."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT like Ctrl-C / launch, then SIGKILL the group if it does not exit in time."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                raise AssertionError(
                    f"{self.name} did not shut down within {timeout} s on SIGINT:\n{self.log()[-3000:]}")
        return self.proc.returncode


def start_node(name: str, tmp: Path, launch_args: dict[str, str] | None = None,
               params: dict[str, object] | None = None, node_name: str | None = None, sim: bool = True) -> NodeProcess:
    """Start graph node `name`; `node_name` renames it (a second instance beside the first). `sim`: the simulated
    graph, whose nodes get what the sim launch gives them (`graph.sim_overrides`, e.g. the camera pose)."""
    spec = node_spec(name)
    node_name = node_name or spec.name
    overrides: dict[str, object] = dict(sim_overrides(name) if sim else {})
    overrides.update(parameter_overrides(name, launch_args or {}))
    overrides.update(params or {})
    cmd = [str(executable_path(spec.executable)), "--ros-args", "-r", f"__node:={node_name}",
           "--params-file", str(share_dir() / "config" / PARAMS_FILE)]
    if overrides:
        cmd += ["--params-file", str(write_overrides(node_name, overrides, tmp))]
    log_path = tmp / f"{node_name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=os.environ.copy())
    return NodeProcess(node_name, proc, log_path)


def spin_until(node: Node, predicate: Callable[[], bool], timeout: float, what: str,
               processes: Sequence[NodeProcess] = ()) -> None:
    """Spin `node` until `predicate()` holds; fail with the logs if a process dies or `timeout` s pass first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for p in processes:
            if not p.alive():
                raise AssertionError(
                    f"{p.name} exited (code {p.proc.returncode}) while waiting for {what}:\n{p.log()[-3000:]}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name} ---\n{p.log()[-2000:]}" for p in processes)
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
        rclpy.spin_once(node, timeout_sec=0.05)


def start_policy_graph(tmp: Path, seed: int, command: str) -> list[NodeProcess]:
    """Sim (fixed seed and command, no auto reset), grounding (one thread, no overlay) and policy: the graph the
    policy tests and the fault benchmark drive."""
    return [start_node("sim", tmp, params={"seed": seed, "command": command, "max_episode_steps": 100000,
                                           "auto_reset": False}),
            start_node("grounding", tmp, params={"num_threads": 1, "publish_overlay": False}),
            start_node("policy", tmp)]


def json_collector(store: list) -> Callable[[Any], None]:
    """A std_msgs/String callback appending (arrival time, parsed JSON); text that is not JSON is skipped."""
    def callback(msg: Any) -> None:
        try:
            store.append((time.monotonic(), json.loads(msg.data)))
        except ValueError:
            pass
    return callback
