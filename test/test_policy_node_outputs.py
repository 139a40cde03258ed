"""The policy node's three outputs and where the gripper goes, on the node object itself (in process, no DDS):
what a ros2_control joint_trajectory_controller, a forward command controller or MoveIt Servo would receive."""
import numpy as np
import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn

from vla_ros.paths import models_dir
from vla_ros.policy.controller import Decision

pytestmark = pytest.mark.skipif(not (models_dir() / "policy" / "policy.pt").is_file(),
                                reason="no shipped policy checkpoint in models/policy")
Q = np.linspace(-0.3, 0.3, 7)
ACT = Decision("acting", "test", Q, 0.05, np.array([0.5, -0.5, 0.0, -1.0]))
HOLD = Decision("holding", "test", Q, 0.05, None)


@pytest.fixture()
def configured():
    """configured(**params) -> (node, what it sent): a configured PolicyNode with those parameters (ROS args, as
    `ros2 run ... --ros-args -p` gives them), its publishers captured."""
    made = []

    def make(**params):
        from vla_ros.nodes.policy_node import PolicyNode

        if made:
            made.pop().destroy_node()
            rclpy.shutdown()
        args = ["--ros-args", "-p", "camera_transform:=static", "-p", "camera_position:=[1.0, 0.0, 0.7]"]
        for key, value in params.items():
            args += ["-p", f"{key}:={str(value).lower() if isinstance(value, bool) else value}"]
        rclpy.init(args=args)
        node = PolicyNode()
        made.append(node)
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        sent: dict[str, list] = {"out": [], "gripper": []}
        node.pub_out.publish = sent["out"].append
        if getattr(node, "pub_gripper", None) is not None:
            node.pub_gripper.publish = sent["gripper"].append
        return node, sent

    yield make
    if made:
        made.pop().destroy_node()
        rclpy.shutdown()


def test_joint_trajectory_carries_the_fingers_by_default(configured):
    node, sent = configured(output="joint_trajectory")
    node.emit(ACT)
    msg = sent["out"][-1]
    assert msg.joint_names == [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1", "panda_finger_joint2"]
    np.testing.assert_allclose(msg.points[0].positions, [*Q, 0.025, 0.025])
    assert msg.points[0].time_from_start.nanosec == 50_000_000 and not sent["gripper"]


def test_gripper_apart_for_robots_whose_hand_has_its_own_controller(configured):
    node, sent = configured(output="joint_trajectory", gripper_in_command=False)
    node.emit(ACT)
    assert sent["out"][-1].joint_names == [f"panda_joint{i}" for i in range(1, 8)]
    assert sent["gripper"][-1].data == pytest.approx(0.05)
    node, sent = configured(output="forward_command", gripper_in_command=False)
    node.emit(ACT)
    np.testing.assert_allclose(sent["out"][-1].data, Q)
    assert sent["gripper"][-1].data == pytest.approx(0.05)


def test_forward_command_and_twist(configured):
    node, sent = configured(output="forward_command")
    node.emit(ACT)
    np.testing.assert_allclose(sent["out"][-1].data, [*Q, 0.05])
    node, sent = configured(output="twist")
    node.emit(ACT)
    t = sent["out"][-1]
    assert t.header.frame_id == "panda_link0"
    np.testing.assert_allclose([t.twist.linear.x, t.twist.linear.y, t.twist.linear.z], [0.3, -0.3, 0.0])  # 0.5*0.03*20
    node.emit(HOLD)  # a hold is a zero twist, the gripper keeps its opening
    t = sent["out"][-1]
    assert (t.twist.linear.x, t.twist.linear.y, t.twist.linear.z) == (0.0, 0.0, 0.0)
    assert [g.data for g in sent["gripper"]] == pytest.approx([0.05, 0.05])
