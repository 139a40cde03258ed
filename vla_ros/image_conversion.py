"""sensor_msgs/Image <-> NumPy without cv_bridge (which robots have, but PyPI's port breaks on NumPy 2).

`image_to_numpy` returns a read-only view into the message buffer whenever the layout allows (native
byte order), honouring `step` (row padding) and `is_bigendian`. The real cv_bridge is used by
`image_to_numpy(..., prefer_cv_bridge=True)` when importable; tests check that both agree.
Malformed messages raise `RejectedInput` with a stable reason, never an IndexError deep in NumPy.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from vla_ros.rejections import RejectedInput

# encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
_NATIVE_BIG = sys.byteorder == "big"


def _cv_bridge() -> Any | None:
    try:
        from cv_bridge import CvBridge  # type: ignore[import-not-found]
    except ImportError:
        return None
    return CvBridge()


def image_to_numpy(msg: Any, prefer_cv_bridge: bool = False) -> np.ndarray:
    """Image -> (H, W) or (H, W, C) array in the message's own encoding (no colour conversion)."""
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise RejectedInput("unsupported encoding", f"{enc!r} (supported: {', '.join(ENCODINGS)})")
    if prefer_cv_bridge:
        bridge = _cv_bridge()
        if bridge is not None:
            return bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    dtype, channels = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = w * channels * dtype.itemsize
    if h <= 0 or w <= 0:
        raise RejectedInput("empty image", f"{w}x{h}")
    if step < row_bytes:
        raise RejectedInput("step too small", f"step {step} < width*channels*itemsize {row_bytes}")
    data = msg.data
    nbytes = len(data) * (data.itemsize if hasattr(data, "itemsize") else 1)
    if nbytes != h * step:
        raise RejectedInput("data length mismatch", f"{nbytes} bytes, expected height*step = {h * step}")
    buf = np.frombuffer(data, dtype=np.uint8).reshape(h, step)[:, :row_bytes]
    big = bool(msg.is_bigendian)
    view = buf.view(dtype.newbyteorder(">" if big else "<"))
    arr = view.reshape(h, w, channels) if channels > 1 else view.reshape(h, w)
    if dtype.itemsize > 1 and big != _NATIVE_BIG:
        arr = arr.astype(dtype)  # byte-swap into native order: the one case that must copy
    arr.flags.writeable = False
    return arr


def numpy_to_image(arr: np.ndarray, encoding: str, frame_id: str = "", stamp: Any = None) -> Any:
    """Array -> sensor_msgs/Image (dense rows, native byte order)."""
    from sensor_msgs.msg import Image

    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding {encoding!r}")
    dtype, channels = ENCODINGS[encoding]
    arr = np.asarray(arr)
    expected_ndim = 2 if channels == 1 else 3
    if arr.ndim == 3 and channels == 1 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != expected_ndim or (channels > 1 and arr.shape[2] != channels):
        raise ValueError(f"array of shape {arr.shape} does not fit encoding {encoding} ({channels} channels)")
    if arr.dtype != dtype:
        raise ValueError(f"array dtype {arr.dtype} does not fit encoding {encoding} ({dtype})")
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(_NATIVE_BIG)
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(arr).tobytes()
    return msg


def to_rgb8(msg: Any) -> np.ndarray:
    """Any colour or mono 8-bit image -> (H, W, 3) RGB uint8, the input every model here takes."""
    arr = image_to_numpy(msg)
    enc = msg.encoding
    if enc == "rgb8" or enc == "8UC3":
        return arr
    if enc == "bgr8":
        return arr[:, :, ::-1]
    if enc == "rgba8":
        return arr[:, :, :3]
    if enc == "bgra8":
        return arr[:, :, 2::-1]
    if enc in ("mono8", "8UC1"):
        return np.repeat(arr[:, :, None], 3, axis=2)
    raise RejectedInput("not a colour image", f"encoding {enc!r} cannot be shown as RGB")


def to_depth_m(msg: Any) -> np.ndarray:
    """Depth image -> float32 metres; 16UC1/mono16 are millimetres (REP 118); 0 and NaN mean no reading."""
    arr = image_to_numpy(msg)
    if msg.encoding in ("16UC1", "mono16"):
        out = arr.astype(np.float32) * 1e-3
        out[arr == 0] = np.nan
        return out
    if msg.encoding == "32FC1":
        out = np.array(arr, dtype=np.float32)
        out[~np.isfinite(out) | (out <= 0)] = np.nan
        return out
    raise RejectedInput("not a depth image", f"encoding {msg.encoding!r} (use 16UC1 mm or 32FC1 m)")
