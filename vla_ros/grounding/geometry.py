"""Mask -> the pixel, box and 3-D point a robot can act on.

The largest connected component is kept because a heatmap threshold often leaves specks elsewhere;
depth is the median over the mask so that edge pixels (which see the table behind) do not pull it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels (CameraInfo.k: fx=k[0], cx=k[2], fy=k[4], cy=k[5])."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_k(cls, k: "np.ndarray | list[float]") -> "Intrinsics":
        k = np.asarray(k, dtype=float).reshape(-1)
        return cls(fx=k[0], fy=k[4], cx=k[2], cy=k[5])


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (all False if the mask is empty)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best


def centroid(mask: np.ndarray) -> tuple[int, int] | None:
    """(u, v) pixel of the mask's centroid, snapped to the nearest mask pixel so it lies on the object."""
    vs, us = np.nonzero(mask)
    if us.size == 0:
        return None
    cu, cv_ = us.mean(), vs.mean()
    i = int(np.argmin((us - cu) ** 2 + (vs - cv_) ** 2))
    return int(us[i]), int(vs[i])


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(u_min, v_min, u_max, v_max), inclusive, or None for an empty mask."""
    vs, us = np.nonzero(mask)
    if us.size == 0:
        return None
    return int(us.min()), int(vs.min()), int(us.max()), int(vs.max())


def depth_in_metres(depth: np.ndarray) -> np.ndarray:
    """float32 metres with invalid readings as NaN; uint16 is millimetres (16UC1), floats are metres (32FC1)."""
    depth = np.asarray(depth)
    if depth.dtype == np.uint16:
        out = depth.astype(np.float32) / 1000.0
    else:
        out = depth.astype(np.float32, copy=True)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def point_from_depth(
    mask: np.ndarray, pixel: tuple[int, int], depth: np.ndarray, intrinsics: Intrinsics
) -> tuple[float, float, float] | None:
    """3-D point (x, y, z) in the camera optical frame: back-projects `pixel` at the median valid depth over the mask.

    Returns None when no pixel under the mask has a valid depth (a hole, out of range, or NaN).
    The depth image may differ in size from the mask (e.g. a depth camera at another resolution):
    it is then resized with nearest-neighbour, which never mixes valid and invalid readings.
    """
    z_img = depth_in_metres(depth)
    if z_img.shape != mask.shape:
        z_img = cv2.resize(z_img, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_NEAREST)
    values = z_img[mask]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    z = float(np.median(values))
    u, v = pixel
    return (u - intrinsics.cx) * z / intrinsics.fx, (v - intrinsics.cy) * z / intrinsics.fy, z
