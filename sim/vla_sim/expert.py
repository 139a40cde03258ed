"""`ScriptedExpert`: solves every verb from privileged state, in either action mode.

Why: it proves each task is solvable, gives demonstrations for behaviour cloning and a reference success
rate. It reads `info` (object poses, target id, command, ee position) and the env's kinematics, which a
deployed policy never has. Motions: pick = above, descend, close, lift; push = above a point behind the
target, descend with the gripper closed, sweep along the direction while tracking the target; touch = above,
descend onto the top. Each phase steers the grasp point towards a waypoint at most one action step away.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_sim.env import MAX_EE_STEP_M, MAX_JOINT_STEP_RAD, TabletopEnv
from vla_sim.task_sampler import DIRECTION_VECTORS

FINGERTIP_BELOW_SITE_M = 0.043  # the fingertip pads (which protrude inwards) sit this far below the grasp point


@dataclass(frozen=True)
class ExpertConfig:
    """Waypoint heights, tolerances and timings of the scripted expert (metres, control ticks)."""

    approach_height: float = 0.10  # above the object's top while moving over it
    grasp_min_z: float = 0.055  # grasp-point height that keeps the fingertips off the table
    lift_height: float = 0.15
    lift_step: float = 0.012
    pinch_below_centre_m: float = 0.006  # fingertips this far below the object's centre when closing
    push_standoff: float = 0.045  # gap between the object and the closed fingers before a push
    push_z: float = 0.06  # fingertips ~1 cm above the table
    push_lead: float = 0.03  # how far past the object's back face the waypoint leads
    close_steps: int = 6
    tolerance: float = 0.008
    grasp_xy_tolerance: float = 0.003
    settle_timeout_steps: int = 40
    empty_grip_m: float = 0.01  # closed fingers nearer than this hold nothing: re-grasp


class ScriptedExpert:
    """Privileged-state waypoint controller for pick, push and touch: the demonstrator and the upper baseline."""

    def __init__(self, env: TabletopEnv, config: ExpertConfig | None = None) -> None:
        self.env: TabletopEnv = env.unwrapped
        self.config = config or ExpertConfig()
        self.phase = "above"
        self.count = 0
        self._grasp = np.zeros(3)

    def reset(self) -> None:
        self.phase, self.count = "above", 0

    def act(self, info: dict) -> np.ndarray:
        """The next action (8,) float32 in the env's action space, from the latest `info`."""
        if self.env.steps == 0 and self.count > 0:
            self.reset()
        self.count += 1
        target = info["objects"][info["target_id"] - 1]
        cmd = info["command"]
        ee = np.asarray(info["ee_pos"])
        verb = cmd["verb"]
        if verb == "pick":
            wp, grip = self._pick(ee, target, float(info["gripper_opening"]))
        elif verb == "push":
            wp, grip = self._push(ee, target, np.array([*DIRECTION_VECTORS[cmd["direction"]], 0.0]))
        elif verb == "touch":
            wp, grip = self._touch(ee, target)
        else:
            raise ValueError(f"the expert cannot do verb {verb!r}")
        return self._action(wp, grip, _grasp_yaw(target))

    # ---------------------------------------------------------------- phases
    def _advance(self, phase: str) -> None:
        self.phase, self.count = phase, 0

    def _pick(self, ee: np.ndarray, obj: dict, opening: float) -> tuple[np.ndarray, float]:
        c, pos = self.config, np.asarray(obj["pos"])
        if self.phase in ("close", "lift") and self.count >= c.close_steps and opening < c.empty_grip_m:
            self._advance("above")  # the fingers met each other: nothing is held
        top = pos[2] + obj["half_height"]
        # Fingertips just below the object's centre: a cloned policy that closes a few mm high still pinches
        # a ball below its equator (6 mm instead of 3 mm: BC pick 297/300 vs 292/300 on validation seeds).
        grasp = np.array([pos[0], pos[1], max(pos[2] + FINGERTIP_BELOW_SITE_M - c.pinch_below_centre_m, c.grasp_min_z)])
        above = np.array([pos[0], pos[1], top + c.approach_height])
        if self.phase == "above":
            if _near(ee, above, 2 * c.tolerance):
                self._advance("descend")
            return above, 1.0
        if self.phase == "descend":
            # Close only when centred: an off-centre squeeze pops a ball or a turned block out sideways.
            centred = np.linalg.norm(ee[:2] - grasp[:2]) < c.grasp_xy_tolerance
            if (centred and abs(ee[2] - grasp[2]) < c.tolerance) or self.count > c.settle_timeout_steps:
                self._advance("close")
            return grasp, 1.0
        if self.phase == "close":
            if self.count == 1:
                self._grasp = grasp
            if self.count >= c.close_steps:
                self._advance("lift")
            return self._grasp, -1.0
        # Lift straight up from where the grasp closed (tracking the held object would chase it), at most
        # lift_step per tick so a pinched ball is not shaken out.
        return np.array([*self._grasp[:2], min(ee[2] + c.lift_step, self._grasp[2] + c.lift_height)]), -1.0

    def _push(self, ee: np.ndarray, obj: dict, u: np.ndarray) -> tuple[np.ndarray, float]:
        c, pos = self.config, np.asarray(obj["pos"])
        back = obj["footprint_radius"] + c.push_standoff + 0.012  # 0.012: half the closed fingers' thickness
        start = np.array([*(pos[:2] - back * u[:2]), c.push_z])
        if self.phase == "above":
            wp = start + [0.0, 0.0, c.approach_height]
            if _near(ee, wp, 2 * c.tolerance):
                self._advance("descend")
            return wp, -1.0
        if self.phase == "descend":
            if _near(ee, start, c.tolerance):
                self._advance("sweep")
            return start, -1.0
        lead = obj["footprint_radius"] + 0.012 - c.push_lead
        return np.array([*(pos[:2] - lead * u[:2]), c.push_z]), -1.0

    def _touch(self, ee: np.ndarray, obj: dict) -> tuple[np.ndarray, float]:
        c, pos = self.config, np.asarray(obj["pos"])
        top = pos[2] + obj["half_height"]
        above = np.array([pos[0], pos[1], top + c.approach_height])
        if self.phase == "above":
            if _near(ee, above, 2 * c.tolerance):
                self._advance("descend")
            return above, -1.0
        return np.array([pos[0], pos[1], top + FINGERTIP_BELOW_SITE_M - 0.015]), -1.0

    # ---------------------------------------------------------------- actions
    def _action(self, wp: np.ndarray, grip: float, yaw: float) -> np.ndarray:
        """Step the commanded grasp point (the one at the joint targets) towards `wp`, one tick at most."""
        env = self.env
        a = np.zeros(8, dtype=np.float32)
        a[7] = grip
        base = env.commanded_ee_pos()
        if env.config.action_mode == "ee_delta":
            a[:3] = np.clip((wp - base) / MAX_EE_STEP_M, -1.0, 1.0)
            return a
        q = env.solve_ik(base + np.clip(wp - base, -MAX_EE_STEP_M, MAX_EE_STEP_M), yaw=yaw).q
        a[:7] = np.clip((q - env.joint_targets) / MAX_JOINT_STEP_RAD, -1.0, 1.0)
        return a


def _near(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    return bool(np.linalg.norm(a - b) < tol)


def _grasp_yaw(obj: dict) -> float:
    """Hand yaw that lines the fingers up with a block's faces (0 for round objects)."""
    if obj["geom"] not in ("box", "ellipsoid"):
        return 0.0
    w, _, _, z = obj["quat"]
    yaw = 2.0 * np.arctan2(z, w)
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)
