"""Decides success, failure and the shaped reward of a task from privileged state, once per control step.

Why strict: acting on the wrong object is a failure, not partial success, because a robot that picks up the
red block when asked for the blue one did the wrong thing. Thresholds are the vocabulary's descriptions:
pick = lifted >= 5 cm and held; push = moved >= 10 cm in the named direction without being lifted;
touch = gripper contact.
"""
from __future__ import annotations

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
    reward: float
    terms: dict[str, float]
    success: bool
    failure_reason: str | None


@dataclass
class TaskJudge:
    task: Task
    initial_positions: np.ndarray  # (n, 3)
    weights: RewardWeights = field(default_factory=RewardWeights)
    held_steps: int = 0

    def judge(self, s: StepState) -> Judgement:
        t, cmd = self.task.target_index, self.task.command
        rise = s.positions[:, 2] - self.initial_positions[:, 2]
        moved = s.positions[:, :2] - self.initial_positions[:, :2]
        phrase = [o.slot.phrase for o in self.task.objects]
        reason = self._failure(s, rise, moved, phrase)
        reach = float(np.linalg.norm(s.ee_pos - s.positions[t]))
        terms = {"reach": 1.0 - float(np.tanh(5.0 * reach)), "grasp": 0.0, "progress": 0.0}
        success = False
        if cmd.verb == "pick":
            grasped = all(t in f for f in s.finger_contacts)
            terms["grasp"] = float(grasped)
            terms["progress"] = float(np.clip(rise[t] / LIFT_SUCCESS_M, 0.0, 1.0)) if grasped else 0.0
            self.held_steps = self.held_steps + 1 if rise[t] >= LIFT_SUCCESS_M else 0
            success = self.held_steps >= PICK_HOLD_STEPS
        elif cmd.verb == "push":
            along = float(moved[t] @ np.array(DIRECTION_VECTORS[cmd.direction]))
            terms["progress"] = float(np.clip(along / PUSH_SUCCESS_M, 0.0, 1.0))
            success = along >= PUSH_SUCCESS_M and rise[t] < PUSH_MAX_LIFT_M
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
        return Judgement(float(reward), terms, success, reason)

    def _failure(self, s: StepState, rise: np.ndarray, moved: np.ndarray, phrase: list[str]) -> str | None:
        t, verb = self.task.target_index, self.task.command.verb
        for i, p in enumerate(s.positions):
            if p[2] < FELL_BELOW_M or not (TABLE_X[0] <= p[0] <= TABLE_X[1] and TABLE_Y[0] <= p[1] <= TABLE_Y[1]):
                return f"the {phrase[i]} fell off the table"
        for i in range(len(phrase)):
            if i == t:
                continue
            if rise[i] >= LIFT_SUCCESS_M:
                return f"lifted the {phrase[i]}, not the {phrase[t]}"
            if np.linalg.norm(moved[i]) >= DISTRACTOR_MOVE_M:
                return f"pushed the {phrase[i]}, not the {phrase[t]}"
            if verb == "touch" and i in s.gripper_contacts:
                return f"touched the {phrase[i]}, not the {phrase[t]}"
        if verb == "push" and rise[t] >= LIFT_SUCCESS_M:
            return f"lifted the {phrase[t]} instead of pushing it"
        return None
