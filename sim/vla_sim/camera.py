"""Offscreen RGB, depth and instance-segmentation renders of a named MuJoCo camera, and its intrinsics.

Why a class: MuJoCo renderers own a GL context, so one is created lazily per image size and reused
(creating one costs far more than a frame). Renders are shadow-free (the model sets shadowsize 0): cheap.
Parked objects live in a geom group that is never enabled, so they never appear in any image.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

# MuJoCo cameras look along -z with y up; an optical frame (ROS REP 103) has z forward, x right, y down.
MUJOCO_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])
MAX_DEPTH_M = 10.0


@dataclass(frozen=True)
class CameraInfo:
    """Pinhole intrinsics (pixel centres at integer coordinates, as ROS CameraInfo) and the optical frame pose.

    `rotation` columns are the optical frame's x (right), y (down), z (forward) axes in the world (= robot
    base) frame; a camera-frame point p maps to the world as position + rotation @ p.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    frame_id: str
    position: np.ndarray  # (3,) metres, world frame
    rotation: np.ndarray  # (3, 3)

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, world_point: np.ndarray) -> tuple[float, float, float]:
        """World point -> (u, v, depth along the optical axis)."""
        p = self.rotation.T @ (np.asarray(world_point, dtype=float) - self.position)
        return self.fx * p[0] / p[2] + self.cx, self.fy * p[1] / p[2] + self.cy, float(p[2])

    def deproject(self, u: float, v: float, depth: float) -> np.ndarray:
        """Pixel (u, v) with depth (metres along the optical axis) -> world point."""
        p = np.array([(u - self.cx) / self.fx * depth, (v - self.cy) / self.fy * depth, depth])
        return self.position + self.rotation @ p


def camera_info(model: mujoco.MjModel, data: mujoco.MjData, camera: str, width: int, height: int,
                frame_id: str) -> CameraInfo:
    """Intrinsics from the camera's vertical field of view (MuJoCo `fovy`), pose from the current state."""
    cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    if cam < 0:
        raise ValueError(f"no camera named {camera!r}")
    f = 0.5 * height / np.tan(np.deg2rad(model.cam_fovy[cam]) / 2)
    rotation = data.cam_xmat[cam].reshape(3, 3) @ MUJOCO_TO_OPTICAL
    return CameraInfo(width, height, float(f), float(f), (width - 1) / 2, (height - 1) / 2, frame_id,
                      data.cam_xpos[cam].copy(), rotation)


class CameraRenderer:
    """RGB / depth / segmentation of one model, with renderers cached by image size."""

    def __init__(self, model: mujoco.MjModel, geom_to_instance: np.ndarray) -> None:
        self.model = model
        self.geom_to_instance = geom_to_instance  # (ngeom,) int: instance id per geom, 0 = background
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}

    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        key = (width, height)
        if key not in self._renderers:
            self._renderers[key] = mujoco.Renderer(self.model, height=height, width=width)
        return self._renderers[key]

    def rgb(self, data: mujoco.MjData, camera: str | mujoco.MjvCamera, width: int, height: int) -> np.ndarray:
        r = self._renderer(width, height)
        r.update_scene(data, camera)
        return r.render().copy()

    def _render_in_mode(self, data: mujoco.MjData, camera: str, width: int, height: int, mode: str) -> np.ndarray:
        """One render in depth or segmentation mode; the shared renderer is back in rgb mode afterwards."""
        r = self._renderer(width, height)
        getattr(r, f"enable_{mode}_rendering")()
        try:
            r.update_scene(data, camera)
            return r.render()
        finally:
            getattr(r, f"disable_{mode}_rendering")()

    def depth(self, data: mujoco.MjData, camera: str, width: int, height: int) -> np.ndarray:
        """(H, W, 1) float32 metres along the optical axis; nothing in view reads as MAX_DEPTH_M."""
        depth = self._render_in_mode(data, camera, width, height, "depth")
        return np.clip(depth, 0.0, MAX_DEPTH_M).astype(np.float32)[..., None]

    def segmentation(self, data: mujoco.MjData, camera: str, width: int, height: int) -> np.ndarray:
        """(H, W) int32 instance ids (0 = background or robot or table)."""
        seg = self._render_in_mode(data, camera, width, height, "segmentation")
        ids, types = seg[..., 0], seg[..., 1]
        is_geom = (types == int(mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)
        out = np.zeros(ids.shape, dtype=np.int32)
        out[is_geom] = self.geom_to_instance[ids[is_geom]]
        return out

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
