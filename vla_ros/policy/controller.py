"""The policy node's logic without ROS: latest inputs in, one decision per control tick out.

`PolicyController` takes the command text, joint states, the grounder's 3-D target (camera optical frame) and
its status, and at the fixed control rate decides either to act (new arm joint position targets + gripper
opening) or to hold still, always with a reason. The policy is run exactly as in training (`PolicyEnv`):
the observation is `build_observation` over the same `TargetTracker` (advanced one control period per tick,
fed with the fixes that arrived since the last tick), proprioception from the measured joints (grasp point by
forward kinematics, gripper rate from the previous tick), the deterministic action is the clipped Gaussian
mean, and `vla_sim.ee_control.ee_delta_step` turns it into joint targets, the env's own conversion.

When it holds (and says why), in this order of precedence:
  - stopped: a stop command or `stop()`; it stays stopped until a new (moving) command arrives;
  - idle: no command yet, or the last one was not understood (the reason says what was wrong);
  - done: the task looks finished (rules below) or `max_duration_s` passed ("timed out"); until a new command;
  - holding: no joint states / gripper state, or older than `joint_state_timeout_s` (by arrival time);
    no target fix for this command yet ("target not found: ..." when the grounder said so, else "waiting");
    the last fix older than `target_timeout_s` (2 s = observation.MAX_AGE_S: the policy sees the fix's age,
    so brief misses are its job, longer ones are not). Holding resumes by itself when the inputs come back.
Bad input is rejected and counted (`rejected_inputs` in the status), never acted on: joint states with NaN or
missing joints, non-finite targets, grounder results with NaN or wrong types, results from an image older than
`target_timeout_s` by its stamp ("stale fix"), commands longer than `max_command_chars` (refused unparsed).
On the first held tick after acting the decision carries the measured arm position (and the last commanded
gripper opening, so a held object is not dropped) as the target, once; later held ticks publish nothing.

Limits: every commanded target is clipped to `joint_lower`/`joint_upper` and moves at most
`joint_velocity_limit * period` per tick from the previous command (both counted in the status).

Done rules, from what a robot can observe (no contact sensing; thresholds in `ControllerConfig`):
  - pick: the gripper closed on something (the last action closes, the opening stays between
    `grasp_min_opening_m` (0.01) and `grasp_max_opening_m` (0.075) and has stopped moving) and the grasp point
    has since risen >= `lift_m` (7 cm) above where it closed, for `done_ticks` (3) ticks in a row (the task
    asks for 5 cm of the object; a held object sags a little in the fingers, so the grasp point goes 2 cm further);
  - push: the tracked target has moved >= `push_m` (10 cm) along the commanded direction from its first fix;
  - touch: the grasp point is within `touch_xy_m` (3 cm) of the target horizontally and at most `touch_above_m`
    (2.5 cm) above the tracked target point (the grounder's point lies on the object's visible surface, ~1 cm
    below its top: so "within ~1.5 cm of the top"), or it is horizontally there and stalled (commanded >= 1 cm
    lower than it is, yet it went down less than `stall_m` (2 mm) since the last tick), for `done_ticks` ticks
    in a row.
Camera -> base: `transform(frame_id, stamp)` (the node fills it from tf2 where tf2_ros imports), else the
static `camera_position` + `camera_rotation` (columns = optical x, y, z in the base frame); a point is
position + rotation @ p, as `RealGrounderSource` maps it in evaluation.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vla_ros.policy.observation import MAX_AGE_S, Proprio, build_observation, command_ids
from vla_ros.policy.perception import Fix, TargetTracker
from vla_ros.rejections import RejectedInput, RejectionCounter
from vla_ros.vocabulary import Command, Vocabulary, load_vocabulary

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
# The Panda MJCF's joint ranges (vla_sim's model; a test checks they agree) and Franka's datasheet joint speeds.
PANDA_JOINT_LOWER = (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -1.6573, -2.8973)
PANDA_JOINT_UPPER = (2.8973, 1.7628, 2.8973, -0.4, 2.8973, 2.1127, 2.8973)
PANDA_JOINT_VELOCITY = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
GRIPPER_MAX_OPENING_M = 0.08

TransformFn = Callable[[str, float], "tuple[np.ndarray, np.ndarray] | None"]
ActFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class ControllerConfig:
    """The controller's rates, timeouts, joint limits, camera pose and done-rule thresholds (module docstring)."""

    control_rate_hz: float = 20.0
    joint_state_timeout_s: float = 0.25
    target_timeout_s: float = MAX_AGE_S
    max_duration_s: float = 15.0
    max_command_chars: int = 200  # longer commands are refused unparsed: parsing cost grows with the text
    arm_joints: tuple[str, ...] = ARM_JOINTS
    finger_joints: tuple[str, ...] = FINGER_JOINTS  # each finger's distance from the centre, m
    joint_lower: tuple[float, ...] = PANDA_JOINT_LOWER
    joint_upper: tuple[float, ...] = PANDA_JOINT_UPPER
    joint_velocity_limit: tuple[float, ...] = PANDA_JOINT_VELOCITY  # rad/s
    gripper_max_opening_m: float = GRIPPER_MAX_OPENING_M
    camera_position: tuple[float, ...] | None = None  # (3,) m, base frame; None: only the transform hook
    camera_rotation: Any = None  # (3, 3) columns = optical x, y, z in the base frame
    # done rules
    done_ticks: int = 3
    lift_m: float = 0.07
    grasp_min_opening_m: float = 0.01
    grasp_max_opening_m: float = 0.075
    push_m: float = 0.10
    touch_xy_m: float = 0.03
    touch_above_m: float = 0.025
    stall_m: float = 0.002  # the grasp point moved down less than this in a tick while commanded lower: stalled

    def validate(self) -> None:
        if not 1.0 <= self.control_rate_hz <= 1000.0:
            raise ValueError(f"control_rate_hz={self.control_rate_hz} must be in [1, 1000]")
        for name in ("joint_state_timeout_s", "target_timeout_s", "max_duration_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if self.max_command_chars < 1:
            raise ValueError("max_command_chars must be >= 1")
        if self.target_timeout_s > MAX_AGE_S:
            raise ValueError(f"target_timeout_s={self.target_timeout_s} is beyond the age the policy can see "
                             f"({MAX_AGE_S} s: older fixes all look alike to it)")
        if len(self.arm_joints) != 7 or len(set(self.arm_joints)) != 7:
            raise ValueError(f"arm_joints must be 7 distinct names, got {list(self.arm_joints)}")
        if len(self.finger_joints) not in (1, 2):
            raise ValueError("finger_joints must name one or two finger joints")
        for name in ("joint_lower", "joint_upper", "joint_velocity_limit"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.shape != (7,) or not np.all(np.isfinite(v)):
                raise ValueError(f"{name} must be 7 finite numbers, got {list(getattr(self, name))}")
        if not np.all(np.asarray(self.joint_lower) < np.asarray(self.joint_upper)):
            raise ValueError("joint_lower must be below joint_upper for every joint")
        if not np.all(np.asarray(self.joint_velocity_limit) > 0):
            raise ValueError("joint_velocity_limit must be > 0 for every joint")
        if not 0 < self.gripper_max_opening_m <= 0.5:
            raise ValueError("gripper_max_opening_m must be in (0, 0.5]")
        if self.camera_position is not None:
            p = np.asarray(self.camera_position, dtype=float)
            r = np.asarray(self.camera_rotation, dtype=float)
            if p.shape != (3,) or r.shape != (3, 3) or not np.all(np.isfinite(r)) or not np.all(np.isfinite(p)):
                raise ValueError("camera_position must be 3 numbers and camera_rotation a 3x3 matrix")
            if not np.allclose(r.T @ r, np.eye(3), atol=1e-4) or np.linalg.det(r) < 0:
                raise ValueError(f"camera_rotation is not a rotation matrix: {r.tolist()}")
        if self.done_ticks < 1:
            raise ValueError("done_ticks must be >= 1")

    @property
    def period(self) -> float:
        return 1.0 / self.control_rate_hz


def quaternion_xyzw_to_matrix(q: Sequence[float]) -> np.ndarray:
    """Unit quaternion (x, y, z, w), as geometry_msgs and tf2 write it, -> 3x3 rotation matrix."""
    x, y, z, w = (float(v) for v in q)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not n > 1e-9:
        raise ValueError(f"quaternion {list(q)} has no length")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@dataclass(frozen=True)
class Decision:
    """What to do this tick. `joint_targets` is not None exactly when something must be published: an action,
    or (once) the hold position. `action` is the policy's 4-D action when acting."""

    state: str
    reason: str
    joint_targets: np.ndarray | None = None
    gripper_opening: float | None = None
    action: np.ndarray | None = None

    @property
    def publish(self) -> bool:
        return self.joint_targets is not None

    @property
    def hold(self) -> bool:
        return self.state != "acting"


@dataclass
class _Joints:
    q: np.ndarray | None = None
    dq: np.ndarray | None = None
    stamp: float = -math.inf
    received: float = -math.inf
    gripper: float | None = None
    gripper_received: float = -math.inf


@dataclass
class _Episode:
    """Per-command state."""

    command: Command
    text: str
    ids: tuple[int, int]
    start: float
    embedding: np.ndarray | None = None  # computed at the first acting tick: a command flood embeds nothing
    tracker: TargetTracker = field(default_factory=TargetTracker)
    pending: list = field(default_factory=list)  # fixes that arrived since the last tick
    last_found: float = -math.inf  # arrival time of the last fix that found the target
    last_status: float = -math.inf  # arrival time of the grounder's last valid status for this command
    grounding: str = ""  # last grounder status for this command
    grounding_reason: str = ""
    first_fix: np.ndarray | None = None
    q_target: np.ndarray | None = None  # None: start from the measured position on the next acting tick
    q_cmd: np.ndarray | None = None  # last published arm targets
    gripper_cmd: float | None = None  # last published gripper opening
    gripper_prev: float = 0.0
    last_action: np.ndarray | None = None
    step: int = 0
    closed_z: float | None = None
    done_count: int = 0
    prev_ee: np.ndarray | None = None  # grasp point at the previous acting tick


def policy_act_fn(policy: Any) -> ActFn:
    """Deterministic action of an SB3 actor-critic (`modeling_vla.policy_act_fn`, as in evaluation)."""
    from vla_ros.policy.modeling_vla import policy_act_fn as act_fn

    return act_fn(policy)


def load_policy(directory: Path, control_rate_hz: float, grounding_model: str = "", vocab: Vocabulary | None = None):
    """(policy, contract) from a checkpoint directory, refused (ContractMismatch, naming each field) unless it was
    trained for this robot's joints, action, control rate, vocabulary and grounding model (its text embeddings)."""
    from vla_ros.policy.checkpoint import load_checkpoint, robot_contract
    from vla_ros.policy.language import model_fingerprint, vocabulary_hash

    expected = robot_contract()
    expected.update(control_hz=float(control_rate_hz), vocabulary_hash=vocabulary_hash(vocab or load_vocabulary()))
    fingerprint = model_fingerprint(grounding_model)
    if fingerprint["weights_sha256_16"] != "hub":  # a hub id cannot be hashed offline: compare its name only
        expected["grounding_model"] = fingerprint
    else:
        expected["grounding_model"] = {"model": fingerprint["model"]}
    return load_checkpoint(Path(directory), expected=expected)


class PolicyController:
    """The policy node without ROS: takes the latest inputs and decides, once per tick, to act or hold and why."""

    def __init__(self, config: ControllerConfig, act: ActFn, layout: Any, embed: Callable[[str], np.ndarray],
                 arm: Any, vocab: Vocabulary | None = None, transform: TransformFn | None = None,
                 log: Callable[[str], None] | None = None,
                 perception_bbox_wh: tuple[float, float] = (0.08, 0.08)) -> None:
        """`act`: obs -> 4-D action; `layout`: the checkpoint's ObservationLayout; `embed`: text -> embedding
        (TextEncoder.embed); `arm`: vla_sim.ee_control.ArmKinematics; `transform`: tf2 hook (may return None)."""
        config.validate()
        self.cfg = config
        self.act = act
        self.layout = layout
        self.embed = embed
        self.arm = arm
        self.vocab = vocab or load_vocabulary()
        self.transform = transform
        self.perception_bbox_wh = tuple(perception_bbox_wh)
        self.rejections = RejectionCounter(log=log or (lambda _m: None))
        self.lower = np.asarray(config.joint_lower, dtype=float)
        self.upper = np.asarray(config.joint_upper, dtype=float)
        self.max_step = np.asarray(config.joint_velocity_limit, dtype=float) * config.period
        self.joints = _Joints()
        self.episode: _Episode | None = None
        self.state = "idle"
        self.reason = "no command yet"
        self.holds: Counter = Counter()
        self.clipped: Counter = Counter()
        self.tick_times: list[float] = []
        self.tick_max = 0.0
        self.ticks = 0
        self.overruns = 0
        self.errors = 0
        self._last_target_msg: tuple[np.ndarray, float, str] | None = None
        self.last_episode: _Episode | None = None  # what the status reports after done / stop
        self._moving = False  # an action was published since the last hold
        self._changed = True
        self._key: tuple[str, str] = ("idle", "")

    # ------------------------------------------------------------------ inputs
    def on_command(self, text: str, now: float) -> Decision | None:
        """A new command. Returns a hold decision to publish at once when it halts a moving arm."""
        if len(text) > self.cfg.max_command_chars:  # refused before parsing: a huge text must not stall the loop
            self.rejections.reject("command", RejectedInput("too long", f"{len(text)} characters"))
            decision = self._halt("idle", f"not understood: command too long ({len(text)} characters, at most "
                                          f"{self.cfg.max_command_chars})")
            self.episode = None
            return decision
        text = " ".join(text.split())
        parsed = self.vocab.parse(text)
        if isinstance(parsed, Command) and parsed.is_stop:
            return self.stop(f"stopped by command {text!r}")
        if not isinstance(parsed, Command):
            decision = self._halt("idle", f"not understood: {parsed.reason} ({text!r})")
            self.episode = None
            return decision
        self.episode = self.last_episode = _Episode(parsed, text, command_ids(self.vocab, parsed), now)
        self._set_state("holding", f"waiting for a target fix for {parsed.target_phrase!r}", "no_target")
        return None

    def stop(self, reason: str = "stopped") -> Decision:
        """Halt at once; only a new command moves the arm again."""
        decision = self._halt("stopped", reason)
        self.episode = None
        return decision

    def fault(self, error: Exception) -> Decision:
        """A tick that raised: halt as a stop does (only a new command moves the arm again) and count it, so an
        unforeseen input can neither crash the node nor leave the arm moving."""
        self.errors += 1
        return self.stop(f"internal error, stopped: {type(error).__name__}: {error}")

    def on_joint_state(self, names: Sequence[str], positions: Sequence[float], velocities: Sequence[float] | None,
                       stamp: float, now: float) -> bool:
        """Joints matched by name; a message may carry the arm, the fingers or both. False if rejected."""
        try:
            names = list(names)
            pos = np.asarray(positions, dtype=np.float64)
            if len(set(names)) != len(names):
                raise RejectedInput("duplicate joint names", ", ".join(names))
            if pos.shape != (len(names),):
                raise RejectedInput("length mismatch", f"{len(names)} names, {pos.size} positions")
            vel = None if velocities is None or len(velocities) == 0 else np.asarray(velocities, dtype=np.float64)
            if vel is not None and vel.shape != pos.shape:
                raise RejectedInput("length mismatch", f"{len(names)} names, {vel.size} velocities")
            index = {n: i for i, n in enumerate(names)}
            arm = [index.get(n) for n in self.cfg.arm_joints]
            fingers = [index.get(n) for n in self.cfg.finger_joints]
            has_arm, has_fingers = any(i is not None for i in arm), all(i is not None for i in fingers)
            if not has_arm and not has_fingers:
                raise RejectedInput("missing joints", f"none of {list(self.cfg.arm_joints)} or the finger joints")
            if has_arm and None in arm:
                missing = [n for n, i in zip(self.cfg.arm_joints, arm) if i is None]
                raise RejectedInput("missing joints", ", ".join(missing))
            used = [i for i in (arm if has_arm else []) + (fingers if has_fingers else [])]
            if not np.all(np.isfinite(pos[used])) or (vel is not None and not np.all(np.isfinite(vel[used]))):
                raise RejectedInput("non-finite joint state")
        except RejectedInput as exc:
            self.rejections.reject("joint_states", exc)
            return False
        j = self.joints
        if has_arm:
            q = pos[arm]
            if vel is not None:
                dq = vel[arm]
            elif j.q is not None and stamp > j.stamp:  # no velocities published: finite differences
                dq = (q - j.q) / (stamp - j.stamp)
            else:
                dq = np.zeros(7)
            j.q, j.dq, j.stamp, j.received = q, dq, stamp, now
        if has_fingers:
            f = pos[fingers]
            j.gripper = float(f.sum()) if len(f) == 2 else 2.0 * float(f[0])
            j.gripper_received = now
        return True

    def on_target(self, point_camera: Sequence[float], stamp: float, frame_id: str = "") -> None:
        """The grounder's 3-D target (camera optical frame); used when its status for the same frame arrives."""
        p = np.asarray(point_camera, dtype=np.float64)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            self.rejections.reject("target", RejectedInput("not a finite 3-D point", str(list(point_camera))))
            return
        self._last_target_msg = (p, float(stamp), frame_id)

    def on_grounding_status(self, status: dict, now: float, clock_now: float | None = None) -> None:
        """Grounder results for the current command become tracker fixes (found) or misses (not_found).
        `clock_now`: the time on the clock the image stamps use (the node's ROS clock); a fix from an image older
        than `target_timeout_s` is rejected as stale (a delayed pipeline or a replayed status must not move the arm)."""
        if not isinstance(status, dict):
            self.rejections.reject("grounding_status", RejectedInput("not a JSON object", type(status).__name__))
            return
        ep = self.episode
        if ep is None or status.get("command") != ep.text:
            return
        try:  # a malformed status (NaN, wrong types) is rejected here, never passed on to the policy
            kind = str(status.get("status", ""))
            score = float(status.get("score") or 0.0)
            if not math.isfinite(score):
                raise RejectedInput("non-finite score", str(status.get("score")))
            point = None
            if kind == "found":
                stamp = float(status.get("stamp", math.nan))
                frame = str(status.get("frame_id", ""))
                if clock_now is not None and not clock_now - stamp <= self.cfg.target_timeout_s:  # NaN too
                    raise RejectedInput("stale fix", f"image stamp {clock_now - stamp:.2f} s old")
                msg = self._last_target_msg
                if msg is not None and abs(msg[1] - stamp) < 1e-6:
                    point, frame = msg[0], msg[2] or frame
                elif status.get("point_camera") is not None:
                    point = np.asarray(status["point_camera"], dtype=np.float64)
                    if point.shape != (3,) or not np.all(np.isfinite(point)):
                        raise RejectedInput("not a finite 3-D point", str(status["point_camera"]))
                bbox_wh = self._bbox_wh(status)
        except (TypeError, ValueError) as exc:
            error = exc if isinstance(exc, RejectedInput) else RejectedInput("malformed", str(exc))
            self.rejections.reject("grounding_status", error)
            return
        ep.grounding, ep.grounding_reason, ep.last_status = kind, str(status.get("reason") or ""), now
        if kind == "not_found":
            ep.pending.append(Fix(None, score))
            return
        if kind != "found":
            return
        if point is None:  # found in the image but no depth: no 3-D point, which the policy treats as a miss
            ep.pending.append(Fix(None, score))
            return
        base = self.camera_to_base(point, frame, stamp)
        if base is None:
            return
        ep.pending.append(Fix(base, score, bbox_wh))
        ep.last_found = now

    def camera_to_base(self, point: np.ndarray, frame_id: str = "", stamp: float = 0.0) -> np.ndarray | None:
        pose = self.transform(frame_id, stamp) if self.transform is not None else None
        if pose is None and self.cfg.camera_position is not None:
            pose = (np.asarray(self.cfg.camera_position, dtype=float),
                    np.asarray(self.cfg.camera_rotation, dtype=float))
        if pose is None:
            self.rejections.reject("target", RejectedInput("no camera transform", f"{frame_id or 'camera'} -> base"))
            return None
        return pose[0] + pose[1] @ np.asarray(point, dtype=float)

    def _bbox_wh(self, status: dict) -> tuple[float, float]:
        bbox, wh = status.get("bbox"), status.get("image_wh")
        if bbox and wh and len(bbox) == 4 and wh[0] > 0 and wh[1] > 0:
            u0, v0, u1, v1 = (float(v) for v in bbox)
            out = ((u1 - u0 + 1) / float(wh[0]), (v1 - v0 + 1) / float(wh[1]))
            if not all(math.isfinite(v) and v > 0 for v in out):
                raise RejectedInput("bad bbox", f"{bbox} in {wh}")
            return out
        return self.perception_bbox_wh  # no image size: what the perception model says is typical

    # ------------------------------------------------------------------ the tick
    def tick(self, now: float) -> Decision:
        ep = self.episode
        if ep is None:
            return Decision(self.state, self.reason)
        ep.tracker.advance(self.cfg.period)
        for fix in ep.pending:
            ep.tracker.update(fix)
            if fix.position is not None and ep.first_fix is None:
                ep.first_fix = ep.tracker.position.copy()
        ep.pending.clear()
        if now - ep.start > self.cfg.max_duration_s:
            return self._finish(f"timed out after {self.cfg.max_duration_s:g} s")
        why = self._hold_cause(ep, now)
        if why is not None:
            cause, reason = why
            self.holds[cause] += 1
            return self._halt("holding", reason, keep_episode=True, cause=cause)
        return self._act(ep)

    def _hold_cause(self, ep: _Episode, now: float) -> tuple[str, str] | None:
        j = self.joints
        if j.q is None:
            return "no_joint_states", "no joint states received"
        if now - j.received > self.cfg.joint_state_timeout_s:
            return "joint_states_stale", f"joint states stale ({now - j.received:.2f} s old)"
        if j.gripper is None:
            return "no_joint_states", f"no gripper joint states ({', '.join(self.cfg.finger_joints)})"
        if now - j.gripper_received > self.cfg.joint_state_timeout_s:
            return "joint_states_stale", f"gripper joint states stale ({now - j.gripper_received:.2f} s old)"
        if ep.tracker.position is None:
            if ep.grounding == "not_found":
                return "not_found", f"target not found: {ep.grounding_reason or ep.command.target_phrase}"
            if ep.grounding == "not_understood":
                return "not_found", f"the grounder did not understand it: {ep.grounding_reason}"
            return "no_target", f"waiting for a target fix for {ep.command.target_phrase!r}"
        age = now - ep.last_found
        if age > self.cfg.target_timeout_s:
            silent = now - ep.last_status
            said = f"grounder silent for {silent:.1f} s" if silent > self.cfg.target_timeout_s else \
                f"grounder: {ep.grounding}"
            return "target_stale", f"target lost: no fix for {age:.1f} s ({said})"
        return None

    def _act(self, ep: _Episode) -> Decision:
        from vla_sim.ee_control import ee_delta_step

        j = self.joints
        q, g = j.q, float(j.gripper)
        if ep.q_target is None:  # (re)starting: from where the arm is, as the env starts from rest
            ep.q_target, ep.q_cmd, ep.gripper_prev, ep.prev_ee = q.copy(), q.copy(), g, None
        ee = self.arm.ee_pos(q)
        obs = self.observation(ep, q, j.dq, g, ee)
        action = np.clip(np.asarray(self.act(obs), dtype=np.float64).reshape(4), -1.0, 1.0)
        q_new, finger = ee_delta_step(self.arm, ep.q_target, q, ee, action)
        q_safe = np.clip(q_new, self.lower, self.upper)
        if np.any(q_safe != q_new):
            self.clipped["position_limit"] += 1
        q_step = np.clip(q_safe, ep.q_cmd - self.max_step, ep.q_cmd + self.max_step)
        if np.any(q_step != q_safe):
            self.clipped["velocity_limit"] += 1
        opening = float(np.clip(2.0 * finger, 0.0, self.cfg.gripper_max_opening_m))
        ep.q_target, ep.q_cmd, ep.gripper_cmd = q_step, q_step.copy(), opening
        ep.gripper_prev, ep.last_action = g, action
        ep.step += 1
        self._moving = True
        done = self._done(ep, ee, g, action)
        ep.prev_ee = ee
        if done:
            return self._finish(done)
        self._set_state("acting", ep.text)
        return Decision("acting", self.reason, q_step.copy(), opening, action)

    def observation(self, ep: _Episode, q: np.ndarray, dq: np.ndarray, gripper: float, ee: np.ndarray) -> np.ndarray:
        """The policy's observation, as `PolicyEnv._obs` builds it."""
        if ep.embedding is None:
            ep.embedding = np.asarray(self.embed(ep.text), dtype=np.float32)
        proprio = Proprio(q, dq, gripper, (gripper - ep.gripper_prev) * self.cfg.control_rate_hz, ee)
        return build_observation(self.layout, ep.embedding, ep.ids, ep.tracker.fix(), proprio)

    # ------------------------------------------------------------------ done rules
    def _done(self, ep: _Episode, ee: np.ndarray, g: float, action: np.ndarray) -> str | None:
        c, target = self.cfg, ep.tracker.position
        verb = ep.command.verb
        hit = False
        reason = ""
        if verb == "pick":
            rate = abs(g - ep.gripper_prev) * c.control_rate_hz
            closed = action[3] < 0 and c.grasp_min_opening_m <= g <= c.grasp_max_opening_m
            if not closed:
                ep.closed_z = None
            elif ep.closed_z is None and rate < 0.02:
                ep.closed_z = float(ee[2])
            hit = ep.closed_z is not None and ee[2] - ep.closed_z >= c.lift_m
            reason = f"picked up: gripper closed at {g * 100:.1f} cm and lifted {c.lift_m * 100:g}+ cm"
        elif verb == "push" and target is not None and ep.first_fix is not None:
            from vla_sim.task_sampler import DIRECTION_VECTORS

            u = np.asarray(DIRECTION_VECTORS[ep.command.direction], dtype=float)
            moved = float((target[:2] - ep.first_fix[:2]) @ u)
            if moved >= c.push_m:
                return f"pushed: the target moved {moved * 100:.0f} cm {ep.command.direction}"
        elif verb == "touch" and target is not None:
            near = float(np.hypot(*(ee[:2] - target[:2]))) <= c.touch_xy_m
            low = ee[2] - target[2] <= c.touch_above_m
            commanded_z = self.arm.ee_pos(ep.q_target)[2]
            descending = ep.prev_ee is not None and ep.prev_ee[2] - ee[2] >= c.stall_m
            stalled = commanded_z <= ee[2] - 0.01 and action[2] <= 0.0 and ep.prev_ee is not None and not descending
            hit = near and (low or stalled)
            reason = "touched: the grasp point reached the target" if low else "touched: stalled against the target"
        ep.done_count = ep.done_count + 1 if hit else 0
        return reason if ep.done_count >= c.done_ticks else None

    # ------------------------------------------------------------------ state
    def _finish(self, reason: str) -> Decision:
        decision = self._halt("done", reason, keep_episode=True)
        self.episode = None
        return decision

    def _halt(self, state: str, reason: str, keep_episode: bool = False, cause: str = "") -> Decision:
        """Hold still: the measured position as the target once, if the arm was being moved."""
        ep = self.episode
        self._set_state(state, reason, cause)
        if ep is not None and keep_episode:
            ep.q_target = None  # resume from where the arm stopped
        if not self._moving or self.joints.q is None:
            return Decision(state, reason)
        self._moving = False
        gripper = ep.gripper_cmd if ep is not None and ep.gripper_cmd is not None else self.joints.gripper
        return Decision(state, reason, self.joints.q.copy(), None if gripper is None else float(gripper))

    def _set_state(self, state: str, reason: str, cause: str = "") -> None:
        """`cause` (a stable key) instead of the reason decides what counts as a change, for reasons with numbers."""
        key = (state, cause or reason)
        if key != self._key:
            self._changed = True
        self._key = key
        self.state, self.reason = state, reason

    def take_changed(self) -> bool:
        """Whether the state or reason changed since the last call (the node publishes its status then)."""
        changed, self._changed = self._changed, False
        return changed

    def record_tick(self, duration_s: float) -> None:
        self.ticks += 1
        self.tick_times.append(duration_s)
        del self.tick_times[:-100]
        self.tick_max = max(self.tick_max, duration_s)
        if duration_s > self.cfg.period:
            self.overruns += 1

    def status(self, now: float | None = None) -> dict:
        ep = self.episode or self.last_episode
        if self.state in ("idle",) and self.episode is None:
            ep = None
        out: dict[str, Any] = {"state": self.state, "reason": self.reason, "time": time.time(),
                               "holds": dict(self.holds), "clipped": dict(self.clipped),
                               "rejected_inputs": self.rejections.as_dict(), "ticks": self.ticks,
                               "overruns": self.overruns, "errors": self.errors}
        if self.tick_times:
            out["tick_ms"] = {"last": round(self.tick_times[-1] * 1e3, 3),
                              "mean": round(float(np.mean(self.tick_times)) * 1e3, 3),
                              "max": round(self.tick_max * 1e3, 3)}
        if ep is not None:
            fix = ep.tracker.fix()
            out.update(command=ep.text, verb=ep.command.verb, step=ep.step, grounding=ep.grounding,
                       target=None if fix.position is None else [round(float(v), 4) for v in fix.position],
                       target_age_s=round(float(fix.age_s), 3))
            if now is not None and self.episode is not None:
                out["elapsed_s"] = round(now - ep.start, 3)
            if ep.last_action is not None:
                out["action"] = [round(float(v), 4) for v in ep.last_action]
        return out
