"""Graph test: installed sim node + grounding node as separate processes, over real DDS.

The sim's instruction goes in as a command and a grounding result comes back on every output; the
lifecycle turns the node off and on without a restart; bad input is reported, never a crash; a missing
model fails `configure` with a message that says what to do.
"""
import json
import time

import pytest
import rclpy
from geometry_msgs.msg import PointStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from vla_ros.image_conversion import image_to_numpy
from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.process_graph import spin_until, start_node
from vla_ros.topics import TOPICS

pytestmark = pytest.mark.graph  # starts node processes and talks to them over DDS

FINAL = ("found", "not_found", "not_understood")


def _call(node, client, request, procs, what):
    assert client.wait_for_service(timeout_sec=20), f"service for {what} not available"
    future = client.call_async(request)
    spin_until(node, future.done, 30, what, procs)
    return future.result()


def _state(node, procs) -> str:
    client = node.create_client(GetState, "/grounding/get_state")
    return _call(node, client, GetState.Request(), procs, "/grounding/get_state").current_state.label


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grounding_graph")
    rclpy.init()
    node = rclpy.create_node("grounding_graph_test")
    procs = [start_node("sim", tmp, params={"seed": 3, "camera_rate_hz": 4.0, "max_episode_steps": 100000}),
             start_node("grounding", tmp, params={"num_threads": 1})]
    got: dict[str, list] = {k: [] for k in ("instruction", "status", "mask", "overlay", "target", "pixel")}
    node.create_subscription(String, TOPICS.sim_instruction, got["instruction"].append, LATCHED_QOS)
    node.create_subscription(String, TOPICS.grounding_status, lambda m: got["status"].append(json.loads(m.data)), 50)
    node.create_subscription(Image, TOPICS.grounding_mask, got["mask"].append, qos_profile_sensor_data)
    node.create_subscription(Image, TOPICS.grounding_overlay, got["overlay"].append, qos_profile_sensor_data)
    node.create_subscription(PointStamped, TOPICS.grounding_target, got["target"].append, 10)
    node.create_subscription(PointStamped, TOPICS.grounding_target + "_pixel", got["pixel"].append, 10)
    command = node.create_publisher(String, TOPICS.command, 10)
    try:
        spin_until(node, lambda: got["instruction"] and command.get_subscription_count() > 0, 120,
                   "the sim's instruction and an active grounding node", procs)
        assert _state(node, procs) == "active"
        yield node, procs, got, command
    finally:
        codes = [p.stop() for p in procs]
        node.destroy_node()
        rclpy.shutdown()
        assert codes == [0, 0], "\n".join(p.log()[-1500:] for p in procs)


def _result_for(node, procs, got, command, text, timeout=60):
    got["status"].clear()
    command.publish(String(data=text))
    spin_until(node, lambda: any(s["status"] in FINAL and s.get("command", text) == text for s in got["status"]),
               timeout, f"a grounding result for {text!r}", procs)
    return next(s for s in got["status"] if s["status"] in FINAL and s.get("command", text) == text)


def test_grounds_the_sims_instruction_on_every_output(graph):
    node, procs, got, command = graph
    instruction = got["instruction"][-1].data
    status = _result_for(node, procs, got, command, instruction)
    assert status["status"] == "found", status
    spin_until(node, lambda: got["mask"] and got["overlay"] and got["target"] and got["pixel"], 30,
               "mask, overlay, 3-D target and pixel", procs)
    mask, overlay = got["mask"][-1], got["overlay"][-1]
    assert mask.encoding == "mono8" and overlay.encoding == "rgb8"
    m = image_to_numpy(mask)
    assert m.shape == image_to_numpy(overlay).shape[:2] and (m == 255).any()
    u, v = status["pixel"]
    assert m[v, u] == 255, "the target pixel lies on the mask"
    target = got["target"][-1]
    assert target.header.frame_id == "camera_color_optical_frame"
    assert 0.3 < target.point.z < 2.5, "a 3-D point in front of the camera, in metres"
    assert got["pixel"][-1].point.x == u and got["pixel"][-1].point.y == v


def test_unknown_words_are_not_understood_not_guessed(graph):
    node, procs, got, command = graph
    status = _result_for(node, procs, got, command, "pick up the purple elephant")
    assert status["status"] == "not_understood" and "purple" in status["reason"]


def test_bad_image_is_rejected_with_a_status_not_a_crash(graph):
    node, procs, got, command = graph
    pub = node.create_publisher(Image, TOPICS.image, qos_profile_sensor_data)
    got["status"].clear()
    command.publish(String(data=got["instruction"][-1].data))
    bad = Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32))
    spin_until(node, lambda: pub.get_subscription_count() > 0, 10, "grounding's image subscription", procs)
    deadline = time.monotonic() + 30
    while not any("rejected image" in s.get("reason", "") for s in got["status"]):
        assert time.monotonic() < deadline, f"no rejection status; got {got['status'][-3:]}\n{procs[1].log()[-3000:]}"
        pub.publish(bad)
        rclpy.spin_once(node, timeout_sec=0.02)
        time.sleep(0.05)
    assert all(p.alive() for p in procs)
    node.destroy_publisher(pub)


def test_candidates_change_at_run_time(graph):
    node, procs, got, command = graph
    client = node.create_client(SetParameters, "/grounding/set_parameters")

    def set_candidates(values):
        value = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=values)
        req = SetParameters.Request(parameters=[Parameter(name="candidates", value=value)])
        return _call(node, client, req, procs, "/grounding/set_parameters").results[0]

    assert set_candidates(["red block", "blue ball", "green cylinder"]).successful
    refused = set_candidates(["purple elephant"])
    assert not refused.successful and "purple elephant" in refused.reason
    assert set_candidates([""]).successful  # back to the whole vocabulary


def test_lifecycle_turns_processing_off_and_on_without_restart(graph):
    node, procs, got, command = graph
    change = node.create_client(ChangeState, "/grounding/change_state")
    ok = _call(node, change, ChangeState.Request(transition=Transition(id=Transition.TRANSITION_DEACTIVATE)),
               procs, "deactivate")
    assert ok.success and _state(node, procs) == "inactive"
    got["status"].clear()
    command.publish(String(data=got["instruction"][-1].data))
    end = time.monotonic() + 2.0
    spin_until(node, lambda: time.monotonic() > end, 10, "quiet period", procs)
    assert not got["status"], "an inactive node must not publish results"
    ok = _call(node, change, ChangeState.Request(transition=Transition(id=Transition.TRANSITION_ACTIVATE)),
               procs, "activate")
    assert ok.success and _state(node, procs) == "active"
    status = _result_for(node, procs, got, command, got["instruction"][-1].data)
    assert status["status"] == "found"


def test_missing_model_fails_configure_with_a_clear_message(graph, tmp_path):
    node = graph[0]
    proc = start_node("grounding", tmp_path, params={"model": str(tmp_path / "no_such_model")},
                      node_name="grounding_missing_model")
    try:
        spin_until(node, lambda: "configure failed" in proc.log(), 60, "the configure failure", [proc])
        assert "not found" in proc.log() and "train" in proc.log()
        client = node.create_client(GetState, "/grounding_missing_model/get_state")
        state = _call(node, client, GetState.Request(), [proc], "get_state").current_state.label
        assert state == "unconfigured"
        assert proc.alive(), "a failed configure leaves the node up so it can be retried"
    finally:
        assert proc.stop() == 0
