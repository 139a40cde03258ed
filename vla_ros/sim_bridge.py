"""The sim as a robot controller sees it: absolute joint targets in, joint states and camera frames out.

A ROS arm controller keeps the last commanded position until told otherwise; the Gymnasium env takes
per-step actions. This bridge keeps the commanded targets and re-applies them every control tick, and
turns the message-level vocabulary (joint names, finger joints, gripper opening) into `TabletopEnv`
calls. No rclpy here: the node converts messages, this converts semantics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_ros.rejections import RejectedInput

GRIPPER_KEY = "gripper"  # Float64MultiArray's 8th value: opening between the fingers, metres


@dataclass(frozen=True)
class SimStep:
    """What one control tick of the bridge returns: joint states and how the episode stands."""

    joint_pos: np.ndarray
    joint_vel: np.ndarray
    done: bool
    success: bool
    reason: str
    steps: int


class SimBridge:
    """`TabletopEnv` behind a controller-like interface: holds the latest joint targets and steps the env with them."""

    def __init__(self, image_size: int, min_objects: int, max_objects: int, max_episode_steps: int,
                 camera: str = "front") -> None:
        from vla_sim.env import ARM_JOINT_NAMES, FINGER_JOINT_NAMES, GRIPPER_MAX_OPENING_M, JOINT_NAMES, TabletopEnv

        self.env = TabletopEnv(image_size=image_size, obs_images=False, min_objects=min_objects,
                               max_objects=max_objects, max_episode_steps=max_episode_steps)
        self.camera = camera
        self.max_steps = max_episode_steps
        self.arm_joint_names: tuple[str, ...] = ARM_JOINT_NAMES
        self.finger_joint_names: tuple[str, ...] = FINGER_JOINT_NAMES
        self.joint_names: tuple[str, ...] = JOINT_NAMES
        self.accepted_names = frozenset((*JOINT_NAMES, GRIPPER_KEY))
        self.max_opening = GRIPPER_MAX_OPENING_M
        self.instruction = ""
        self._idle_action = np.zeros(8, dtype=np.float32)
        self._q_cmd = np.zeros(7)
        self._gripper_cmd = 0.0

    def reset(self, seed: int, command: str | None) -> str:
        _, info = self.env.reset(seed=seed, options={"command": command} if command else None)
        self.instruction = info["instruction"]
        self.hold()
        return self.instruction

    def hold(self) -> None:
        """Latch the current position as the target (no input, or input gone stale)."""
        q = self.env.joint_positions()
        self._q_cmd = q[:7].copy()
        self._gripper_cmd = float(self.env.gripper_opening())

    def set_targets(self, target: dict[str, float]) -> tuple[str, ...]:
        """Named absolute targets; joints not named keep their current command. Returns clipped names."""
        unknown = [n for n in target if n not in self.accepted_names]
        if unknown:
            raise RejectedInput("unknown joints", ", ".join(unknown))
        q = self._q_cmd.copy()
        for i, name in enumerate(self.arm_joint_names):
            if name in target:
                q[i] = target[name]
        gripper = self._gripper_cmd
        if GRIPPER_KEY in target:
            gripper = target[GRIPPER_KEY]
        fingers = [target[n] for n in self.finger_joint_names if n in target]
        if fingers:  # each finger joint is the distance of one finger from the centre
            gripper = 2.0 * float(np.mean(fingers))
        clipped = self.env.set_joint_targets(q, gripper)  # validates and clips; we keep the clipped command
        self._q_cmd = self.env.joint_targets
        self._gripper_cmd = float(np.clip(gripper, 0.0, self.max_opening))
        return clipped

    def step(self) -> SimStep:
        self.env.set_joint_targets(self._q_cmd, self._gripper_cmd)
        _, _, terminated, _, info = self.env.step(self._idle_action)
        steps = self.env.steps
        truncated = steps >= self.max_steps
        success = bool(info["is_success"])
        reason = "success" if success else (info["failure_reason"] or ("time limit" if truncated else ""))
        return SimStep(self.env.joint_positions(), self.env.joint_velocities(), terminated or truncated,
                       success, reason, steps)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        rgb = self.env.render_rgb(self.camera)
        depth = self.env.render_depth(self.camera)
        return rgb, depth.reshape(depth.shape[0], depth.shape[1])

    def render_side_view(self) -> np.ndarray:
        """The arm from its side (`vla_sim.env.SIDE_VIEW`), 320x240 rgb, for videos."""
        return self.env.render_side_view()

    def camera_info(self) -> Any:
        """Intrinsics and pose of the published camera (vla_sim.camera.CameraInfo)."""
        return self.env.camera_info(self.camera)
