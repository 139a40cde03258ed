"""Scoring a grounder on held-out sim scenes: hit rate, mask IoU, correct "not found", and the threshold.

Queries are recorded once with the score threshold at 0 (so every decision except the threshold is
the model's), then any threshold can be applied afterwards: that is how training calibrates it on the
validation split and how the benchmark reports the shipped threshold's numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ros.grounding.data import GroundingSplit
from vla_ros.grounding.grounder import Grounder
from vla_ros.grounding.result import Status


@dataclass
class Query:
    """One recorded grounding question (a phrase on an image) and the model's answer, before any threshold."""

    image: int
    phrase: str
    present: bool
    accepted: bool  # mask non-empty and no rival candidate explains the region better
    score: float
    hit: bool  # target pixel inside an instance the phrase names
    iou: float
    latency_s: float


def record(grounder: Grounder, split: GroundingSplit, absent_per_image: int = 2, seed: int = 0,
           verb: str = "pick up") -> list[Query]:
    """Every present phrase of every image, plus `absent_per_image` candidates that are not in the image."""
    rng = np.random.default_rng(seed)
    saved, grounder.threshold = grounder.threshold, 0.0
    out: list[Query] = []
    try:
        for i in range(len(split)):
            present = sorted(split.phrases(i))
            absent = split.absent(i, grounder.candidates)
            picked = list(rng.choice(absent, size=min(absent_per_image, len(absent)), replace=False)) if absent else []
            for phrase in present + picked:
                r = grounder.ground(split.images[i], f"{verb} the {phrase}")
                truth = split.target_mask(i, phrase)
                accepted = r.status is Status.FOUND
                hit = bool(accepted and truth[r.pixel[1], r.pixel[0]])
                iou = 0.0
                if accepted and truth.any():
                    iou = float((r.mask & truth).sum() / (r.mask | truth).sum())
                out.append(Query(i, str(phrase), phrase in present, accepted, float(r.score), hit, iou, r.latency_s))
    finally:
        grounder.threshold = saved
    return out


def metrics(queries: list[Query], threshold: float) -> dict:
    """Hit rate and IoU over present targets, correct "not found" over absent ones, at `threshold`."""
    pos = [q for q in queries if q.present]
    neg = [q for q in queries if not q.present]

    def found(q: Query) -> bool:
        return q.accepted and q.score >= threshold

    return {
        "threshold": round(float(threshold), 4),
        "targets": len(pos),
        "hit_rate": float(np.mean([found(q) and q.hit for q in pos])) if pos else float("nan"),
        "mask_iou": float(np.mean([q.iou if found(q) else 0.0 for q in pos])) if pos else float("nan"),
        "absent_commands": len(neg),
        "not_found_correct": float(np.mean([not found(q) for q in neg])) if neg else float("nan"),
        "images": len({q.image for q in queries}),
    }


def calibrate(queries: list[Query]) -> float:
    """The threshold that maximises (hit rate + correct not-found) / 2; midway between neighbouring scores."""
    scores = np.unique([q.score for q in queries])
    if scores.size:
        cuts = np.concatenate([[0.0], (scores[:-1] + scores[1:]) / 2, [scores[-1] + 1e-6]])
    else:
        cuts = np.array([0.5])
    values = []
    for t in cuts:
        m = metrics(queries, float(t))
        values.append((m["hit_rate"] + m["not_found_correct"]) / 2)
    values = np.asarray(values)
    best = cuts[values >= values.max() - 1e-9]
    return float(np.median(best))  # the middle of the best plateau leaves margin on both sides
