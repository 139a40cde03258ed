"""Policy node: command + grounding target + joint states -> the trained VLA policy -> arm joint targets, 20 Hz.

Thin adapter over `vla_ros.policy.controller.PolicyController` (which holds every rule: when to act, when to
hold and why, limits, done detection). `configure` loads the checkpoint (refused with the differing fields if
its contract does not fit this robot, control rate, vocabulary or grounding model), the grounding model's text
tower (the command embedding must come from the model the policy was trained with) and the arm's MuJoCo model
for forward/inverse kinematics. A timer at `control_rate_hz` runs one tick on the latest inputs and publishes:
  output=joint_trajectory  trajectory_msgs/JointTrajectory (arm + finger joints, one point reached in one
                           period; header stamp 0 = start now), for ros2_control's joint_trajectory_controller;
  output=forward_command   std_msgs/Float64MultiArray: 7 arm joint positions + gripper opening (m);
  output=twist             geometry_msgs/TwistStamped for MoveIt Servo: linear velocity (m/s, base frame) =
                           action * scale_per_tick * rate; the gripper opening goes to `gripper_topic`
                           (std_msgs/Float64, m) for a gripper controller of its own.
On a hold the measured position is published once as the target (a zero twist with output=twist); nothing is
re-sent while holding. The JSON status (`status_topic`) goes out every tick while a command is active, on
every state change, and once a second otherwise. `~/stop` (std_srvs/Trigger) halts at once, as does a stop
command; only a new command moves the arm again. A tick that raises stops the arm the same way (reason
"internal error", counted as `errors` in the status) instead of taking the node down.
Camera -> base: tf2 (base_frame <- the target's frame) where tf2_ros is installed, else the static camera pose
parameters (the sim launch fills them from the sim's camera).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from builtin_interfaces.msg import Duration as DurationMsg
from geometry_msgs.msg import PointStamped, TwistStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla_ros.nodes.node_runtime import ModelNode, json_string, run_node
from vla_ros.nodes.ros_params import declare_params, param, require_topic
from vla_ros.policy.controller import (
    ARM_JOINTS,
    FINGER_JOINTS,
    PANDA_JOINT_LOWER,
    PANDA_JOINT_UPPER,
    PANDA_JOINT_VELOCITY,
    ControllerConfig,
    Decision,
    quaternion_xyzw_to_matrix,
)
from vla_ros.policy.tick_phase import TickPhaseLock

if TYPE_CHECKING:  # loaded in `configure`, after the node is up, so that a bad checkpoint is a reported error
    from vla_ros.policy.controller import PolicyController, TransformFn
from vla_ros.rejections import RejectedInput
from vla_ros.topics import FRAMES, TOPICS

OUTPUTS = ("joint_trajectory", "forward_command", "twist")


@dataclass
class PolicyParams:
    """The node's ROS parameters; the control defaults come from `ControllerConfig`, their one home."""

    checkpoint: str = param("", "policy checkpoint directory (policy.pt + contract.json); "
                                "'' = the shipped models/policy")
    grounding_model: str = param("", "the grounding node's `model` (hub id or directory; '' = shipped): the command's "
                                     "text embedding must come from the model the policy was trained with")
    command_topic: str = param(TOPICS.command, "std_msgs/String commands in")
    joint_states_topic: str = param(TOPICS.joint_states, "sensor_msgs/JointState in (matched by joint name)")
    target_topic: str = param(TOPICS.grounding_target, "geometry_msgs/PointStamped 3-D target in (camera frame)")
    grounding_status_topic: str = param(TOPICS.grounding_status, "grounding JSON status in (found / not_found)")
    status_topic: str = param(TOPICS.policy_status, "JSON status out")
    output: str = param("joint_trajectory", "joint_trajectory (ros2_control joint_trajectory_controller), "
                                            "forward_command (Float64MultiArray: 7 joints + gripper m) or twist "
                                            "(TwistStamped for MoveIt Servo + gripper_topic)")
    joint_trajectory_topic: str = param(TOPICS.joint_trajectory, "JointTrajectory out (output=joint_trajectory)")
    joint_command_topic: str = param(TOPICS.joint_command, "Float64MultiArray out (output=forward_command)")
    twist_topic: str = param(TOPICS.servo_twist, "TwistStamped out (output=twist)")
    gripper_topic: str = param(TOPICS.policy_gripper, "std_msgs/Float64 gripper opening (m) out (output=twist, or "
                                                      "gripper_in_command false)")
    gripper_in_command: bool = param(True, "true: the finger joints (joint_trajectory) or the gripper opening "
                                           "(forward_command) ride in the arm command; false: the arm command has "
                                           "the 7 arm joints only and the opening goes to gripper_topic, for robots "
                                           "whose hand has its own controller (franka_ros2, MoveIt Panda configs)")
    base_frame: str = param(FRAMES.base, "robot base frame: the policy's frame, and the twist's frame_id")
    arm_joints: list = param(list(ARM_JOINTS), "the 7 arm joints in the policy's order (panda_joint1..7)")
    finger_joints: list = param(list(FINGER_JOINTS), "finger joints (each finger's distance from the centre, m)")
    control_rate_hz: float = param(ControllerConfig.control_rate_hz,
                                   "control rate, Hz: must be the rate the policy was trained at")
    joint_state_timeout_s: float = param(ControllerConfig.joint_state_timeout_s,
                                         "hold when the latest joint state arrived longer ago than this")
    target_timeout_s: float = param(ControllerConfig.target_timeout_s,
                                    "hold when the last target fix is older than this (<= 2 s, the oldest fix age the "
                                    "policy sees)")
    max_duration_s: float = param(ControllerConfig.max_duration_s,
                                  "give up on a command after this long (status done, 'timed out')")
    max_command_chars: int = param(ControllerConfig.max_command_chars,
                                   "longer commands are refused unparsed (not understood, counted)")
    joint_lower: list = param(list(PANDA_JOINT_LOWER), "lower joint position limits, rad (default: the Panda MJCF)")
    joint_upper: list = param(list(PANDA_JOINT_UPPER), "upper joint position limits, rad (default: the Panda MJCF)")
    joint_velocity_limit: list = param(list(PANDA_JOINT_VELOCITY), "joint speed limits, rad/s: each tick's target "
                                                                    "moves at most this times the period")
    gripper_max_opening_m: float = param(0.08, "largest gripper opening, m")
    camera_transform: str = param("auto", "auto (tf2 when installed, else the static pose below), tf or static")
    camera_position: list = param([0.0, 0.0, 0.0], "static camera optical frame position in base_frame, m "
                                                   "([0, 0, 0] = not set)")
    camera_quaternion_xyzw: list = param([0.0, 0.0, 0.0, 1.0], "static camera optical frame orientation in base_frame")
    camera_rotation: list = param([0.0], "static camera rotation, 9 values row-major (columns = optical x, y, z in "
                                         "base_frame); [0.0] = use camera_quaternion_xyzw")
    num_threads: int = param(1, "torch CPU threads for the policy and text encoder")
    phase_lock: bool = param(True, "move the control tick's phase (not its rate) to just after the camera frames' "
                                   "grounder fixes usually arrive, so a fix is acted on at once (tick_phase.py); "
                                   "off where fixes come at no steady phase")

    def validate(self) -> None:
        for name in ("command_topic", "joint_states_topic", "target_topic", "grounding_status_topic", "status_topic",
                     "joint_trajectory_topic", "joint_command_topic", "twist_topic", "gripper_topic"):
            require_topic(name, getattr(self, name))
        if self.output not in OUTPUTS:
            raise ValueError(f"output={self.output!r}: use {', '.join(OUTPUTS)}")
        if self.camera_transform not in ("auto", "tf", "static"):
            raise ValueError(f"camera_transform={self.camera_transform!r}: use auto, tf or static")
        if len(self.camera_position) != 3 or len(self.camera_quaternion_xyzw) != 4:
            raise ValueError("camera_position needs 3 values and camera_quaternion_xyzw 4")
        if len(self.camera_rotation) not in (1, 9):
            raise ValueError("camera_rotation needs 9 values (row-major) or [0.0]")
        if self.num_threads < 0:
            raise ValueError("num_threads must be >= 0")
        self.controller_config().validate()

    def static_camera(self) -> tuple[tuple[float, ...], np.ndarray] | tuple[None, None]:
        if not any(float(v) != 0.0 for v in self.camera_position):
            return None, None
        if len(self.camera_rotation) == 9:
            rot = np.asarray(self.camera_rotation, dtype=float).reshape(3, 3)
        else:
            rot = quaternion_xyzw_to_matrix(self.camera_quaternion_xyzw)
        return tuple(float(v) for v in self.camera_position), rot

    def controller_config(self) -> ControllerConfig:
        pos, rot = self.static_camera() if self.camera_transform != "tf" else (None, None)
        return ControllerConfig(
            control_rate_hz=self.control_rate_hz, joint_state_timeout_s=self.joint_state_timeout_s,
            target_timeout_s=self.target_timeout_s, max_duration_s=self.max_duration_s,
            max_command_chars=self.max_command_chars,
            arm_joints=tuple(self.arm_joints), finger_joints=tuple(self.finger_joints),
            joint_lower=tuple(float(v) for v in self.joint_lower),
            joint_upper=tuple(float(v) for v in self.joint_upper),
            joint_velocity_limit=tuple(float(v) for v in self.joint_velocity_limit),
            gripper_max_opening_m=self.gripper_max_opening_m, camera_position=pos, camera_rotation=rot)


class PolicyNode(ModelNode):
    """Lifecycle node around `PolicyController`: ROS messages in, the controller's decisions out at a fixed rate."""

    def __init__(self) -> None:
        super().__init__("policy")
        self.p = declare_params(self, PolicyParams)
        self.controller: PolicyController | None = None
        self.handles: list[tuple[Callable[[Any], Any], Any]] = []  # (destroy function, subscription/service/timer)
        self.phase: TickPhaseLock | None = None
        self.last_status_publish = 0.0

    # ---------------------------------------------------------------- lifecycle
    def load(self) -> None:
        import torch

        from vla_ros.paths import models_dir
        from vla_ros.policy.controller import PolicyController, load_policy, policy_act_fn
        from vla_ros.policy.language import TextEncoder
        from vla_ros.vocabulary import load_vocabulary
        from vla_sim.ee_control import ArmKinematics
        from vla_sim.scene import build_scene

        if self.p.num_threads > 0:
            torch.set_num_threads(self.p.num_threads)
        directory = self.p.checkpoint or str(models_dir() / "policy")
        vocab = load_vocabulary()
        policy, contract = load_policy(directory, self.p.control_rate_hz, self.p.grounding_model, vocab)
        encoder = TextEncoder(self.p.grounding_model)
        for cmd in vocab.all_commands():  # the first tick of a command then does not wait for the text tower
            encoder.embed(cmd.text)
        layout = contract.observation_layout()
        if encoder.dim != layout.text_dim:
            raise RuntimeError(f"grounding model {encoder.model_path} embeds text in {encoder.dim} values, the policy "
                               f"expects {layout.text_dim}: use the grounding model it was trained with")
        arm = ArmKinematics.from_scene(build_scene(vocab, max_render_size=64))
        self.scale_per_tick = float(contract.action["scale_per_tick_m"])
        transform = self.make_transform()
        config = self.p.controller_config()
        if transform is None and config.camera_position is None:
            raise RuntimeError("no camera -> base transform: tf2_ros is not installed (or camera_transform=static) and "
                               "the static pose is not set: set camera_position and camera_quaternion_xyzw (or "
                               "camera_rotation) to the camera optical frame's pose in " + self.p.base_frame)
        bbox = tuple(contract.perception_model.get("bbox_wh", (0.08, 0.08)))
        self.controller = PolicyController(config, policy_act_fn(policy), layout, encoder.embed, arm, vocab, transform,
                                           log=self.get_logger().warning, perception_bbox_wh=bbox)
        self.get_logger().info(f"policy {directory} ({contract.training.get('command', 'training command unknown')}), "
                               f"output {self.p.output}, camera transform "
                               f"{'tf2' if transform is not None else 'static'}")
        self.pub_status = self.create_lifecycle_publisher(String, self.p.status_topic, 10)
        if self.p.output == "joint_trajectory":
            self.pub_out = self.create_lifecycle_publisher(JointTrajectory, self.p.joint_trajectory_topic, 10)
        elif self.p.output == "forward_command":
            self.pub_out = self.create_lifecycle_publisher(Float64MultiArray, self.p.joint_command_topic, 10)
        else:
            self.pub_out = self.create_lifecycle_publisher(TwistStamped, self.p.twist_topic, 10)
        self.gripper_apart = self.p.output == "twist" or not self.p.gripper_in_command
        if self.gripper_apart:
            self.pub_gripper = self.create_lifecycle_publisher(Float64, self.p.gripper_topic, 10)

    def make_transform(self) -> TransformFn | None:
        """A tf2 lookup (camera frame -> base_frame) where tf2_ros imports and camera_transform allows; else None."""
        if self.p.camera_transform == "static":
            return None
        try:
            from rclpy.time import Time
            from tf2_ros import Buffer, TransformListener
        except ImportError:
            if self.p.camera_transform == "tf":
                raise RuntimeError("camera_transform=tf but tf2_ros is not installed")
            return None
        from vla_ros.policy.controller import quaternion_xyzw_to_matrix as to_matrix

        self.tf_buffer = Buffer()
        self.tf_listener = TransformListener(self.tf_buffer, self)

        def lookup(frame_id: str, stamp: float) -> tuple[np.ndarray, np.ndarray] | None:
            try:
                t = self.tf_buffer.lookup_transform(self.p.base_frame, frame_id, Time()).transform
            except Exception:  # tf2's lookup/extrapolation errors all mean "not now": the static pose or a rejection
                return None
            r = t.rotation
            return (np.array([t.translation.x, t.translation.y, t.translation.z]), to_matrix([r.x, r.y, r.z, r.w]))

        return lookup

    def start(self) -> None:
        period = 1.0 / self.p.control_rate_hz
        self.handles = [
            (self.destroy_subscription, self.create_subscription(String, self.p.command_topic, self.on_command, 10)),
            (self.destroy_subscription, self.create_subscription(JointState, self.p.joint_states_topic,
                                                                 self.on_joint_state, 10)),
            (self.destroy_subscription, self.create_subscription(PointStamped, self.p.target_topic,
                                                                 self.on_target, 10)),
            (self.destroy_subscription, self.create_subscription(String, self.p.grounding_status_topic,
                                                                 self.on_grounding_status, 10)),
            (self.destroy_service, self.create_service(Trigger, "~/stop", self.on_stop)),
        ]
        self.timer = self.create_timer(period, self.on_tick)
        self.handles.append((self.destroy_timer, self.timer))
        self.phase = TickPhaseLock(period) if self.p.phase_lock else None
        self.publish_status()

    def stop(self) -> None:
        if self.controller is not None:
            self.emit(self.controller.stop("node deactivated"))
            self.publish_status()
        for destroy, handle in self.handles:
            destroy(handle)
        self.handles = []

    def unload(self) -> None:
        self.controller = None

    # ---------------------------------------------------------------- inputs
    def on_command(self, msg: String) -> None:
        decision = self.controller.on_command(msg.data, time.monotonic())
        if decision is not None:
            self.emit(decision)
        text = msg.data if len(msg.data) <= 100 else f"{msg.data[:60]}... ({len(msg.data)} characters)"
        self.get_logger().info(f"command {text!r}: {self.controller.state} ({self.controller.reason})")
        self.publish_status()

    def on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.emit(self.controller.stop("stopped by the ~/stop service"))
        self.publish_status()
        response.success, response.message = True, "stopped"
        return response

    def on_joint_state(self, msg: JointState) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.controller.on_joint_state(msg.name, msg.position, msg.velocity, stamp, time.monotonic())

    def on_target(self, msg: PointStamped) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.controller.on_target((msg.point.x, msg.point.y, msg.point.z), stamp, msg.header.frame_id)

    def on_grounding_status(self, msg: String) -> None:
        try:
            status = json.loads(msg.data)
        except ValueError as exc:
            self.controller.rejections.reject("grounding_status", RejectedInput("not JSON", str(exc)))
            return
        now = self.get_clock().now().nanoseconds * 1e-9
        self.controller.on_grounding_status(status, time.monotonic(), now)
        stamp = status.get("stamp") if isinstance(status, dict) else None
        if self.phase is not None and isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            self.phase.observe(float(stamp), now)

    # ---------------------------------------------------------------- the tick
    def on_tick(self) -> None:
        t0 = time.monotonic()
        if self.phase is not None:
            period = self.phase.next_period(self.get_clock().now().nanoseconds * 1e-9)
            if round(period * 1e9) != self.timer.timer_period_ns:
                self.timer.timer_period_ns = round(period * 1e9)
        try:
            decision = self.controller.tick(t0)
        except Exception as exc:  # never crash with the arm moving: halt, say why, count it
            self.get_logger().error(f"control tick failed: {exc!r}")
            decision = self.controller.fault(exc)
        self.emit(decision)
        self.controller.record_tick(time.monotonic() - t0)
        changed = self.controller.take_changed()
        if changed or self.controller.episode is not None or t0 - self.last_status_publish >= 1.0:
            self.publish_status(now=t0)

    def emit(self, d: Decision) -> None:
        if not d.publish:
            return
        q, g = [float(v) for v in d.joint_targets], d.gripper_opening
        if self.gripper_apart and g is not None:
            self.pub_gripper.publish(Float64(data=float(g)))
            g = None
        if self.p.output == "joint_trajectory":
            names, positions = list(self.p.arm_joints), q
            if g is not None:  # each finger joint is one finger's distance from the centre
                names += list(self.p.finger_joints)
                positions = q + [g / 2.0] * len(self.p.finger_joints)
            period = 1.0 / self.p.control_rate_hz
            point = JointTrajectoryPoint(positions=positions, time_from_start=DurationMsg(
                sec=int(period), nanosec=int(round((period % 1.0) * 1e9))))
            self.pub_out.publish(JointTrajectory(joint_names=names, points=[point]))
        elif self.p.output == "forward_command":
            self.pub_out.publish(Float64MultiArray(data=q + ([g] if g is not None else [])))
        else:
            twist = TwistStamped()
            twist.header.stamp = self.get_clock().now().to_msg()
            twist.header.frame_id = self.p.base_frame
            if d.action is not None:  # a hold is a zero twist
                v = np.asarray(d.action[:3], dtype=float) * self.scale_per_tick * self.p.control_rate_hz
                twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = (float(x) for x in v)
            self.pub_out.publish(twist)

    def publish_status(self, now: float | None = None) -> None:
        self.last_status_publish = time.monotonic()
        status = self.controller.status(now if now is not None else time.monotonic())
        if self.phase is not None:
            status["tick_phase"] = self.phase.summary()
        self.pub_status.publish(json_string(status))


def main() -> int:
    """Entry point of `ros2 run vla_ros policy_node`."""
    return run_node(PolicyNode)


if __name__ == "__main__":
    raise SystemExit(main())
