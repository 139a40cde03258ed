"""The policy's observation: one flat float32 vector in four token groups, defined here once.

Training (`PolicyEnv`), evaluation and the ROS policy node all build it with `build_observation`, so the
layout a checkpoint was trained on is the layout it is run on (the contract stores `ObservationLayout`).
Groups, each becoming one or more transformer tokens in `modeling_vla`:
  text     the command's text embedding from the grounding model's own CLIP text tower
  command  verb index and direction index into the shared vocabulary (direction = len(directions): none)
  target   the grounder's target in the robot base frame as the `TargetTracker` holds it: position (3), target
           minus grasp point (3), bbox width/height as a fraction of the image, score, found on the last
           update, has a fix at all, age of the fix in seconds (capped)
  proprio  joint positions (7, rad), joint velocities (7, rad/s), gripper opening (m), gripper opening rate
           (m/s), grasp-point position by forward kinematics (3, m, base frame)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from vla_ros.vocabulary import Command, Vocabulary

TARGET_FIELDS = ("x", "y", "z", "dx", "dy", "dz", "bbox_w", "bbox_h", "score", "found", "has_fix", "age_s")
PROPRIO_FIELDS = tuple(f"q{i}" for i in range(1, 8)) + tuple(f"dq{i}" for i in range(1, 8)) + (
    "gripper", "gripper_rate", "ee_x", "ee_y", "ee_z")
MAX_AGE_S = 2.0  # the age feature saturates here: older than this is "no usable fix" to the policy


@dataclass(frozen=True)
class ObservationLayout:
    """Where each part (text, command ids, target, proprioception) sits in the flat observation vector."""

    text_dim: int
    n_verbs: int
    n_directions: int  # the index n_directions means "no direction"
    target_dim: int = len(TARGET_FIELDS)
    proprio_dim: int = len(PROPRIO_FIELDS)

    @property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, n in (("text", self.text_dim), ("command", 2), ("target", self.target_dim),
                        ("proprio", self.proprio_dim)):
            out[name] = slice(start, start + n)
            start += n
        return out

    @property
    def size(self) -> int:
        return self.text_dim + 2 + self.target_dim + self.proprio_dim

    def continuous_mask(self) -> np.ndarray:
        """Which entries are normalised (everything but the two integer command ids)."""
        mask = np.ones(self.size, dtype=bool)
        mask[self.slices["command"]] = False
        return mask

    def as_dict(self) -> dict:
        return {**asdict(self), "target_fields": list(TARGET_FIELDS), "proprio_fields": list(PROPRIO_FIELDS)}

    @classmethod
    def for_vocabulary(cls, vocab: Vocabulary, text_dim: int) -> "ObservationLayout":
        return cls(text_dim=text_dim, n_verbs=len(vocab.verbs), n_directions=len(vocab.directions))


@dataclass(frozen=True)
class TargetFix:
    """What the tracker knows of the target: a base-frame position or nothing yet."""

    position: np.ndarray | None  # (3,) metres, base frame
    bbox_wh: tuple[float, float] = (0.0, 0.0)  # fraction of image width / height
    score: float = 0.0
    found: bool = False  # the last grounder update found it
    age_s: float = MAX_AGE_S  # since the last update that found it


@dataclass(frozen=True)
class Proprio:
    """The robot's own state as the policy sees it: joints, gripper opening and rate, grasp-point position."""

    joint_pos: np.ndarray  # (7,) rad, panda_joint1..7
    joint_vel: np.ndarray  # (7,) rad/s
    gripper: float  # opening between the fingers, m
    gripper_rate: float  # m/s
    ee_pos: np.ndarray  # (3,) grasp point, base frame, m


def command_ids(vocab: Vocabulary, cmd: Command) -> tuple[int, int]:
    """(verb index, direction index) as the policy embeds them; a missing direction is len(directions)."""
    dirs = list(vocab.directions)
    return vocab.verb_names.index(cmd.verb), dirs.index(cmd.direction) if cmd.direction else len(dirs)


def build_observation(layout: ObservationLayout, text_embedding: np.ndarray, ids: tuple[int, int], target: TargetFix,
                      proprio: Proprio) -> np.ndarray:
    """The flat observation vector; raises ValueError on a non-finite or mis-shaped input."""
    obs = np.zeros(layout.size, dtype=np.float32)
    s = layout.slices
    text = np.asarray(text_embedding, dtype=np.float32).reshape(-1)
    if text.shape[0] != layout.text_dim:
        raise ValueError(f"text embedding has {text.shape[0]} values, the layout expects {layout.text_dim}")
    obs[s["text"]] = text
    obs[s["command"]] = ids
    if target.position is not None:
        pos = np.asarray(target.position, dtype=np.float64)
        obs[s["target"]] = [*pos, *(pos - proprio.ee_pos), *target.bbox_wh, target.score, float(target.found), 1.0,
                            min(target.age_s, MAX_AGE_S)]
    else:
        obs[s["target"].start + TARGET_FIELDS.index("age_s")] = MAX_AGE_S
    obs[s["proprio"]] = [*proprio.joint_pos, *proprio.joint_vel, proprio.gripper, proprio.gripper_rate, *proprio.ee_pos]
    if not np.all(np.isfinite(obs)):
        raise ValueError("observation is not finite (NaN or inf in the joint states, target or text embedding)")
    return obs
