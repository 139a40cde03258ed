"""A picture of a grounding result (mask tint, bbox, target pixel, label and score) for RViz and reports."""
from __future__ import annotations

import cv2
import numpy as np

from vla_ros.grounding.result import GroundingResult, Status

COLORS = {Status.FOUND: (40, 220, 40), Status.NOT_FOUND: (230, 140, 20), Status.NOT_UNDERSTOOD: (220, 40, 40)}


def draw_overlay(image_rgb: np.ndarray, result: GroundingResult, alpha: float = 0.45) -> np.ndarray:
    """rgb8 copy of the image with the result drawn on it; the status line says why when nothing was found."""
    out = np.ascontiguousarray(image_rgb, dtype=np.uint8).copy()
    color = COLORS[result.status]
    if result.mask is not None and result.mask.any():
        tint = out[result.mask].astype(np.float32) * (1 - alpha) + np.array(color, np.float32) * alpha
        out[result.mask] = tint.astype(np.uint8)
    if result.bbox is not None:
        u0, v0, u1, v1 = result.bbox
        cv2.rectangle(out, (u0, v0), (u1, v1), color, 1)
    if result.pixel is not None:
        cv2.drawMarker(out, result.pixel, (255, 255, 255), cv2.MARKER_CROSS, 8, 1)
    scale = max(0.3, out.shape[1] / 640)
    if result.status is Status.NOT_UNDERSTOOD:
        label = "not understood"
    else:
        label = f"{result.phrase or '?'} {result.score:.2f}"
    if result.status is Status.NOT_FOUND:
        label += " (not found)"
    u, v = (result.bbox[0], max(10, result.bbox[1] - 3)) if result.bbox else (3, 12)
    cv2.putText(out, label, (u, v), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, label, (u, v), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
    return out
