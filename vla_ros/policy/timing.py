"""The node graph's timing in the training and evaluation env: how late a grounder fix arrives and how late an
action reaches the arm, in control steps, drawn per episode from ranges.

The library loop applies an action in the step it is chosen and delivers a fix one step after its frame. Over
DDS a fix is usable 2-3 control ticks after its frame, and an action lands 0-1 sim ticks after it is published
(benchmarks/results/e2e.json); a real arm's controller adds more. The scripted expert's demonstrations cannot
teach acting under that delay (the expert sees the present); the policy gradient can, in an env that has it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimingRange:
    """Per-episode ranges, inclusive, in control steps. The default is the library loop's own timing: a fix
    one step after its frame (the perception model's `latency_steps`), actions applied at once."""

    fix_latency_steps: tuple[int, int] = (1, 1)
    action_delay_steps: tuple[int, int] = (0, 0)

    def validate(self) -> None:
        for name in ("fix_latency_steps", "action_delay_steps"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi <= 10:
                raise ValueError(f"{name}={(lo, hi)}: need 0 <= low <= high <= 10 control steps")
        if self.fix_latency_steps[0] < 1:
            raise ValueError("fix_latency_steps must start at 1 or more: a fix is never usable in its own frame's step")

    def sample(self, rng: np.random.Generator) -> tuple[int, int]:
        """(fix latency, action delay) for one episode."""
        return (int(rng.integers(self.fix_latency_steps[0], self.fix_latency_steps[1] + 1)),
                int(rng.integers(self.action_delay_steps[0], self.action_delay_steps[1] + 1)))

    @classmethod
    def parse(cls, fix_latency: str, action_delay: str) -> TimingRange:
        """From command-line text "N" or "LO:HI" for each range."""
        def rng(text: str) -> tuple[int, int]:
            lo, _, hi = text.partition(":")
            return int(lo), int(hi or lo)
        t = cls(rng(fix_latency), rng(action_delay))
        t.validate()
        return t


class ActionDelay:
    """A FIFO that hands the arm each action `delay` steps after the policy chose it. Until the first action
    arrives the arm holds still (zero motion) with the gripper at the first action's command."""

    def __init__(self, delay: int = 0) -> None:
        self.reset(delay)

    def reset(self, delay: int) -> None:
        self.delay = delay
        self._queue: deque[np.ndarray] = deque()

    def __call__(self, action: np.ndarray) -> np.ndarray:
        self._queue.append(np.asarray(action, dtype=np.float32).copy())
        if len(self._queue) > self.delay:
            return self._queue.popleft()
        hold = np.zeros_like(self._queue[0])
        hold[3] = self._queue[0][3]
        return hold
