"""Decides success, failure and the shaped reward of a task from privileged state, once per control step.

Why strict: acting on the wrong object is a failure, not partial success, because a robot that picks up the
red block when asked for the blue one did the wrong thing. Thresholds are the vocabulary's descriptions:
pick = lifted >= 5 cm and held; push = moved >= 10 cm in the named direction without being lifted;
touch = gripper contact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vla_sim.scene import TABLE_X, TABLE_Y
from vla_sim.task_sampler import DIRECTION_VECTORS, Task

LIFT_SUCCESS_M = 0.05
PICK_HOLD_STEPS = 3
PUSH_SUCCESS_M = 0.10
PUSH_MAX_LIFT_M = 0.02  # a pushed target higher than this is being carried, not pushed
DISTRACTOR_MOVE_M = 0.10
FELL_BELOW_M = -0.05


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the shaped terms (each term lies in [0, 1]) and of the sparse outcome."""

    reach: float = 1.0
    grasp: float = 0.5
    progress: float = 2.0  # lift height (pick) or push distance (push), as a fraction of the threshold
    success: float = 10.0
    failure: float = -5.0


@dataclass(frozen=True)
class StepState:
    """What the judge looks at: object positions (n, 3) in task order, gripper position, contacts."""

    positions: np.ndarray
    ee_pos: np.ndarray
    gripper_contacts: frozenset[int]  # object indices touched by the gripper (fingers or hand)
    finger_contacts: tuple[frozenset[int], frozenset[int]]  # object indices touched by each finger


@dataclass(frozen=True)
class Judgement:
    """The judge's verdict on one step: reward, its shaped terms, success, and why the episode failed (if it did)."""

    reward: float
    terms: dict[str, float]
    success: bool
    failure_reason: str | None


@dataclass
class TaskJudge:
    """Scores one episode step by step against the state at its start (it counts how long a pick is held)."""

    task: Task
    initial_positions: np.ndarray  # (n, 3)
    weights: RewardWeights = field(default_factory=RewardWeights)
    held_steps: int = 0

    def judge(self, s: StepState) -> Judgement:
        t, cmd = self.task.target_index, self.task.command
        rise = s.positions[:, 2] - self.initial_positions[:, 2]
        moved = s.positions[:, :2] - self.initial_positions[:, :2]
        reason = self._failure(s, rise, moved)
        d = s.ee_pos - s.positions[t]
        reach = math.sqrt(float(d @ d))
        terms = {"reach": 1.0 - math.tanh(5.0 * reach), "grasp": 0.0, "progress": 0.0}
        success = False
        lift = float(rise[t])
        if cmd.verb == "pick":
            grasped = t in s.finger_contacts[0] and t in s.finger_contacts[1]
            terms["grasp"] = float(grasped)
            terms["progress"] = min(max(lift / LIFT_SUCCESS_M, 0.0), 1.0) if grasped else 0.0
            self.held_steps = self.held_steps + 1 if lift >= LIFT_SUCCESS_M else 0
            success = self.held_steps >= PICK_HOLD_STEPS
        elif cmd.verb == "push":
            ux, uy = DIRECTION_VECTORS[cmd.direction]
            along = float(moved[t, 0] * ux + moved[t, 1] * uy)
            terms["progress"] = min(max(along / PUSH_SUCCESS_M, 0.0), 1.0)
            success = along >= PUSH_SUCCESS_M and lift < PUSH_MAX_LIFT_M
        elif cmd.verb == "touch":
            success = t in s.gripper_contacts
        else:
            raise ValueError(f"the sim has no success test for verb {cmd.verb!r}")
        if reason is not None:
            success = False
        w = self.weights
        reward = w.reach * terms["reach"] + w.grasp * terms["grasp"] + w.progress * terms["progress"]
        reward += w.success if success else 0.0
        reward += w.failure if reason is not None else 0.0
        return Judgement(reward, terms, success, reason)

    def _failure(self, s: StepState, rise: np.ndarray, moved: np.ndarray) -> str | None:
        """Vectorised checks first (every step); the message is built only when something went wrong."""
        t, verb = self.task.target_index, self.task.command.verb
        p = s.positions
        off_table = (p[:, 0] < TABLE_X[0]) | (p[:, 0] > TABLE_X[1]) | (p[:, 1] < TABLE_Y[0]) | (p[:, 1] > TABLE_Y[1])
        off = (p[:, 2] < FELL_BELOW_M) | off_table
        other = np.arange(len(p)) != t
        lifted = other & (rise >= LIFT_SUCCESS_M)
        pushed = other & (np.einsum("ij,ij->i", moved, moved) >= DISTRACTOR_MOVE_M**2)
        touched = verb == "touch" and any(i != t for i in s.gripper_contacts)
        if not (off.any() or lifted.any() or pushed.any() or touched or (verb == "push" and rise[t] >= LIFT_SUCCESS_M)):
            return None
        phrase = [o.slot.phrase for o in self.task.objects]
        for i in range(len(p)):
            if off[i]:
                return f"the {phrase[i]} fell off the table"
        for i in range(len(p)):
            if lifted[i]:
                return f"lifted the {phrase[i]}, not the {phrase[t]}"
            if pushed[i]:
                return f"pushed the {phrase[i]}, not the {phrase[t]}"
            if verb == "touch" and i != t and i in s.gripper_contacts:
                return f"touched the {phrase[i]}, not the {phrase[t]}"
        return f"lifted the {phrase[t]} instead of pushing it"
