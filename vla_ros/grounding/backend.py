"""What a grounding backend returns for one image and one target phrase (backend-neutral)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """The target's region at image resolution and how sure the backend is.

    `rival` names a candidate phrase that explains the region better than the target (then the grounder
    answers "not found" whatever the score), `candidate_scores` is each candidate's best score in the image.
    """

    mask: np.ndarray
    score: float
    candidate_scores: dict[str, float] = field(default_factory=dict)
    rival: str | None = None
    rival_score: float = 0.0
