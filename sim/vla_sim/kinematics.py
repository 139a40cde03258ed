"""Damped-least-squares inverse kinematics over a MuJoCo model, as pure functions.

Why here and pure: the env's `ee_delta` action mode and the ROS policy node (which turns a Cartesian delta
into a JointTrajectory for a real Panda) must do the same conversion. Every function takes the model and a
*scratch* MjData that it overwrites; the simulation's own MjData is never touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

# Hand pointing straight down, fingers closing along world y (columns: site x, y, z axes in the world);
# with this model it is reached with panda_joint7 near 0, mid-range, so yaw +-pi/2 stays within limits.
TOP_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]).T


@dataclass(frozen=True)
class IKResult:
    """What `solve_ik` found: the joint positions and how far they miss the target, so callers can judge it."""

    q: np.ndarray  # joint positions for the joints asked about, within limits
    pos_error: float  # metres, at the returned q
    rot_error: float  # radians (axis-angle magnitude), at the returned q; 0 when orientation was not asked for
    iterations: int

    def converged(self, pos_tol: float = 2e-3, rot_tol: float = 2e-2) -> bool:
        return self.pos_error <= pos_tol and self.rot_error <= rot_tol


def top_down(yaw: float = 0.0) -> np.ndarray:
    """Rotation of a top-down grasp turned by `yaw` about world z (what the expert and ee_delta mode hold)."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return rz @ TOP_DOWN


def forward_kinematics(model: mujoco.MjModel, scratch: mujoco.MjData, qpos_adr: np.ndarray, q: np.ndarray,
                       site_id: int) -> tuple[np.ndarray, np.ndarray]:
    """World position (3,) and rotation (3,3) of site `site_id` with joints at `q`."""
    scratch.qpos[qpos_adr] = q
    mujoco.mj_kinematics(model, scratch)
    return scratch.site_xpos[site_id].copy(), scratch.site_xmat[site_id].reshape(3, 3).copy()


def rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Small-angle rotation vector (world frame) that takes `current` towards `target`:
    0.5 * sum_i current[:, i] x target[:, i], written out (np.cross's per-call overhead dominates for 3-vectors)."""
    c, t = current, target
    return 0.5 * np.array([(c[1] * t[2] - c[2] * t[1]).sum(), (c[2] * t[0] - c[0] * t[2]).sum(),
                           (c[0] * t[1] - c[1] * t[0]).sum()])


def dls_step(jac: np.ndarray, err: np.ndarray, damping: float) -> np.ndarray:
    """Damped-least-squares step dq = J^T (J J^T + damping^2 I)^-1 err: well-behaved near singularities,
    unlike the pseudo-inverse."""
    jjt = jac @ jac.T
    return jac.T @ np.linalg.solve(jjt + damping**2 * np.eye(jjt.shape[0]), err)


def solve_ik(model: mujoco.MjModel, scratch: mujoco.MjData, site_id: int, qpos_adr: np.ndarray,
             dof_adr: np.ndarray, limits: np.ndarray, q_init: np.ndarray, target_pos: np.ndarray,
             target_rot: np.ndarray | None = None, iterations: int = 20, damping: float = 0.05,
             max_step: float = 0.25, rot_weight: float = 0.5, tol: float = 1e-4) -> IKResult:
    """Joint positions (within `limits`, (n,2)) that put the site at `target_pos` [and `target_rot`].

    Starts from `q_init` (the current arm state, so the answer stays on the same IK branch).
    """
    q = np.clip(np.asarray(q_init, dtype=float).copy(), limits[:, 0], limits[:, 1])
    jacp = np.zeros((3, model.nv))
    jacr = np.zeros((3, model.nv))
    pos_err = rot_err = np.zeros(3)
    it = 0
    for it in range(1, iterations + 1):
        pos, rot = forward_kinematics(model, scratch, qpos_adr, q, site_id)
        pos_err = target_pos - pos
        rot_err = rotation_error(rot, target_rot) if target_rot is not None else np.zeros(3)
        if np.linalg.norm(pos_err) < tol and np.linalg.norm(rot_err) < tol * 10:
            break
        mujoco.mj_comPos(model, scratch)
        mujoco.mj_jacSite(model, scratch, jacp, jacr, site_id)
        if target_rot is not None:
            jac = np.vstack([jacp[:, dof_adr], rot_weight * jacr[:, dof_adr]])
            err = np.concatenate([pos_err, rot_weight * rot_err])
        else:
            jac, err = jacp[:, dof_adr], pos_err
        dq = dls_step(jac, err, damping)
        norm = np.linalg.norm(dq)
        if norm > max_step:
            dq *= max_step / norm
        q = np.clip(q + dq, limits[:, 0], limits[:, 1])
    pos, rot = forward_kinematics(model, scratch, qpos_adr, q, site_id)
    rot_norm = float(np.linalg.norm(rotation_error(rot, target_rot))) if target_rot is not None else 0.0
    return IKResult(q, float(np.linalg.norm(target_pos - pos)), rot_norm, it)
