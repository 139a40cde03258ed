"""`TabletopEnv`: the Franka Panda tabletop as a Gymnasium env ("vla_sim/Tabletop-v0").

Action contract (also as data: `ACTION_SPEC`), 20 Hz control, physics substeps underneath:
  action = float32 Box(-1, 1, shape=(8,)).
  - action_mode "joint_delta" (default): a[0:7] are position-target deltas for panda_joint1..7 in that order,
    scaled by MAX_JOINT_STEP_RAD (0.05 rad per tick = 1 rad/s at full scale). The target accumulates, is
    clipped to the MJCF joint ranges and kept within MAX_TARGET_LEAD_RAD of the measured position.
  - action_mode "ee_delta": a[0:3] = (dx, dy, dz) of the grasp point in the robot base (= world) frame,
    scaled by MAX_EE_STEP_M (0.03 m per tick = 0.6 m/s), added to the grasp point at the current joint
    targets (so it integrates like joint_delta, at most MAX_EE_LEAD_M ahead of the measured one) and
    clipped to EE_BOUNDS; the hand is held pointing down at yaw 0. Damped-least-squares IK
    (`vla_sim.kinematics`) turns it into joint position targets, whose step is scaled so no joint moves more
    than EE_MAX_JOINT_STEP_RAD per tick (the MJCF's joint damping caps joint speed near 0.9 rad/s; within that
    the grasp point follows a straight line).
    a[3:7] are ignored in this mode.
  - a[7] (both modes) is the gripper: -1 = closed, +1 = fully open (0.08 m between the fingers), linear.
  A non-finite action or one of the wrong shape is a ValueError.
  Absolute targets (the ROS sim node's path, like a joint position controller): once `set_joint_targets(q,
  gripper)` or `hold()` has been called in an episode, every step() keeps the latest absolute targets and
  ignores its action argument (still validated) until the next reset().

Observations (Dict): rgb (H,W,3) uint8 and depth (H,W,1) float32 metres from `camera` (omitted when
obs_images=False), joint_pos/joint_vel (7), gripper (1,) finger opening in metres, instruction (Text) and
command_ids (verb, colour, shape, direction indices into the vocabulary; the last value of each means
"none"). `info` carries privileged state (object poses, target id, reward terms) for shaping, experts and
evaluation only: a deployed policy never sees it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from vla_ros.topics import FRAMES
from vla_ros.vocabulary import Command, Vocabulary, load_vocabulary
from vla_sim.camera import MAX_DEPTH_M, CameraInfo, CameraRenderer, camera_info
from vla_sim.ee_control import (
    EE_BOUNDS,
    EE_MAX_JOINT_STEP_RAD,
    IK_ITERATIONS_PER_TICK,
    MAX_EE_LEAD_M,
    MAX_EE_STEP_M,
    ArmKinematics,
    ee_delta_step,
    gripper_finger_target,
    limit_targets,
)
from vla_sim.ee_control import commanded_ee_pos as _commanded_ee_pos
from vla_sim.ee_control import ee_target_to_joints as _ee_target_to_joints
from vla_sim.kinematics import IKResult, solve_ik, top_down
from vla_sim.scene import (
    ARM_JOINT_NAMES,
    FINGER_JOINT_NAMES,
    HIDDEN_GROUP,
    JOINT_NAMES,
    Scene,
    build_scene,
    show_robot_meshes,
)
from vla_sim.task_judge import Judgement, RewardWeights, StepState, TaskJudge
from vla_sim.task_sampler import (
    INSTRUCTION_CHARSET,
    INSTRUCTION_MAX_LENGTH,
    Task,
    check_directions,
    parse_command,
    sample_task,
)

CONTROL_HZ = 20.0
MAX_JOINT_STEP_RAD = 0.05
# MAX_EE_STEP_M, MAX_EE_LEAD_M, IK_ITERATIONS_PER_TICK, EE_MAX_JOINT_STEP_RAD, EE_BOUNDS: defined in
# vla_sim.ee_control (shared with the ROS policy node, like MAX_TARGET_LEAD_RAD) and re-exported here.
GRIPPER_MAX_OPENING_M = 0.08
HOME_Q = np.array([0.0, -0.26, 0.0, -2.43, 0.0, 0.60, 0.0])  # hand above the table, pointing down
HOME_NOISE_RAD = 0.05
SETTLE_SUBSTEPS = 20
MAX_JOINT_SPEED_OBS = 10.0  # rad/s; the Panda's limits are 2.2-2.6, the bound only catches collisions' spikes
CAMERAS = {"front": FRAMES.camera_optical, "wrist": "wrist_camera_optical_frame"}
# A free camera beside the table that shows the whole arm and the objects: for videos (no frame, no CameraInfo).
SIDE_VIEW = {"lookat": (0.4, 0.0, 0.28), "azimuth": 90.0, "elevation": -18.0, "distance": 1.35}

ACTION_SPEC: dict[str, Any] = {
    "shape": (8,),
    "low": -1.0,
    "high": 1.0,
    "control_hz": CONTROL_HZ,
    "joint_order": ARM_JOINT_NAMES,
    "joint_delta": {"indices": (0, 7), "unit": "rad", "scale_per_tick": MAX_JOINT_STEP_RAD},
    "ee_delta": {"indices": (0, 3), "unit": "m", "frame": FRAMES.base, "scale_per_tick": MAX_EE_STEP_M,
                 "bounds": EE_BOUNDS.tolist(), "orientation": "top-down, yaw 0",
                 "max_joint_step_rad": EE_MAX_JOINT_STEP_RAD, "max_lead_m": MAX_EE_LEAD_M},
    "gripper": {"index": 7, "map": "-1 closed .. +1 open", "max_opening_m": GRIPPER_MAX_OPENING_M},
}


@dataclass(frozen=True)
class EnvConfig:
    """The constructor arguments of `TabletopEnv` that shape episodes and observations, kept together."""

    image_size: int = 128
    obs_images: bool = True
    min_objects: int = 2
    max_objects: int = 4
    max_episode_steps: int = 150
    action_mode: str = "joint_delta"
    camera: str = "front"
    robot_meshes: str = "visual"


class TabletopEnv(gym.Env):
    """The tabletop pick-and-place task as a Gymnasium env: action and observation contract in the module docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(CONTROL_HZ)}

    def __init__(self, image_size: int = 128, obs_images: bool = True, min_objects: int = 2, max_objects: int = 4,
                 max_episode_steps: int = 150, action_mode: str = "joint_delta", camera: str = "front",
                 robot_meshes: str = "visual", render_mode: str | None = None, vocabulary: Vocabulary | None = None,
                 reward_weights: RewardWeights | None = None) -> None:
        self.config = EnvConfig(image_size, obs_images, min_objects, max_objects, max_episode_steps, action_mode,
                                camera, robot_meshes)
        if action_mode not in ("joint_delta", "ee_delta"):
            raise ValueError(f"action_mode must be 'joint_delta' or 'ee_delta', not {action_mode!r}")
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {list(CAMERAS)}, not {camera!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        if not 16 <= image_size <= 1024:
            raise ValueError(f"image_size={image_size} must be in [16, 1024]")
        self.vocab = vocabulary or load_vocabulary()
        check_directions(self.vocab)
        if not 1 <= min_objects <= max_objects <= len(self.vocab.colors) * len(self.vocab.shapes):
            raise ValueError(
                f"need 1 <= min_objects ({min_objects}) <= max_objects ({max_objects}) <= colours x shapes")
        self.render_mode = render_mode
        self.reward_weights = reward_weights or RewardWeights()
        self.scene: Scene = build_scene(self.vocab, max_render_size=max(512, image_size))
        self.model = self.scene.model
        show_robot_meshes(self.model, robot_meshes)
        self.data = mujoco.MjData(self.model)
        self._ik_data = mujoco.MjData(self.model)
        self._arm = ArmKinematics.from_scene(self.scene, self._ik_data)
        self.substeps = int(round(1.0 / (CONTROL_HZ * self.model.opt.timestep)))
        # Per geom: 0 left finger, 1 right finger, 2 hand (link7 incl. the hand mesh), -1 not the gripper.
        self._gripper_part = np.full(self.model.ngeom, -1)
        for part, body in enumerate(("panda0_leftfinger", "panda0_rightfinger", "panda0_link7")):
            body_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, body)
            self._gripper_part[self.model.geom_bodyid == body_id] = part
        self._geom_task_index = np.full(self.model.ngeom, -1)
        self._camera = CameraRenderer(self.model, np.zeros(self.model.ngeom, dtype=np.int32))

        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(8,), dtype=np.float32)
        n_dirs = len(self.vocab.directions)
        spaces: dict[str, gym.Space] = {}
        if obs_images:
            spaces["rgb"] = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
            spaces["depth"] = gym.spaces.Box(0.0, MAX_DEPTH_M, (image_size, image_size, 1), np.float32)
        lim = self.scene.arm_limits.astype(np.float32)
        spaces["joint_pos"] = gym.spaces.Box(lim[:, 0], lim[:, 1], dtype=np.float32)
        spaces["joint_vel"] = gym.spaces.Box(-MAX_JOINT_SPEED_OBS, MAX_JOINT_SPEED_OBS, (7,), np.float32)
        spaces["gripper"] = gym.spaces.Box(0.0, GRIPPER_MAX_OPENING_M, (1,), np.float32)
        spaces["instruction"] = gym.spaces.Text(INSTRUCTION_MAX_LENGTH, min_length=1, charset=INSTRUCTION_CHARSET)
        spaces["command_ids"] = gym.spaces.MultiDiscrete(
            [len(self.vocab.verbs), len(self.vocab.colors) + 1, len(self.vocab.shapes) + 1, n_dirs + 1])
        self.observation_space = gym.spaces.Dict(spaces)

        self.task: Task | None = None
        self._judge: TaskJudge | None = None
        self._active: list[int] = []  # slot index of task object k-1 (instance id k)
        self._q_target = HOME_Q.copy()
        self._finger_target = self.scene.finger_limits[1]
        self._absolute_targets = False
        self._steps = 0
        self._last: Judgement | None = None

    # ------------------------------------------------------------------ episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = options or {}
        command: Command | None = parse_command(self.vocab, options["command"]) if options.get("command") else None
        task = sample_task(self.np_random, self.vocab, self.scene.slots, self.config.min_objects,
                           self.config.max_objects, command)
        q0 = HOME_Q + self.np_random.uniform(-HOME_NOISE_RAD, HOME_NOISE_RAD, 7)
        self._load(task, q0)
        self._steps = 0
        self._last = None
        return self._obs(), self._info()

    def _load(self, task: Task, q0: np.ndarray) -> None:
        """Put the arm at q0 and the task's objects on the table, park the rest, settle."""
        m, d, sc = self.model, self.data, self.scene
        mujoco.mj_resetData(m, d)
        q0 = np.clip(q0, sc.arm_limits[:, 0], sc.arm_limits[:, 1])
        d.qpos[sc.arm_qpos_adr] = q0
        d.qpos[sc.finger_qpos_adr] = sc.finger_limits[1]
        self._active = [next(i for i, s in enumerate(sc.slots) if s is o.slot) for o in task.objects]
        instance = np.zeros(m.ngeom, dtype=np.int32)
        for k, slot in enumerate(sc.slots):
            if k in self._active:
                o = task.objects[self._active.index(k)]
                pos = [o.xy[0], o.xy[1], slot.half_height + 0.001]
                quat = [np.cos(o.yaw / 2), 0.0, 0.0, np.sin(o.yaw / 2)]
                m.geom_contype[slot.geom_id] = m.geom_conaffinity[slot.geom_id] = 1
                m.geom_group[slot.geom_id] = 0
                m.body_gravcomp[slot.body_id] = 0.0
                instance[slot.geom_id] = self._active.index(k) + 1
            else:
                pos = [-4.0 - 0.3 * k, -4.0, 1.0]
                quat = [1.0, 0.0, 0.0, 0.0]
                m.geom_contype[slot.geom_id] = m.geom_conaffinity[slot.geom_id] = 0
                m.geom_group[slot.geom_id] = HIDDEN_GROUP
                m.body_gravcomp[slot.body_id] = 1.0
            d.qpos[slot.qpos_adr:slot.qpos_adr + 7] = [*pos, *quat]
        self._camera.geom_to_instance = instance
        self._geom_task_index = instance - 1
        self._obj_pos_idx = np.array([[sc.slots[k].qpos_adr + i for i in range(3)] for k in self._active])
        self._obj_quat_idx = self._obj_pos_idx[:, :1] + np.arange(3, 7)
        self._command_ids = self._command_ids_of(task.command)
        self._static_objects = [
            {"id": i + 1, "color": sc.slots[k].color, "shape": sc.slots[k].shape, "phrase": sc.slots[k].phrase,
             "geom": sc.slots[k].geom_type, "size": np.array(sc.slots[k].size), "half_height": sc.slots[k].half_height,
             "footprint_radius": sc.slots[k].footprint_radius} for i, k in enumerate(self._active)]
        self.task = task
        self._q_target = q0.copy()
        self._finger_target = sc.finger_limits[1]
        self._absolute_targets = False
        self._apply_ctrl()
        mujoco.mj_step(m, d, nstep=SETTLE_SUBSTEPS)
        self._judge = TaskJudge(task, self._object_positions(), self.reward_weights)

    # ------------------------------------------------------------------ control
    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        if self.task is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (8,):
            raise ValueError(f"action must have shape (8,), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite, got {a.tolist()}")
        if not self._absolute_targets:
            a = np.clip(a, -1.0, 1.0)
            if self.config.action_mode == "joint_delta":
                self._set_q_target(self._q_target + a[:7] * MAX_JOINT_STEP_RAD)
                self._finger_target = gripper_finger_target(self._arm, a[7])
            else:
                # The one definition of ee_delta -> joint targets, shared with the ROS policy node.
                self._ik_data.qpos[:] = self.data.qpos
                self._q_target, self._finger_target = ee_delta_step(
                    self._arm, self._q_target, self.data.qpos[self.scene.arm_qpos_adr], self.ee_pos(), a[[0, 1, 2, 7]])
        self._apply_ctrl()
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self._steps += 1
        self._last = self._judge.judge(self._step_state())
        terminated = self._last.success or self._last.failure_reason is not None
        # Also truncates by itself (not only through gymnasium's TimeLimit) so direct users and the ROS node
        # see episodes end at max_episode_steps.
        truncated = not terminated and self._steps >= self.config.max_episode_steps
        return self._obs(), self._last.reward, terminated, truncated, self._info()

    def ee_target_to_joints(self, target_pos: np.ndarray) -> np.ndarray:
        """Joint targets that put the grasp point at `target_pos` (clipped to EE_BOUNDS), hand pointing down."""
        self._ik_data.qpos[:] = self.data.qpos
        return _ee_target_to_joints(self._arm, self._q_target, target_pos)

    def solve_ik(self, target_pos: np.ndarray, yaw: float = 0.0, q_init: np.ndarray | None = None,
                 iterations: int = IK_ITERATIONS_PER_TICK) -> IKResult:
        """IK for the grasp point at `target_pos` with the hand down at `yaw`, from q_init (default: the
        current targets, so consecutive solutions stay on one branch). The sim state is not touched."""
        sc = self.scene
        self._ik_data.qpos[:] = self.data.qpos
        return solve_ik(self.model, self._ik_data, sc.ee_site, sc.arm_qpos_adr, sc.arm_dof_adr, sc.arm_limits,
                        self._q_target if q_init is None else q_init, np.asarray(target_pos, dtype=np.float64),
                        top_down(yaw), iterations=iterations)

    def _set_q_target(self, q: np.ndarray) -> None:
        self._q_target = limit_targets(self._arm, q, self.data.qpos[self.scene.arm_qpos_adr])

    def _apply_ctrl(self) -> None:
        self.data.ctrl[self.scene.arm_actuators] = self._q_target
        self.data.ctrl[self.scene.finger_actuators] = self._finger_target

    def set_joint_targets(self, q: np.ndarray, gripper: float) -> tuple[str, ...]:
        """Absolute targets from now on (this episode): q (7,) rad in JOINT_NAMES order, gripper opening in
        metres (0..0.08). Values outside the MJCF limits are clipped; returns the names of the clipped ones."""
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (7,) or not np.all(np.isfinite(q)) or not np.isfinite(gripper):
            raise ValueError(
                f"set_joint_targets needs 7 finite joint positions and a finite gripper, got {q!r}, {gripper!r}")
        lo, hi = self.scene.arm_limits[:, 0], self.scene.arm_limits[:, 1]
        clipped = [n for n, v, a, b in zip(ARM_JOINT_NAMES, q, lo, hi) if not a <= v <= b]
        if not 0.0 <= gripper <= GRIPPER_MAX_OPENING_M:
            clipped.append("gripper")
        self._q_target = np.clip(q, lo, hi)
        self._finger_target = float(np.clip(gripper, 0.0, GRIPPER_MAX_OPENING_M)) / 2.0
        self._absolute_targets = True
        return tuple(clipped)

    def hold(self) -> None:
        """Absolute targets = the current joint positions and gripper opening (stale input, stop)."""
        self._q_target = self.data.qpos[self.scene.arm_qpos_adr].copy()
        self._finger_target = float(self.data.qpos[self.scene.finger_qpos_adr].mean())
        self._absolute_targets = True

    def teleport_arm(self, q: np.ndarray, gripper: float = GRIPPER_MAX_OPENING_M) -> None:
        """Place the arm at q (7,) and the fingers at `gripper` metres apart, kinematically (no physics
        step), and make them the targets: for rendering data sets and for tests that need a known pose."""
        sc = self.scene
        q = np.clip(np.asarray(q, dtype=np.float64), sc.arm_limits[:, 0], sc.arm_limits[:, 1])
        self.data.qpos[sc.arm_qpos_adr] = q
        self.data.qpos[sc.finger_qpos_adr] = np.clip(gripper, 0.0, GRIPPER_MAX_OPENING_M) / 2.0
        self.data.qvel[sc.arm_dof_adr] = 0.0
        self._q_target = q.copy()
        self._finger_target = float(self.data.qpos[sc.finger_qpos_adr[0]])
        self._apply_ctrl()
        mujoco.mj_forward(self.model, self.data)

    # ------------------------------------------------------------------ state
    @property
    def joint_targets(self) -> np.ndarray:
        """Current arm position targets (7,), what a joint_delta action adds to."""
        return self._q_target.copy()

    @property
    def steps(self) -> int:
        return self._steps

    def ee_pos(self) -> np.ndarray:
        """Measured grasp-point position (world = base frame)."""
        return self.data.site_xpos[self.scene.ee_site].copy()

    def commanded_ee_pos(self) -> np.ndarray:
        """What ee_delta actions add to: the grasp point at the current joint targets, kept within
        MAX_EE_LEAD_M of the measured one so a fast command cannot run far ahead and bend the path."""
        return _commanded_ee_pos(self._arm, self._q_target, self.ee_pos())

    def joint_positions(self) -> np.ndarray:
        """All 9 joints in JOINT_NAMES order (fingers in metres each), as a JointState would carry them."""
        return np.concatenate([self.data.qpos[self.scene.arm_qpos_adr], self.data.qpos[self.scene.finger_qpos_adr]])

    def joint_velocities(self) -> np.ndarray:
        return np.concatenate([self.data.qvel[self.scene.arm_dof_adr], self.data.qvel[self.scene.finger_dof_adr]])

    def gripper_opening(self) -> float:
        return float(self.data.qpos[self.scene.finger_qpos_adr].sum())

    def _object_positions(self) -> np.ndarray:
        return self.data.qpos[self._obj_pos_idx]

    def _step_state(self) -> StepState:
        """Positions and gripper contacts of the task's objects (vectorised over MuJoCo's contact list)."""
        d = self.data
        touched: set[int] = set()
        fingers: tuple[set[int], set[int]] = (set(), set())
        if d.ncon:
            g = d.contact.geom[: d.ncon]
            for a, b in ((g[:, 0], g[:, 1]), (g[:, 1], g[:, 0])):
                obj, grip = self._geom_task_index[b], self._gripper_part[a]
                hit = (obj >= 0) & (grip >= 0)
                for o, part in zip(obj[hit].tolist(), grip[hit].tolist()):
                    touched.add(o)
                    if part < 2:
                        fingers[part].add(o)
        return StepState(self._object_positions(), self.ee_pos(), frozenset(touched),
                         (frozenset(fingers[0]), frozenset(fingers[1])))

    def _command_ids_of(self, cmd: Command) -> np.ndarray:
        v = self.vocab
        dirs = list(v.directions)
        return np.array([
            v.verb_names.index(cmd.verb),
            v.color_names.index(cmd.color) if cmd.color else len(v.colors),
            v.shape_names.index(cmd.shape) if cmd.shape else len(v.shapes),
            dirs.index(cmd.direction) if cmd.direction else len(dirs),
        ], dtype=np.int64)

    def _obs(self) -> dict[str, Any]:
        obs: dict[str, Any] = {}
        if self.config.obs_images:
            size, cam = self.config.image_size, self.config.camera
            obs["rgb"] = self._camera.rgb(self.data, cam, size, size)
            obs["depth"] = self._camera.depth(self.data, cam, size, size)
        sc = self.scene
        obs["joint_pos"] = self.data.qpos[sc.arm_qpos_adr].astype(np.float32)
        obs["joint_vel"] = self.data.qvel[sc.arm_dof_adr].astype(np.float32)
        np.clip(obs["joint_vel"], -MAX_JOINT_SPEED_OBS, MAX_JOINT_SPEED_OBS, out=obs["joint_vel"])
        obs["gripper"] = np.array([min(max(self.gripper_opening(), 0.0), GRIPPER_MAX_OPENING_M)], dtype=np.float32)
        obs["instruction"] = self.task.instruction
        obs["command_ids"] = self._command_ids.copy()
        return obs

    def _info(self) -> dict[str, Any]:
        positions = self._object_positions()
        quats = self.data.qpos[self._obj_quat_idx]
        objects = [dict(o, pos=positions[k], quat=quats[k]) for k, o in enumerate(self._static_objects)]
        cmd = self.task.command
        last = self._last
        return {
            "objects": objects,
            "target_id": self.task.target_index + 1,
            "command": {"verb": cmd.verb, "color": cmd.color, "shape": cmd.shape, "direction": cmd.direction},
            "instruction": self.task.instruction,
            "ee_pos": self.ee_pos(),
            "gripper_opening": self.gripper_opening(),
            "is_success": bool(last.success) if last else False,
            "failure_reason": last.failure_reason if last else None,
            "reward_terms": dict(last.terms) if last else {},
        }

    # ------------------------------------------------------------------ cameras
    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        size = self.config.image_size
        return self._camera.rgb(self.data, self.config.camera, size, size)

    def render_rgb(self, camera: str = "front", size: int | None = None) -> np.ndarray:
        size = size or self.config.image_size
        return self._camera.rgb(self.data, camera, size, size)

    def render_side_view(self, width: int = 320, height: int = 240) -> np.ndarray:
        """(H, W, 3) uint8 from `SIDE_VIEW`: the arm seen from its side, for videos."""
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = SIDE_VIEW["lookat"]
        cam.azimuth, cam.elevation, cam.distance = SIDE_VIEW["azimuth"], SIDE_VIEW["elevation"], SIDE_VIEW["distance"]
        return self._camera.rgb(self.data, cam, width, height)

    def render_depth(self, camera: str = "front", size: int | None = None) -> np.ndarray:
        size = size or self.config.image_size
        return self._camera.depth(self.data, camera, size, size)

    def render_segmentation(self, camera: str = "front", size: int | None = None) -> np.ndarray:
        """(H, W) int32: 0 background/robot/table, k = object k of info["objects"]."""
        size = size or self.config.image_size
        return self._camera.segmentation(self.data, camera, size, size)

    def camera_info(self, camera: str = "front", size: int | None = None) -> CameraInfo:
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {list(CAMERAS)}, not {camera!r}")
        size = size or self.config.image_size
        return camera_info(self.model, self.data, camera, size, size, CAMERAS[camera])

    def close(self) -> None:
        self._camera.close()


__all__ = ["ACTION_SPEC", "CONTROL_HZ", "EnvConfig", "JOINT_NAMES", "ARM_JOINT_NAMES", "FINGER_JOINT_NAMES",
           "TabletopEnv"]
