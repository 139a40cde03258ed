"""Phase-lock the control tick to the camera: tick just after a frame's grounder fix usually arrives.

A fixed-rate tick with an arbitrary phase leaves every fix waiting 0 to one period before it is used (the
end-to-end benchmark measured up to 58 ms of that wait on top of grounding). The camera's frames come at a
steady phase (its stamps), and the fixes a steady latency later, so the tick can sit a high quantile of that
latency after each frame's stamp: the rate stays fixed and nearly every fix is acted on when it arrives. The
lock moves the phase by at most `max_shift_s` per correction and only when the stamps agree on one phase
(a camera whose rate is not a divisor of the control rate has no such phase; the lock then stays off).
No rclpy here: the node feeds it stamps and arrival times and sets its timer's period from `next_period`.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PhaseLockConfig:
    """The lock's settings; `quantile` of stamp -> arrival latency plus `margin_s` is where the tick goes."""

    quantile: float = 0.98
    margin_s: float = 0.004
    window: int = 60  # fixes the quantile and the stamp phase are taken over
    min_fixes: int = 10
    max_shift_s: float = 0.010  # the most one correction moves the tick
    deadband_s: float = 0.002  # smaller errors are left alone (no dithering)
    max_phase_spread: float = 0.15  # of the period: circular spread of the stamps beyond which there is no lock

    def validate(self) -> None:
        if not 0.5 <= self.quantile <= 1.0:
            raise ValueError(f"phase lock quantile={self.quantile} must be in [0.5, 1]")
        if self.min_fixes < 2 or self.window < self.min_fixes:
            raise ValueError("phase lock needs min_fixes >= 2 and window >= min_fixes")
        if self.max_shift_s <= 0 or self.deadband_s < 0 or self.margin_s < 0:
            raise ValueError("phase lock max_shift_s must be > 0, deadband_s and margin_s >= 0")


class TickPhaseLock:
    """Where the next control tick should fall, from the stamps and arrival times of the grounder's fixes.

    A period change set in one tick takes effect between the next two (a timer schedules its next call
    before running the callback), so a correction is followed by one settling tick before the next is measured.
    """

    def __init__(self, period_s: float, config: PhaseLockConfig = PhaseLockConfig()) -> None:
        config.validate()
        self.period, self.cfg = period_s, config
        self.latencies: deque[float] = deque(maxlen=config.window)
        self.phases: deque[float] = deque(maxlen=config.window)
        self.settling = 0
        self.last_error_s: float | None = None
        self.corrections = 0

    def observe(self, stamp_s: float, arrival_s: float) -> None:
        """One fix: the stamp of its camera frame and when it arrived, on the same clock. Implausible pairs
        (non-finite, negative or over a second of latency) are ignored: they say nothing about the phase."""
        latency = arrival_s - stamp_s
        if not (math.isfinite(stamp_s) and math.isfinite(latency) and 0.0 <= latency < 1.0):
            return
        self.latencies.append(latency)
        self.phases.append(2.0 * math.pi * ((stamp_s % self.period) / self.period))

    def target_phase(self) -> float | None:
        """The tick's place within the period (seconds from a multiple of the period), or None: no lock."""
        if len(self.latencies) < self.cfg.min_fixes:
            return None
        c, s = float(np.mean(np.cos(self.phases))), float(np.mean(np.sin(self.phases)))
        spread = math.sqrt(max(0.0, -2.0 * math.log(max(math.hypot(c, s), 1e-12)))) / (2.0 * math.pi)
        if spread > self.cfg.max_phase_spread:
            return None
        stamp_phase = (math.atan2(s, c) / (2.0 * math.pi)) % 1.0 * self.period
        return (stamp_phase + self.lead_s()) % self.period

    def lead_s(self) -> float | None:
        """How long after a frame's stamp the tick should come: the latency quantile plus the margin."""
        if not self.latencies:
            return None
        return float(np.quantile(self.latencies, self.cfg.quantile)) + self.cfg.margin_s

    def next_period(self, tick_s: float) -> float:
        """Called in each tick with its time (the stamps' clock): the timer period to set now."""
        if self.settling:
            self.settling -= 1
            return self.period
        target = self.target_phase()
        if target is None:
            self.last_error_s = None
            return self.period
        error = (target - tick_s % self.period + self.period / 2) % self.period - self.period / 2
        self.last_error_s = error
        if abs(error) <= self.cfg.deadband_s:
            return self.period
        self.settling = 1
        self.corrections += 1
        return self.period + max(-self.cfg.max_shift_s, min(self.cfg.max_shift_s, error))

    def summary(self) -> dict:
        """For the node's status: whether it is locked, the lead after each frame, the last phase error."""
        target = self.target_phase()
        lead = self.lead_s()
        return {"locked": target is not None and self.last_error_s is not None
                and abs(self.last_error_s) <= self.cfg.max_shift_s,
                "lead_ms": None if lead is None else round(lead * 1000, 1),
                "error_ms": None if self.last_error_s is None else round(self.last_error_s * 1000, 1),
                "fixes": len(self.latencies), "corrections": self.corrections}
