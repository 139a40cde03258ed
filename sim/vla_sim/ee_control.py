"""The `ee_delta` action -> joint position targets, defined once for the env and the ROS policy node.

`TabletopEnv.step` (training) and `vla_ros.policy.controller` (the policy node on a robot or the sim) both
call `ee_delta_step`, so a deployed policy's action is turned into exactly the joint targets it was trained
with. Pure: no rclpy, no simulation state; the only thing written is the `ArmKinematics.scratch` MjData.

Per tick, given the current joint targets q_target and the measured joints q (and grasp point):
  1. the commanded grasp point = FK(q_target), kept within MAX_EE_LEAD_M of the measured grasp point;
  2. add a[0:3] * MAX_EE_STEP_M and clip to EE_BOUNDS;
  3. one warm-started damped-least-squares IK iteration from q_target, hand pointing down at yaw 0;
  4. scale the whole joint step so no joint moves more than EE_MAX_JOINT_STEP_RAD;
  5. keep the targets within MAX_TARGET_LEAD_RAD of q and within the joint limits.
The gripper a[3] maps linearly: -1 closed .. +1 open, returned as each finger's distance from the centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_sim.kinematics import forward_kinematics, solve_ik, top_down

MAX_EE_STEP_M = 0.03
MAX_EE_LEAD_M = 0.05
MAX_TARGET_LEAD_RAD = 0.3
IK_ITERATIONS_PER_TICK = 1  # warm-started from the last targets; residuals are corrected on the next tick
EE_MAX_JOINT_STEP_RAD = 0.04  # per tick (0.8 rad/s): below the ~0.87 rad/s the MJCF's damping allows
EE_BOUNDS = np.array([[0.15, 0.80], [-0.50, 0.50], [0.005, 0.55]])  # x, y, z of the grasp point, metres


@dataclass
class ArmKinematics:
    """What FK/IK of the arm needs: the model, a scratch MjData it may overwrite, and indices into them."""

    model: mujoco.MjModel
    scratch: mujoco.MjData
    ee_site: int
    qpos_adr: np.ndarray  # (7,)
    dof_adr: np.ndarray  # (7,)
    limits: np.ndarray  # (7, 2) joint position limits, rad
    finger_max: float  # one finger's largest distance from the centre, m (half the largest opening)

    @classmethod
    def from_scene(cls, scene, scratch: mujoco.MjData | None = None) -> "ArmKinematics":
        """From a `vla_sim.scene.Scene` (a fresh scratch MjData unless one is given)."""
        return cls(scene.model, scratch if scratch is not None else mujoco.MjData(scene.model), scene.ee_site,
                   scene.arm_qpos_adr, scene.arm_dof_adr, scene.arm_limits, float(scene.finger_limits[1]))

    def ee_pos(self, q: np.ndarray) -> np.ndarray:
        """Grasp-point position (base frame) with the arm at q."""
        return forward_kinematics(self.model, self.scratch, self.qpos_adr, q, self.ee_site)[0]


def commanded_ee_pos(arm: ArmKinematics, q_target: np.ndarray, ee_measured: np.ndarray) -> np.ndarray:
    """What ee_delta actions add to: the grasp point at the current joint targets, kept within
    MAX_EE_LEAD_M of the measured one so a fast command cannot run far ahead and bend the path."""
    target = forward_kinematics(arm.model, arm.scratch, arm.qpos_adr, q_target, arm.ee_site)[0]
    return ee_measured + np.clip(target - ee_measured, -MAX_EE_LEAD_M, MAX_EE_LEAD_M)


def ee_target_to_joints(arm: ArmKinematics, q_init: np.ndarray, target_pos: np.ndarray,
                        iterations: int = IK_ITERATIONS_PER_TICK) -> np.ndarray:
    """Joint targets that put the grasp point at `target_pos` (clipped to EE_BOUNDS), hand pointing down."""
    target = np.clip(target_pos, EE_BOUNDS[:, 0], EE_BOUNDS[:, 1])
    return solve_ik(arm.model, arm.scratch, arm.ee_site, arm.qpos_adr, arm.dof_adr, arm.limits, q_init,
                    np.asarray(target, dtype=np.float64), top_down(0.0), iterations=iterations).q


def limit_targets(arm: ArmKinematics, q: np.ndarray, q_measured: np.ndarray) -> np.ndarray:
    """Targets within MAX_TARGET_LEAD_RAD of the measured joints and within the joint limits."""
    q = np.clip(q, q_measured - MAX_TARGET_LEAD_RAD, q_measured + MAX_TARGET_LEAD_RAD)
    return np.clip(q, arm.limits[:, 0], arm.limits[:, 1])


def gripper_finger_target(arm: ArmKinematics, a_gripper: float) -> float:
    """Gripper action (-1 closed .. +1 open) -> each finger's distance from the centre, m."""
    return (a_gripper + 1.0) / 2.0 * arm.finger_max


def ee_delta_step(arm: ArmKinematics, q_target: np.ndarray, q_measured: np.ndarray, ee_measured: np.ndarray,
                  action: np.ndarray) -> tuple[np.ndarray, float]:
    """One control tick: (new joint targets (7,), finger target m) for action (dx, dy, dz, gripper) in [-1, 1]
    (clipped here). `ee_measured` is the measured grasp point (the env's site position; FK(q_measured) on a robot)."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    ee_target = commanded_ee_pos(arm, q_target, ee_measured) + a[:3] * MAX_EE_STEP_M
    dq = ee_target_to_joints(arm, q_target, ee_target) - q_target
    # Scale the whole joint step so no joint outruns what the damped servos follow: joints then lag in
    # proportion and the grasp point moves along the commanded line.
    q_new = q_target + dq * min(1.0, EE_MAX_JOINT_STEP_RAD / max(np.abs(dq).max(), 1e-9))
    return limit_targets(arm, q_new, q_measured), gripper_finger_target(arm, a[3])
