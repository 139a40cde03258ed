"""The MuJoCo tabletop as a ROS 2 robot: publishes what a real arm and RGB-D camera would.

Publishes `JointState` (panda_joint1..7, panda_finger_joint1/2) at the control rate, and rgb8 `Image`,
32FC1 depth `Image` and `CameraInfo` with one shared stamp at the camera rate. Consumes joint position
targets as `trajectory_msgs/JointTrajectory` (joints matched by name; the last point is the target) or
`std_msgs/Float64MultiArray` (7 arm joint positions in panda_joint1..7 order, optionally + 1 gripper
opening in metres). Malformed actions are rejected and counted; out-of-limit targets are clipped by the
sim; with no action for `action_timeout_s` the arm holds its position.
Resets: `~/reset` (std_srvs/Trigger: next seeded task) or a JSON String on `~/reset_to`
({"seed": 3, "command": "pick up the blue block"}). The task instruction is published (latched) on the
instruction topic and each episode's outcome as JSON on the outcome topic (once per episode), for evaluation.
With `side_view_rate_hz` > 0 it also publishes the arm seen from its side (rgb8, no CameraInfo: a picture for
videos and viewers, not a sensor). MuJoCo's OpenGL backend is chosen for a headless machine on import of vla_sim
(`vla_sim.gl`: EGL, else OSMesa, unless MUJOCO_GL or a display is set); the start-up log says which.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from vla_ros.image_conversion import numpy_to_image
from vla_ros.joint_state import sample_to_joint_state
from vla_ros.nodes.node_runtime import LATCHED_QOS, json_string, run_node
from vla_ros.nodes.ros_params import declare_params, param, require_topic
from vla_ros.rejections import RejectedInput, RejectionCounter
from vla_ros.topics import FRAMES, TOPICS

if TYPE_CHECKING:  # MuJoCo and the env load in make_sim, after the parameters are checked
    from builtin_interfaces.msg import Time

    from vla_ros.sim_bridge import SimBridge, SimStep
    from vla_sim.camera import CameraInfo as SimCameraInfo


@dataclass
class SimParams:
    """The sim node's ROS parameters: topics and frames, rates, image size and how episodes are drawn."""

    image_topic: str = param(TOPICS.image, "rgb8 colour image out")
    depth_topic: str = param(TOPICS.depth, "32FC1 depth (metres) out, aligned to colour")
    camera_info_topic: str = param(TOPICS.camera_info, "CameraInfo of the colour/depth camera")
    joint_states_topic: str = param(TOPICS.joint_states, "JointState out")
    joint_trajectory_topic: str = param(TOPICS.joint_trajectory, "JointTrajectory in (position targets)")
    joint_command_topic: str = param(TOPICS.joint_command, "Float64MultiArray in: 7 joint positions [+ gripper m]")
    instruction_topic: str = param(TOPICS.sim_instruction, "the current task's instruction (latched)")
    outcome_topic: str = param(TOPICS.sim_outcome, "JSON outcome of each episode")
    side_view_topic: str = param(TOPICS.sim_side_view, "rgb8 side view of the arm out (side_view_rate_hz > 0)")
    side_view_rate_hz: float = param(0.0, "side view publish rate, Hz (0 = off; each frame costs a render)")
    camera_frame_id: str = param(FRAMES.camera_optical, "frame_id of images and CameraInfo")
    base_frame_id: str = param(FRAMES.base, "frame_id of JointState")
    control_rate_hz: float = param(20.0, "control (physics step) rate, Hz")
    camera_rate_hz: float = param(10.0, "camera publish rate, Hz (render cost is paid only then)")
    image_size: int = param(224, "square image size in pixels")
    seed: int = param(0, "seed of the first episode; episode k uses seed + k")
    command: str = param("", "fixed task for every episode (empty: sampled from the vocabulary)")
    min_objects: int = param(2, "fewest objects on the table")
    max_objects: int = param(4, "most objects on the table")
    max_episode_steps: int = param(300, "episode time limit in control ticks (300 = 15 s at 20 Hz)")
    auto_reset: bool = param(True, "start the next seeded episode when one ends")
    action_timeout_s: float = param(0.5, "hold still when no action arrived for this long")

    def validate(self) -> None:
        for name in ("image_topic", "depth_topic", "camera_info_topic", "joint_states_topic",
                     "joint_trajectory_topic", "joint_command_topic", "instruction_topic", "outcome_topic",
                     "side_view_topic"):
            require_topic(name, getattr(self, name))
        if not 1.0 <= self.control_rate_hz <= 1000.0:
            raise ValueError(f"control_rate_hz={self.control_rate_hz} must be in [1, 1000]")
        if not 0.0 < self.camera_rate_hz <= self.control_rate_hz:
            raise ValueError("camera_rate_hz must be > 0 and <= control_rate_hz")
        if not 0.0 <= self.side_view_rate_hz <= self.control_rate_hz:
            raise ValueError("side_view_rate_hz must be >= 0 (0 = off) and <= control_rate_hz")
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size={self.image_size} must be in [32, 1024]")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError("need 1 <= min_objects <= max_objects")
        if self.action_timeout_s <= 0:
            raise ValueError("action_timeout_s must be > 0")


class SimNode(Node):
    """The simulated robot: steps `SimBridge` at the control rate, takes joint commands, publishes joint states,
    camera frames and each episode's outcome, as a real arm and camera would."""

    def __init__(self) -> None:
        super().__init__("sim")
        self.p = declare_params(self, SimParams)
        from vla_sim.gl import select_gl_backend

        gl = select_gl_backend()
        self.get_logger().info(f"MuJoCo OpenGL backend: {gl.backend or 'none'} ({gl.reason})")
        self.rejections = RejectionCounter(log=self.get_logger().warning)
        self.sim = make_sim(self.p)
        self.episode = 0
        self.last_action_time = -np.inf
        self.camera_period_ticks = max(1, round(self.p.control_rate_hz / self.p.camera_rate_hz))
        self.side_view_period_ticks = (max(1, round(self.p.control_rate_hz / self.p.side_view_rate_hz))
                                       if self.p.side_view_rate_hz > 0 else 0)
        self.tick = 0
        self.holding = True
        self.outcome_sent = False

        self.pub_rgb = self.create_publisher(Image, self.p.image_topic, qos_profile_sensor_data)
        self.pub_depth = self.create_publisher(Image, self.p.depth_topic, qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, self.p.camera_info_topic, qos_profile_sensor_data)
        self.pub_joints = self.create_publisher(JointState, self.p.joint_states_topic, 10)
        self.pub_instruction = self.create_publisher(String, self.p.instruction_topic, LATCHED_QOS)
        self.pub_outcome = self.create_publisher(String, self.p.outcome_topic, 10)
        self.pub_side = (self.create_publisher(Image, self.p.side_view_topic, qos_profile_sensor_data)
                         if self.side_view_period_ticks else None)
        self.create_subscription(JointTrajectory, self.p.joint_trajectory_topic, self.on_trajectory, 10)
        self.create_subscription(Float64MultiArray, self.p.joint_command_topic, self.on_command, 10)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.create_subscription(String, "~/reset_to", self.on_reset_to, 10)

        self.reset(self.p.seed, self.p.command or None)
        self.timer = self.create_timer(1.0 / self.p.control_rate_hz, self.on_tick)

    # ---------------------------------------------------------------- episodes
    def reset(self, seed: int, command: str | None) -> str:
        instruction = self.sim.reset(seed, command)
        self.episode_seed = seed
        self.episode_start = time.monotonic()
        self.last_action_time = -np.inf
        self.outcome_sent = False
        self.pub_instruction.publish(String(data=instruction))
        self.get_logger().info(f"episode {self.episode} (seed {seed}): {instruction!r}")
        return instruction

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.episode += 1
        response.message = self.reset(self.p.seed + self.episode, self.p.command or None)
        response.success = True
        return response

    def on_reset_to(self, msg: String) -> None:
        try:
            req = json.loads(msg.data)
            seed = int(req.get("seed", self.p.seed + self.episode + 1))
            command = req.get("command") or None
            self.episode += 1
            self.reset(seed, command)
        except (ValueError, TypeError, AttributeError) as exc:
            self.rejections.reject("reset_to", RejectedInput("bad reset request", str(exc)))

    # ---------------------------------------------------------------- actions in
    def on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            if not msg.points:
                raise RejectedInput("empty trajectory")
            target = dict(zip(msg.joint_names, msg.points[-1].positions))
            if len(target) != len(msg.joint_names) or len(msg.points[-1].positions) != len(msg.joint_names):
                raise RejectedInput("length mismatch", "joint_names and positions differ")
            self.apply_targets(target)
        except RejectedInput as exc:
            self.rejections.reject("joint_trajectory", exc)

    def on_command(self, msg: Float64MultiArray) -> None:
        values = list(msg.data)
        arm = self.sim.arm_joint_names
        try:
            if len(values) not in (len(arm), len(arm) + 1):
                raise RejectedInput("wrong length", f"{len(values)} values, expected {len(arm)} or {len(arm) + 1}")
            target = dict(zip(arm, values))
            if len(values) == len(arm) + 1:
                target["gripper"] = values[-1]
            self.apply_targets(target)
        except RejectedInput as exc:
            self.rejections.reject("joint_command", exc)

    def apply_targets(self, target: dict[str, float]) -> None:
        values = np.array(list(target.values()), dtype=float)
        if not np.all(np.isfinite(values)):
            raise RejectedInput("non-finite target")
        clipped = self.sim.set_targets(target)
        if clipped:
            self.rejections.reject("joint_targets", RejectedInput("clipped to limits", ", ".join(clipped)))
        self.last_action_time = time.monotonic()

    # ---------------------------------------------------------------- the loop
    def on_tick(self) -> None:
        stale = time.monotonic() - self.last_action_time > self.p.action_timeout_s
        if stale and not self.holding:
            self.sim.hold()
        self.holding = stale
        step = self.sim.step()
        stamp = self.get_clock().now().to_msg()
        self.pub_joints.publish(sample_to_joint_state(self.sim.joint_names, step.joint_pos, step.joint_vel,
                                                      stamp, self.p.base_frame_id))
        if self.tick % self.camera_period_ticks == 0:
            self.publish_camera(stamp)
        if self.pub_side is not None and self.tick % self.side_view_period_ticks == 0:
            self.pub_side.publish(numpy_to_image(self.sim.render_side_view(), "rgb8", self.p.base_frame_id, stamp))
        self.tick += 1
        if step.done and not self.outcome_sent:  # without auto_reset the world stays as it ended: report it once
            self.publish_outcome(step)
            self.outcome_sent = True
            if self.p.auto_reset:
                self.episode += 1
                self.reset(self.p.seed + self.episode, self.p.command or None)

    def publish_camera(self, stamp: Time) -> None:
        rgb, depth = self.sim.render()
        frame = self.p.camera_frame_id
        # CameraInfo and depth first: a consumer that works per colour frame then finds their match waiting.
        self.pub_info.publish(camera_info_msg(self.sim.camera_info(), frame, stamp))
        self.pub_depth.publish(numpy_to_image(depth.astype(np.float32), "32FC1", frame, stamp))
        self.pub_rgb.publish(numpy_to_image(rgb, "rgb8", frame, stamp))

    def publish_outcome(self, step: SimStep) -> None:
        outcome = {"episode": self.episode, "seed": self.episode_seed, "instruction": self.sim.instruction,
                   "success": bool(step.success), "reason": step.reason, "steps": step.steps,
                   "duration_s": round(time.monotonic() - self.episode_start, 3),
                   "rejected_inputs": self.rejections.as_dict()}
        self.pub_outcome.publish(json_string(outcome))
        self.get_logger().info(f"episode {self.episode} {'succeeded' if step.success else 'failed'}: {step.reason}")


def camera_info_msg(info: SimCameraInfo, frame_id: str, stamp: Time) -> CameraInfo:
    """Pinhole intrinsics -> CameraInfo (no distortion: the sim camera is ideal)."""
    msg = CameraInfo(width=info.width, height=info.height, distortion_model="plumb_bob")
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.d = [0.0] * 5
    msg.k = [float(x) for x in info.k.reshape(-1)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [info.fx, 0.0, info.cx, 0.0, 0.0, info.fy, info.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def make_sim(p: SimParams) -> SimBridge:
    """The `SimBridge` the node drives, built from its parameters."""
    from vla_ros.sim_bridge import SimBridge

    return SimBridge(image_size=p.image_size, min_objects=p.min_objects, max_objects=p.max_objects,
                     max_episode_steps=p.max_episode_steps)


def main() -> int:
    """Entry point of the `sim_node` executable."""
    return run_node(SimNode)


if __name__ == "__main__":
    raise SystemExit(main())
