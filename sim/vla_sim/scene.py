"""Builds the tabletop MuJoCo model: the Franka Panda that ships in gymnasium-robotics, a table, cameras,
and one free body per vocabulary (colour, shape) pair.

Why one body per pair: the model is compiled once per env and never again (recompiling with meshes costs
far more than a reset), and "no two objects match the same description" holds by construction. Objects not in the
current episode are parked: hidden (geom group 5), non-colliding and gravity-compensated far from the table.

The Panda MJCF is read from the installed gymnasium-robotics package (never copied); its joints are renamed
in memory to what a real Panda publishes (panda_joint1..7, panda_finger_joint1/2), arm bodies get gravity
compensation as a real Franka controller provides, and a wrist camera is attached to the hand.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from vla_ros.vocabulary import Vocabulary

ARM_JOINT_NAMES: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINT_NAMES: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
JOINT_NAMES: tuple[str, ...] = ARM_JOINT_NAMES + FINGER_JOINT_NAMES
EE_SITE = "end_effector"  # between the finger pads: the grasp point (tool centre point)
HIDDEN_GROUP = 5  # geom group of parked objects; renders never enable it
COLLISION_GROUP = 3  # where the MJCF puts the arm's collision geoms (not rendered by default)
ROBOT_RGBA = (0.95, 0.97, 0.92, 1.0)  # the MJCF's visual colour, for collision meshes when they are shown

# Table surface is z = 0 in the world (= robot base) frame; the arm is mounted on it at the origin.
TABLE_X = (-0.30, 1.00)
TABLE_Y = (-0.70, 0.70)
TABLE_THICKNESS = 0.75
# Where objects are placed: reachable from above with the hand pointing down.
WORKSPACE_X = (0.32, 0.66)
WORKSPACE_Y = (-0.27, 0.27)
WORKSPACE_MAX_RADIUS = 0.70

# Object sizes per MuJoCo geom type (metres, MuJoCo size convention); all fit the 8 cm gripper.
GEOM_SIZES: dict[str, tuple[float, ...]] = {
    "box": (0.025, 0.025, 0.025),
    "sphere": (0.025,),
    "cylinder": (0.022, 0.030),
    "capsule": (0.02, 0.02),
    "ellipsoid": (0.03, 0.025, 0.025),
}
OBJECT_DENSITY = 500.0  # kg/m^3: a 5 cm block weighs ~60 g

FRONT_CAMERA_POS = np.array([0.98, 0.0, 0.72])
FRONT_CAMERA_TARGET = np.array([0.47, 0.0, 0.0])
FRONT_CAMERA_FOVY = 45.0


def franka_assets_dir() -> Path:
    """The Franka MJCF directory inside the installed gymnasium-robotics (imported as files, not as a module)."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("gymnasium-robotics is not installed: pip install --no-deps gymnasium-robotics==1.4.2")
    path = Path(spec.submodule_search_locations[0]) / "envs" / "assets" / "kitchen_franka" / "franka_assets"
    if not (path / "chain.xml").is_file():
        raise FileNotFoundError(f"Franka MJCF not found at {path}")
    return path


@dataclass(frozen=True)
class ObjectSlot:
    """One (colour, shape) body in the model."""

    color: str
    shape: str
    geom_type: str
    size: tuple[float, ...]
    rgb: tuple[float, float, float]
    body_id: int
    geom_id: int
    qpos_adr: int  # 7 entries: pos(3) + quat(4)
    qvel_adr: int  # 6 entries

    @property
    def phrase(self) -> str:
        return f"{self.color} {self.shape}"

    @property
    def half_height(self) -> float:
        """Resting height of the centre above the table."""
        return self.size[2] if self.geom_type in ("box", "ellipsoid") else (
            self.size[1] if self.geom_type == "cylinder" else
            self.size[0] + self.size[1] if self.geom_type == "capsule" else self.size[0])

    @property
    def footprint_radius(self) -> float:
        """Radius of a circle that contains the object's footprint on the table, any yaw."""
        if self.geom_type in ("box", "ellipsoid"):
            return float(np.hypot(self.size[0], self.size[1]))
        return float(self.size[0])


@dataclass
class Scene:
    """The compiled model and the indices the env needs into it."""

    model: mujoco.MjModel
    arm_qpos_adr: np.ndarray  # (7,)
    arm_dof_adr: np.ndarray  # (7,)
    finger_qpos_adr: np.ndarray  # (2,)
    finger_dof_adr: np.ndarray  # (2,)
    arm_actuators: np.ndarray  # (7,)
    finger_actuators: np.ndarray  # (2,)
    arm_limits: np.ndarray  # (7, 2) joint ranges as the MJCF defines them (ctrl is clipped to these too)
    finger_limits: np.ndarray  # (2,) (low, high) per finger, metres
    ee_site: int
    table_geom: int
    robot_geoms: np.ndarray  # every geom on the arm
    finger_geoms: np.ndarray  # geoms on the two finger bodies (contacts that count as "touch")
    slots: tuple[ObjectSlot, ...]

    def slot(self, color: str, shape: str) -> ObjectSlot:
        return next(s for s in self.slots if s.color == color and s.shape == shape)


def show_robot_meshes(model: mujoco.MjModel, kind: str) -> None:
    """Render the arm with its "visual" meshes (~134k triangles, looks like a Panda) or its convex
    "collision" meshes (~2.3k triangles, 5-10x cheaper CPU renders, for training-time images)."""
    if kind not in ("visual", "collision"):
        raise ValueError(f"robot_meshes must be 'visual' or 'collision', not {kind!r}")
    for g in range(model.ngeom):
        if model.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH:
            continue
        mesh = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_MESH, model.geom_dataid[g])
        if mesh.endswith("_viz") and mesh != "finger_viz":
            model.geom_group[g] = 0 if kind == "visual" else HIDDEN_GROUP
        elif mesh.endswith("_col") and mesh != "finger_col":
            model.geom_group[g] = 0 if kind == "collision" else COLLISION_GROUP
            model.geom_rgba[g] = ROBOT_RGBA


def _camera_axes(pos: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MuJoCo camera x, y axes and the viewing direction of a camera at `pos` looking at `target`, world z up."""
    forward = (target - pos) / np.linalg.norm(target - pos)
    x = np.cross(forward, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    return x, np.cross(x, forward), forward


def _xyaxes(pos: np.ndarray, target: np.ndarray) -> str:
    """MJCF `xyaxes` of a camera at `pos` looking at `target` with world z up (MuJoCo cameras look along -z)."""
    x, y, _ = _camera_axes(pos, target)
    return " ".join(f"{v:.6f}" for v in (*x, *y))


def front_camera_pose() -> tuple[np.ndarray, np.ndarray]:
    """The front camera's optical frame in the world (= robot base) frame, from the scene constants, without
    building the model: (position (3,), rotation (3, 3) whose columns are the optical x (right), y (down) and
    z (forward) axes), the convention of `vla_sim.camera.CameraInfo`. What the sim launch gives the policy node
    as its static camera pose (a point p in the optical frame is position + rotation @ p)."""
    x, y, forward = _camera_axes(FRONT_CAMERA_POS, FRONT_CAMERA_TARGET)
    return FRONT_CAMERA_POS.copy(), np.column_stack([x, -y, forward])


def _scene_xml(vocab: Vocabulary, max_render_size: int) -> str:
    objects = []
    for ci, color in enumerate(vocab.colors):
        for si, shape in enumerate(vocab.shapes):
            if shape.geom not in GEOM_SIZES:
                supported = ", ".join(GEOM_SIZES)
                raise ValueError(f"shape {shape.name!r}: geom type {shape.geom!r} not supported ({supported})")
            size = " ".join(str(v) for v in GEOM_SIZES[shape.geom])
            rgb = " ".join(f"{v:.3f}" for v in color.rgb)
            park = f"{-4.0 - 0.3 * si:.2f} {-4.0 - 0.3 * ci:.2f} 1.0"
            friction = "1.0 0.005 0.002" if shape.geom == "sphere" else "1.0 0.005 0.0001"
            objects.append(
                f'<body name="obj_{color.name}_{shape.name}" pos="{park}">'
                f'<freejoint name="obj_{color.name}_{shape.name}"/>'
                f'<geom name="obj_{color.name}_{shape.name}" type="{shape.geom}" size="{size}" rgba="{rgb} 1" '
                f'density="{OBJECT_DENSITY}" friction="{friction}" condim="4" priority="1"/></body>'
            )
    tx, ty = (TABLE_X[0] + TABLE_X[1]) / 2, (TABLE_Y[0] + TABLE_Y[1]) / 2
    sx, sy = (TABLE_X[1] - TABLE_X[0]) / 2, (TABLE_Y[1] - TABLE_Y[0]) / 2
    front_pos = " ".join(map(str, FRONT_CAMERA_POS))
    front_xyaxes = _xyaxes(FRONT_CAMERA_POS, FRONT_CAMERA_TARGET)
    return f"""
<mujoco model="vla_tabletop">
  <include file="assets.xml"/>
  <option timestep="0.005" integrator="implicitfast"/>
  <visual>
    <global offwidth="{max_render_size}" offheight="{max_render_size}"/>
    <quality shadowsize="0"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5" specular="0.1 0.1 0.1"/>
  </visual>
  <asset>
    <texture name="floor_tex" type="2d" builtin="checker" rgb1="0.30 0.30 0.32" rgb2="0.25 0.25 0.27"
             width="256" height="256"/>
    <material name="floor_mat" texture="floor_tex" texrepeat="4 4"/>
    <material name="table_mat" rgba="0.72 0.62 0.50 1"/>
  </asset>
  <worldbody>
    <light directional="true" pos="0.5 0 2" dir="0 0 -1" diffuse="0.55 0.55 0.55" specular="0.1 0.1 0.1"
           castshadow="false"/>
    <geom name="floor" type="plane" pos="0 0 {-TABLE_THICKNESS}" size="6 6 0.1" material="floor_mat"/>
    <geom name="table" type="box" pos="{tx} {ty} {-TABLE_THICKNESS / 2}" size="{sx} {sy} {TABLE_THICKNESS / 2}"
          material="table_mat" friction="0.6 0.005 0.0001"/>
    <camera name="front" pos="{front_pos}" xyaxes="{front_xyaxes}" fovy="{FRONT_CAMERA_FOVY}"/>
    <body name="panda_base" pos="0 0 0">
      <include file="chain.xml"/>
    </body>
    {''.join(objects)}
  </worldbody>
  <include file="actuator.xml"/>
</mujoco>
"""


def build_scene(vocab: Vocabulary, max_render_size: int = 512) -> Scene:
    """Compile the tabletop for `vocab` (every colour x shape gets a body)."""
    root = franka_assets_dir()
    include = {name: (root / name).read_bytes() for name in ("assets.xml", "chain.xml", "actuator.xml")}
    assets = {
        f"franka_assets/meshes/{p.relative_to(root / 'meshes').as_posix()}": p.read_bytes()
        for p in (root / "meshes").rglob("*.stl")
    }
    spec = mujoco.MjSpec.from_string(_scene_xml(vocab, max_render_size), include=include, assets=assets)
    for joint in spec.joints:
        if joint.name.startswith("robot:panda0_"):
            joint.name = "panda_" + joint.name.removeprefix("robot:panda0_")
    for actuator in spec.actuators:
        if actuator.target.startswith("robot:panda0_"):
            actuator.target = "panda_" + actuator.target.removeprefix("robot:panda0_")
    for body in spec.bodies:
        if body.name.startswith("panda0_link"):
            body.gravcomp = 1.0
    hand = spec.body("panda0_link7")
    # Wrist camera beside the hand, tilted to look through the finger gap (just past the grasp point), the
    # fingers left and right in the image (MuJoCo cameras look along their -z).
    hand.add_camera(name="wrist", pos=[0.06, -0.06, 0.10], quat=[0.184111, 0.905349, 0.375008, 0.076261], fovy=70.0)
    model = spec.compile()
    model.site_group[:] = HIDDEN_GROUP  # the grasp-point marker is bookkeeping, not something a camera sees
    # Island sleeping: objects at rest (and the parked ones) cost nothing until something touches them;
    # 2-3x faster steps with the arm moving among resting objects.
    model.opt.enableflags |= int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    return _index(model, vocab)


def _index(model: mujoco.MjModel, vocab: Vocabulary) -> Scene:
    def jid(name: str) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

    arm_j = np.array([jid(n) for n in ARM_JOINT_NAMES])
    fin_j = np.array([jid(n) for n in FINGER_JOINT_NAMES])
    if (arm_j < 0).any() or (fin_j < 0).any():
        raise RuntimeError("Panda joints not found after renaming: the gymnasium-robotics MJCF changed")
    act_by_joint = {int(model.actuator_trnid[a, 0]): a for a in range(model.nu)}
    robot_bodies = {b for b in range(model.nbody)
                    if mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b).startswith("panda")}
    finger_bodies = {mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n)
                     for n in ("panda0_leftfinger", "panda0_rightfinger")}
    slots = []
    for color in vocab.colors:
        for shape in vocab.shapes:
            name = f"obj_{color.name}_{shape.name}"
            body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
            joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
            slots.append(ObjectSlot(
                color.name, shape.name, shape.geom, GEOM_SIZES[shape.geom], color.rgb, body,
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name),
                int(model.jnt_qposadr[joint]), int(model.jnt_dofadr[joint]),
            ))
    return Scene(
        model=model,
        arm_qpos_adr=model.jnt_qposadr[arm_j].copy(),
        arm_dof_adr=model.jnt_dofadr[arm_j].copy(),
        finger_qpos_adr=model.jnt_qposadr[fin_j].copy(),
        finger_dof_adr=model.jnt_dofadr[fin_j].copy(),
        arm_actuators=np.array([act_by_joint[int(j)] for j in arm_j]),
        finger_actuators=np.array([act_by_joint[int(j)] for j in fin_j]),
        arm_limits=model.jnt_range[arm_j].copy(),
        finger_limits=model.jnt_range[fin_j[0]].copy(),
        ee_site=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, EE_SITE),
        table_geom=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "table"),
        robot_geoms=np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] in robot_bodies]),
        finger_geoms=np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] in finger_bodies]),
        slots=tuple(slots),
    )
