"""Summary statistics shared by the evaluation code and the benchmarks: success-rate intervals and percentiles."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def wilson95(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sound at 0% and 100%, unlike the normal approximation)."""
    if n <= 0:
        return 0.0, 1.0
    p, z = successes / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def percentiles(values: Sequence[float] | np.ndarray, scale: float = 1e3) -> dict:
    """n, p50, p90, p99, max and mean of `values * scale` (seconds -> ms by default), rounded to 0.1."""
    v = np.asarray(values, dtype=float) * scale
    if v.size == 0:
        return {"n": 0}
    out: dict = {"n": int(v.size)}
    out.update({f"p{q}": round(float(np.percentile(v, q)), 1) for q in (50, 90, 99)})
    return {**out, "max": round(float(v.max()), 1), "mean": round(float(v.mean()), 1)}
