"""The control tick's phase lock, driven as the node's rcl timer drives it: the timer schedules its next call
with the period in force before the callback runs, so a period set in a callback applies one tick later."""
import numpy as np
import pytest

from vla_ros.policy.tick_phase import PhaseLockConfig, TickPhaseLock

PERIOD = 0.05


def run(lock: TickPhaseLock | None, camera_period: float, ticks: int = 400, tick0: float = 0.031,
        seed: int = 0) -> tuple[list[float], list[float]]:
    """Camera frames every `camera_period` (stamp phase 0.012 s), fixes ~70 ms later (jittered); returns each
    fix's frame stamp -> first tick after its arrival (second half of the run) and the tick intervals."""
    rng = np.random.default_rng(seed)
    arrivals = []
    t = 0.012
    while t < ticks * PERIOD + 1:
        arrivals.append((t, t + 0.07 + abs(rng.normal(0, 0.008))))
        t += camera_period
    period, next_call, ticks_at, waits = PERIOD, tick0, [], []
    seen = 0
    for _ in range(ticks):
        now = next_call
        next_call = now + period  # rcl: the next call is scheduled before the callback runs
        while seen < len(arrivals) and arrivals[seen][1] <= now:
            stamp, arrival = arrivals[seen]
            if lock is not None:
                lock.observe(stamp, arrival)
            if now > ticks * PERIOD / 2:
                waits.append(now - stamp)
            seen += 1
        if lock is not None:
            period = lock.next_period(now)
        ticks_at.append(now)
    return waits, list(np.diff(ticks_at))


def test_the_lock_puts_the_tick_just_after_the_fixes_and_keeps_the_rate():
    free, _ = run(None, 0.1)
    lock = TickPhaseLock(PERIOD)
    locked, intervals = run(lock, 0.1)
    # fixes arrive 70-95 ms after their frame; locked, the tick follows the late ones by the margin alone
    assert np.percentile(locked, 99) < 0.1 and lock.summary()["locked"]
    assert np.percentile(free, 99) > np.percentile(locked, 99) + 0.02  # an arbitrary phase: up to a period more
    late = intervals[len(intervals) // 2:]
    assert abs(np.mean(late) - PERIOD) < 1e-3 and np.max(np.abs(np.array(late) - PERIOD)) <= 0.010 + 1e-9


def test_no_lock_when_the_camera_has_no_steady_phase_against_the_tick():
    lock = TickPhaseLock(PERIOD)
    _, intervals = run(lock, 1 / 30)  # 30 Hz camera, 20 Hz control: stamps at every phase
    assert lock.target_phase() is None and not lock.summary()["locked"]
    assert np.allclose(intervals, PERIOD)


def test_implausible_fixes_are_ignored_and_bad_settings_refused():
    lock = TickPhaseLock(PERIOD)
    for stamp, arrival in ((float("nan"), 1.0), (5.0, 4.0), (1.0, 9.0), (float("inf"), float("inf"))):
        lock.observe(stamp, arrival)
    assert lock.summary()["fixes"] == 0 and lock.next_period(3.0) == PERIOD
    with pytest.raises(ValueError):
        TickPhaseLock(PERIOD, PhaseLockConfig(quantile=0.2))
