"""Graph test: the installed sim node as its own process, driven over DDS the way a controller would.

The test process plays the robot's other side: it reads JointState / Image / CameraInfo, commands joints
with Float64MultiArray and JointTrajectory (by name, in shuffled order), sends malformed actions, resets
through the service, and runs the `vla-ros` CLI as further processes.
"""
import json
import math
import subprocess
import time

import numpy as np
import pytest
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla_ros.image_conversion import image_to_numpy
from vla_ros.joint_state import joint_state_to_sample
from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.process_graph import executable_path, spin_until, start_node
from vla_ros.topics import TOPICS
from vla_ros.vocabulary import Command, load_vocabulary

pytestmark = pytest.mark.graph  # starts node processes and talks to them over DDS

ARM = [f"panda_joint{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim_graph")
    rclpy.init()
    node = rclpy.create_node("sim_graph_test")
    sim = start_node("sim", tmp, params={"image_size": 64, "camera_rate_hz": 5.0, "seed": 7,
                                         "max_episode_steps": 100000, "action_timeout_s": 0.4})
    got: dict[str, list] = {"joints": [], "rgb": [], "depth": [], "info": [], "instruction": []}
    node.create_subscription(JointState, TOPICS.joint_states, got["joints"].append, 10)
    node.create_subscription(Image, TOPICS.image, got["rgb"].append, qos_profile_sensor_data)
    node.create_subscription(Image, TOPICS.depth, got["depth"].append, qos_profile_sensor_data)
    node.create_subscription(CameraInfo, TOPICS.camera_info, got["info"].append, qos_profile_sensor_data)
    node.create_subscription(String, TOPICS.sim_instruction, got["instruction"].append, LATCHED_QOS)
    try:
        spin_until(node, lambda: got["joints"] and got["rgb"] and got["info"] and got["instruction"], 60,
                   "first JointState, Image, CameraInfo and instruction from the sim node", [sim])
        yield node, sim, got
    finally:
        code = sim.stop()
        node.destroy_node()
        rclpy.shutdown()
        assert code == 0, f"sim node exited with {code}:\n{sim.log()[-2000:]}"


def _arm(got) -> np.ndarray:
    return joint_state_to_sample(got["joints"][-1]).select(ARM).position


def _settle(node, sim, got, seconds: float) -> None:
    end = time.monotonic() + seconds
    spin_until(node, lambda: time.monotonic() > end, seconds + 5, "time to pass", [sim])


def test_publishes_what_a_real_arm_and_camera_would(graph):
    node, sim, got = graph
    js = got["joints"][-1]
    assert list(js.name) == ARM + ["panda_finger_joint1", "panda_finger_joint2"]
    assert all(math.isfinite(x) for x in js.position) and len(js.velocity) == 9
    rgb = image_to_numpy(got["rgb"][-1])
    assert got["rgb"][-1].encoding == "rgb8" and rgb.shape == (64, 64, 3) and rgb.std() > 5
    spin_until(node, lambda: got["depth"], 10, "a depth image", [sim])
    depth = image_to_numpy(got["depth"][-1])
    assert got["depth"][-1].encoding == "32FC1" and np.nanmin(depth) > 0.2 and np.nanmedian(depth) < 3.0
    info = got["info"][-1]
    assert (info.width, info.height) == (64, 64) and info.k[0] > 0 and info.k[8] == 1.0
    assert info.header.frame_id == got["rgb"][-1].header.frame_id == "camera_color_optical_frame"
    stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got["rgb"]}
    assert {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got["depth"]} & stamps, "rgb and depth share stamps"
    assert isinstance(load_vocabulary().parse(got["instruction"][-1].data), Command)


def test_follows_joint_commands_then_holds_when_they_stop(graph):
    node, sim, got = graph
    pub = node.create_publisher(Float64MultiArray, TOPICS.joint_command, 10)
    start = _arm(got)
    target = start.copy()
    target[0] += 0.3
    deadline = time.monotonic() + 20
    while abs(_arm(got)[0] - target[0]) > 0.03:
        assert time.monotonic() < deadline, f"joint1 did not reach {target[0]:.2f} (at {_arm(got)[0]:.2f})"
        pub.publish(Float64MultiArray(data=[*target.tolist(), 0.08]))
        rclpy.spin_once(node, timeout_sec=0.02)
        _settle(node, sim, got, 0.05)
    _settle(node, sim, got, 1.0)  # commands stopped: past action_timeout_s the arm holds
    held = _arm(got)
    _settle(node, sim, got, 1.0)
    assert np.abs(_arm(got) - held).max() < 0.02
    node.destroy_publisher(pub)


def test_trajectory_joints_are_matched_by_name(graph):
    node, sim, got = graph
    pub = node.create_publisher(JointTrajectory, TOPICS.joint_trajectory, 10)
    start = _arm(got)
    names = list(reversed(ARM))  # deliberately not the sim's order
    goal = {n: float(q) for n, q in zip(ARM, start)}
    goal["panda_joint4"] = start[3] + 0.25
    msg = JointTrajectory(joint_names=names,
                          points=[JointTrajectoryPoint(positions=[goal[n] for n in names])])
    deadline = time.monotonic() + 20
    while abs(_arm(got)[3] - goal["panda_joint4"]) > 0.03:
        assert time.monotonic() < deadline, "panda_joint4 did not follow the trajectory"
        pub.publish(msg)
        _settle(node, sim, got, 0.05)
    assert abs(_arm(got)[0] - start[0]) < 0.03, "a joint that was not moved by name moved"
    node.destroy_publisher(pub)


def test_malformed_actions_are_rejected_and_the_arm_holds(graph):
    node, sim, got = graph
    _settle(node, sim, got, 0.6)
    before = _arm(got)
    pub = node.create_publisher(Float64MultiArray, TOPICS.joint_command, 10)
    tpub = node.create_publisher(JointTrajectory, TOPICS.joint_trajectory, 10)
    for _ in range(10):
        pub.publish(Float64MultiArray(data=[0.1, 0.2, 0.3]))
        pub.publish(Float64MultiArray(data=[math.nan] * 7))
        tpub.publish(JointTrajectory(joint_names=["elbow"], points=[JointTrajectoryPoint(positions=[1.0])]))
        _settle(node, sim, got, 0.05)
    _settle(node, sim, got, 0.5)
    assert np.abs(_arm(got) - before).max() < 0.02
    assert sim.alive()
    log = sim.log()
    for reason in ("wrong length", "non-finite target", "unknown joints"):
        assert reason in log, f"no logged rejection '{reason}' in:\n{log[-2000:]}"


def test_reset_service_starts_a_new_seeded_task(graph):
    node, sim, got = graph
    client = node.create_client(Trigger, "/sim/reset")
    assert client.wait_for_service(timeout_sec=10), "/sim/reset service not available"
    n_before = len(got["instruction"])
    future = client.call_async(Trigger.Request())
    spin_until(node, future.done, 20, "/sim/reset response", [sim])
    assert future.result().success
    assert isinstance(load_vocabulary().parse(future.result().message), Command)
    spin_until(node, lambda: len(got["instruction"]) > n_before, 10, "the new instruction", [sim])
    assert got["instruction"][-1].data == future.result().message


def test_cli_sends_commands_and_watches_instructions(graph, tmp_path):
    node, sim, got = graph
    received: list[String] = []
    node.create_subscription(String, TOPICS.command, received.append, 10)
    cli = str(executable_path("vla-ros"))
    proc = subprocess.Popen([cli, "command", "pick up the blue block", "--timeout", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spin_until(node, lambda: proc.poll() is not None and received, 30, "the CLI's command on /vla/command")
    assert proc.returncode == 0, proc.stdout.read()
    assert received[-1].data == "pick up the blue block"
    watch = subprocess.run([cli, "watch", "--only", "instruction", "--count", "1", "--timeout", "20"],
                           capture_output=True, text=True, timeout=60)
    assert watch.returncode == 0, watch.stderr
    line = json.loads(watch.stdout.strip().splitlines()[-1])
    assert line["topic"] == "instruction" and line["data"] == got["instruction"][-1].data


@pytest.mark.parametrize("params, message", [
    ({"image_size": 5}, "image_size=5 must be in [32, 1024]"),
    ({"image_topic": "/bad topic"}, "image_topic='/bad topic' is not a valid topic name"),
])
def test_invalid_parameters_stop_the_node_with_a_clear_error(tmp_path, params, message):
    proc = start_node("sim", tmp_path, params=params)
    assert proc.proc.wait(60) == 2
    assert message in proc.log()
