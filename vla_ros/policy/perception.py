"""Where the policy's target token comes from: a tracker over grounder fixes, fed by the real grounder or
by a model of it fitted to the real grounder's measured behaviour.

Training never renders: `SimulatedGrounder` turns the privileged object pose into what the grounder would
report (systematic offset and noise of its 3-D point, misses that depend on whether the hand is at the
object, its update period and latency). Its numbers come from `perception_fit` (real grounder on sim renders)
and are saved with the checkpoint. At run time and in evaluation the same `TargetTracker` averages the real
grounder's fixes, so the policy sees the same kind of signal in both.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vla_ros.policy.observation import MAX_AGE_S, TargetFix


@dataclass(frozen=True)
class ErrorBin:
    """The grounder's behaviour in one situation: P(found), and the 3-D error (base frame, metres) of a fix."""

    found_rate: float
    bias: tuple[float, float, float]
    std: tuple[float, float, float]
    frames: int = 0  # how many frames the numbers came from


@dataclass(frozen=True)
class PerceptionModelParams:
    """Fitted by `python -m vla_ros.policy.perception_fit`; `near` is the hand within `near_xy_m` of the object
    horizontally and less than `near_z_m` above its top (where the hand hides it)."""

    far: ErrorBin = ErrorBin(1.0, (0.010, 0.0, 0.015), (0.003, 0.003, 0.003))
    near: ErrorBin = ErrorBin(0.7, (0.010, 0.0, 0.015), (0.004, 0.004, 0.004))
    near_xy_m: float = 0.06
    near_z_m: float = 0.10
    update_period_steps: int = 2  # 10 Hz camera at 20 Hz control
    latency_steps: int = 1  # ~50 ms from frame to result
    miss_after_miss: float = 0.5  # P(miss | the previous update missed): misses come in streaks (occlusion)
    score_mean: float = 0.85
    score_std: float = 0.05
    bbox_wh: tuple[float, float] = (0.08, 0.08)  # mean fraction of the image
    bbox_std: float = 0.01
    source: dict = field(default_factory=dict)  # how it was fitted: command, seeds, frames, model

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "PerceptionModelParams":
        data = dict(data)
        for key in ("far", "near"):
            b = data[key]
            data[key] = ErrorBin(float(b["found_rate"]), tuple(b["bias"]), tuple(b["std"]), int(b.get("frames", 0)))
        data["bbox_wh"] = tuple(data["bbox_wh"])
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "PerceptionModelParams":
        return cls.from_json(json.loads(Path(path).read_text()))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")


def is_near(ee_pos: np.ndarray, obj_pos: np.ndarray, half_height: float, params: PerceptionModelParams) -> bool:
    """The hand is at the object (where the grounder misses): the one situation split the model makes."""
    dxy = float(np.hypot(ee_pos[0] - obj_pos[0], ee_pos[1] - obj_pos[1]))
    return dxy < params.near_xy_m and ee_pos[2] < obj_pos[2] + half_height + params.near_z_m


@dataclass
class Fix:
    """One grounder answer: a base-frame point or a miss."""

    position: np.ndarray | None
    score: float = 0.0
    bbox_wh: tuple[float, float] = (0.0, 0.0)


class UpdateSchedule:
    """The grounder's timing, shared by the simulated and the real one in the loop: a result every `period`
    control steps (offset by `phase`), delivered `latency` steps after the frame it was computed on."""

    def __init__(self, period: int, latency: int) -> None:
        self.period, self.latency = period, latency
        self.reset()

    def reset(self, phase: int = 0) -> None:
        self._pending: list[tuple[int, Fix]] = []
        self._step = 0
        self._phase = phase

    def step(self, make_fix: Callable[[], Fix]) -> list[Fix]:
        """Once per control step; `make_fix` runs only on update steps. Returns the fixes that arrive now."""
        if (self._step + self._phase) % self.period == 0:
            self._pending.append((self._step + self.latency, make_fix()))
        self._step += 1
        due = [f for t, f in self._pending if t < self._step]
        self._pending = [(t, f) for t, f in self._pending if t >= self._step]
        return due


class SimulatedGrounder:
    """Privileged target pose -> the grounder's fixes, with its update period and latency, seeded."""

    def __init__(self, params: PerceptionModelParams, rng: np.random.Generator) -> None:
        self.p = params
        self.rng = rng
        self.schedule = UpdateSchedule(params.update_period_steps, params.latency_steps)
        self._missed = False

    def reset(self) -> None:
        self._missed = False
        self.schedule.reset(phase=int(self.rng.integers(self.p.update_period_steps)))

    def step(self, obj_pos: np.ndarray, half_height: float, ee_pos: np.ndarray) -> list[Fix]:
        """Called once per control step with the true state; returns the fixes that arrive now."""
        return self.schedule.step(lambda: self._fix(obj_pos, half_height, ee_pos))

    def _fix(self, obj_pos: np.ndarray, half_height: float, ee_pos: np.ndarray) -> Fix:
        b = self.p.near if is_near(ee_pos, obj_pos, half_height, self.p) else self.p.far
        if self.rng.random() >= found_probability(b.found_rate, self.p.miss_after_miss, self._missed):
            self._missed = True
            return Fix(None)
        self._missed = False
        pos = np.asarray(obj_pos, dtype=np.float64) + np.asarray(b.bias) + self.rng.normal(0.0, b.std)
        score = float(np.clip(self.rng.normal(self.p.score_mean, self.p.score_std), 0.0, 1.0))
        wh = tuple(float(max(0.0, v + self.rng.normal(0.0, self.p.bbox_std))) for v in self.p.bbox_wh)
        return Fix(pos, score, wh)  # type: ignore[arg-type]


def found_probability(found_rate: float, miss_after_miss: float, missed_last: bool) -> float:
    """P(found) given the last update, for a two-state chain whose long-run found rate is `found_rate`."""
    if missed_last:
        return 1.0 - miss_after_miss
    miss = 1.0 - found_rate
    return 1.0 - min(1.0, miss * (1.0 - miss_after_miss) / max(found_rate, 1e-6))


class TargetTracker:
    """Holds the target estimate between grounder updates: a running mean of consistent fixes (the grounder's
    noise is independent per frame, the object mostly still), restarted when a fix jumps (the object moved).
    A miss keeps the estimate and lets its age grow, which the policy sees."""

    def __init__(self, window: int = 8, jump_m: float = 0.025) -> None:
        self.window = window
        self.jump_m = jump_m
        self.reset()

    def reset(self) -> None:
        self.position: np.ndarray | None = None
        self.n = 0
        self.score = 0.0
        self.bbox_wh = (0.0, 0.0)
        self.found = False
        self.age_s = MAX_AGE_S

    def update(self, fix: Fix) -> None:
        if fix.position is None:
            self.found = False
            return
        p = np.asarray(fix.position, dtype=np.float64)
        if self.position is None or np.linalg.norm(p - self.position) > self.jump_m:
            self.position, self.n = p.copy(), 1
        else:
            self.n = min(self.n + 1, self.window)
            self.position = self.position + (p - self.position) / self.n
        self.score, self.bbox_wh, self.found, self.age_s = fix.score, fix.bbox_wh, True, 0.0

    def advance(self, dt: float) -> None:
        self.age_s = min(self.age_s + dt, MAX_AGE_S)

    def fix(self) -> TargetFix:
        return TargetFix(None if self.position is None else self.position.copy(), self.bbox_wh, self.score,
                         self.found, self.age_s)
