"""Graph test: installed sim, grounding and policy nodes as separate processes, over real DDS, with the shipped
policy checkpoint (models/policy).

A command naming an object on the table moves the arm towards it (by forward kinematics of /joint_states, the
grasp point gets closer to where the sim put the object); a stop halts it within a control period and nothing
is sent after it; a command naming an absent object never moves the arm; with the grounding node gone the
policy holds and says why within its target timeout.
"""
import json
import time

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.paths import models_dir
from vla_ros.process_graph import json_collector, spin_until, start_policy_graph
from vla_ros.topics import TOPICS

pytestmark = [pytest.mark.graph, pytest.mark.skipif(not (models_dir() / "policy" / "policy.pt").is_file(),
                                                    reason="no shipped policy checkpoint in models/policy")]

SEED = 1_000_003
COMMAND = "touch the blue ball"
PICK = "pick up the blue ball"
ARM = tuple(f"panda_joint{i}" for i in range(1, 8))


def _scene(seed, command):
    """Where the sim puts the objects for this seed and command (the sim node builds the same TabletopEnv)."""
    from vla_sim.env import TabletopEnv

    env = TabletopEnv(obs_images=False)
    _, info = env.reset(seed=seed, options={"command": command})
    env.close()
    return info


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    from vla_ros.vocabulary import load_vocabulary
    from vla_sim.ee_control import ArmKinematics
    from vla_sim.scene import build_scene

    tmp = tmp_path_factory.mktemp("policy_graph")
    rclpy.init()
    node = rclpy.create_node("policy_graph_test")
    procs = start_policy_graph(tmp, SEED, COMMAND)
    got = {"joints": [], "actions": [], "status": [], "grounding": [], "instruction": []}
    node.create_subscription(JointState, TOPICS.joint_states, got["joints"].append, 10)
    node.create_subscription(JointTrajectory, TOPICS.joint_trajectory,
                             lambda m: got["actions"].append((time.monotonic(), m)), 50)
    node.create_subscription(String, TOPICS.policy_status, json_collector(got["status"]), 100)
    node.create_subscription(String, TOPICS.grounding_status, lambda m: got["grounding"].append(json.loads(m.data)), 50)
    node.create_subscription(String, TOPICS.sim_instruction, got["instruction"].append, LATCHED_QOS)
    command = node.create_publisher(String, TOPICS.command, 10)
    arm = ArmKinematics.from_scene(build_scene(load_vocabulary(), max_render_size=64))
    try:
        spin_until(node, lambda: got["instruction"] and command.get_subscription_count() >= 2
                   and any(s["state"] == "idle" for _, s in got["status"]), 180,
                   "the sim, and active grounding and policy nodes", procs)
        yield node, procs, got, command, arm
    finally:
        codes = [p.stop() for p in procs]
        node.destroy_node()
        rclpy.shutdown()
        assert all(c == 0 for c in codes), "\n".join(p.log()[-1500:] for p in procs)


def _grasp_point(got, arm):
    msg = got["joints"][-1]
    index = {n: i for i, n in enumerate(msg.name)}
    return arm.ee_pos(np.array([msg.position[index[n]] for n in ARM]))


def _last_status(got):
    return got["status"][-1][1] if got["status"] else {}


def _reset_scene(node, procs, got, command_text):
    """The sim back to SEED with `command_text`'s task: the same objects in the same places, the arm at home."""
    n = len(got["instruction"])
    pub = got.setdefault("reset_pub", node.create_publisher(String, "/sim/reset_to", 10))
    spin_until(node, lambda: pub.get_subscription_count() > 0, 10, "the sim's reset_to", procs)
    pub.publish(String(data=json.dumps({"seed": SEED, "command": command_text})))
    spin_until(node, lambda: len(got["instruction"]) > n, 10, "the sim's reset", procs)


def _act(node, procs, got, command, text, timeout=60):
    got["status"].clear()
    command.publish(String(data=text))
    spin_until(node, lambda: any(s["state"] == "acting" and s.get("command") == text for _, s in got["status"]),
               timeout, f"the policy acting on {text!r}", procs)


def test_a_command_moves_the_arm_towards_the_object(graph):
    node, procs, got, command, arm = graph
    info = _scene(SEED, COMMAND)
    target = np.asarray(info["objects"][info["target_id"] - 1]["pos"])
    spin_until(node, lambda: got["joints"], 20, "joint states", procs)
    q0 = np.array(got["joints"][-1].position[:7])
    # Horizontal distance: a touch ends with the grasp point over the object but ~7 cm above its centre (the
    # fingertips are 4.3 cm below it and touch the top), so a 3-D radius is a race against where contact happens.
    start = float(np.linalg.norm(_grasp_point(got, arm)[:2] - target[:2]))
    got["actions"].clear()
    _act(node, procs, got, command, COMMAND)
    best = [start]

    def closer():
        best.append(float(np.linalg.norm(_grasp_point(got, arm)[:2] - target[:2])))
        return min(best) < min(0.03, 0.5 * start)

    spin_until(node, closer, 30, f"the grasp point over {target.round(3).tolist()} (from {start:.3f} m)", procs)
    assert got["actions"], "actions were published"
    msg = got["actions"][-1][1]
    assert list(msg.joint_names[:7]) == list(ARM) and len(msg.points) == 1
    assert np.abs(np.array(got["joints"][-1].position[:7]) - q0).max() > 0.05, "the joints moved"
    status = _last_status(got)
    assert status["verb"] == "touch" and status["state"] in ("acting", "done"), status
    assert status["tick_phase"]["fixes"] > 0, "the grounder's fixes feed the tick's phase lock"
    base_target = np.asarray(next(s for _, s in reversed(got["status"]) if s.get("target"))["target"])
    assert np.linalg.norm(base_target - target) < 0.05, "the grounder's target, in the base frame, is the object"


def test_stop_halts_within_a_control_period_and_nothing_follows(graph):
    node, procs, got, command, arm = graph
    _reset_scene(node, procs, got, COMMAND)
    _act(node, procs, got, command, COMMAND)
    spin_until(node, lambda: len(got["actions"]) >= 3, 10, "a few actions", procs)
    sent = time.monotonic()
    command.publish(String(data="stop"))
    spin_until(node, lambda: _last_status(got).get("state") == "stopped", 5, "status stopped", procs)
    stopped_at = next(t for t, s in got["status"] if s["state"] == "stopped")
    assert stopped_at - sent < 0.25, f"stopped {stopped_at - sent:.3f} s after the stop command"
    assert "stop" in _last_status(got)["reason"]
    end = time.monotonic() + 1.5
    spin_until(node, lambda: time.monotonic() > end, 10, "a quiet period", procs)
    after = [t for t, _ in got["actions"] if t > stopped_at + 0.02]
    assert not after, f"{len(after)} actions after the stop"
    assert _last_status(got)["state"] == "stopped"
    client = node.create_client(Trigger, "/policy/stop")
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(Trigger.Request())
    spin_until(node, future.done, 10, "/policy/stop", procs)
    assert future.result().success and _last_status(got)["state"] == "stopped"


def test_a_command_naming_an_absent_object_never_moves_the_arm(graph):
    node, procs, got, command, arm = graph
    from vla_ros.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    present = {(o["color"], o["shape"]) for o in _scene(SEED, COMMAND)["objects"]}
    color, shape = next((c, s) for c in vocab.color_names for s in vocab.shape_names if (c, s) not in present)
    text = f"touch the {color} {shape}"
    got["actions"].clear()
    got["status"].clear()
    command.publish(String(data=text))
    spin_until(node, lambda: any(g.get("command") == text and g["status"] == "not_found" for g in got["grounding"]),
               30, f"the grounder's not_found for {text!r}", procs)
    end = time.monotonic() + 2.0
    spin_until(node, lambda: time.monotonic() > end, 10, "a few ticks", procs)
    status = _last_status(got)
    assert status["state"] == "holding" and "not found" in status["reason"], status
    assert status["holds"].get("not_found", 0) > 0
    assert not got["actions"], "no action for an object that is not there"


def test_grounding_gone_makes_the_policy_hold_and_say_why(graph):
    node, procs, got, command, arm = graph
    _reset_scene(node, procs, got, PICK)
    _act(node, procs, got, command, PICK)  # a pick takes longer than the 2 s target timeout
    assert procs[1].stop() == 0
    gone = time.monotonic()
    spin_until(node, lambda: _last_status(got).get("state") == "holding", 10, "the policy holding", procs[::2])
    status = _last_status(got)
    held_after = got["status"][-1][0] - gone
    assert "target lost" in status["reason"], status
    assert held_after < 2.0 + 0.5, f"held {held_after:.2f} s after the grounder stopped (timeout 2 s)"
    n = len(got["actions"])
    end = time.monotonic() + 1.0
    spin_until(node, lambda: time.monotonic() > end, 10, "a quiet period", procs[::2])
    assert len(got["actions"]) == n, "nothing re-sent while holding"
