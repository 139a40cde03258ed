"""What grounding answers: one dataclass the node publishes and the benchmark scores."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Status(str, Enum):
    """The three answers grounding gives: found, understood but not found, or not understood."""

    FOUND = "found"
    NOT_FOUND = "not_found"  # understood, but nothing in view matches well enough
    NOT_UNDERSTOOD = "not_understood"  # the command or phrase cannot be grounded at all


@dataclass
class GroundingResult:
    """Outcome of one `Grounder.ground` call; geometry fields are None unless status is FOUND.

    `pixel` is (u, v) = (column, row); `bbox` is (u_min, v_min, u_max, v_max) inclusive;
    `point_camera` is (x, y, z) in metres in the camera's optical frame (z forward), or None without depth.
    """

    status: Status
    reason: str = ""
    phrase: str = ""
    score: float = 0.0
    mask: np.ndarray | None = None
    pixel: tuple[int, int] | None = None
    bbox: tuple[int, int, int, int] | None = None
    point_camera: tuple[float, float, float] | None = None
    latency_s: float = 0.0
    candidate_scores: dict[str, float] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.status is Status.FOUND

    def summary(self) -> dict:
        """JSON-able view without the mask (for a status topic or a log line)."""
        return {
            "status": self.status.value,
            "reason": self.reason,
            "phrase": self.phrase,
            "score": round(float(self.score), 4),
            "pixel": list(self.pixel) if self.pixel else None,
            "bbox": list(self.bbox) if self.bbox else None,
            "point_camera": [round(float(x), 4) for x in self.point_camera] if self.point_camera else None,
            "latency_s": round(float(self.latency_s), 4),
            "candidate_scores": {k: round(float(v), 4) for k, v in self.candidate_scores.items()},
        }
