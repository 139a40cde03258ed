"""Image -> model tensor, the same way in training and at run time.

The model's saved image processor says the size and normalisation; the resize itself is done with
OpenCV on uint8 arrays because the PIL path of the processor costs more than the whole model on CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class ImageSpec:
    """The input a model expects: image size and per-channel normalisation, read from its processor config."""

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_pretrained(cls, id_or_dir: str | Path, local_files_only: bool) -> "ImageSpec":
        """Reads the processor config (preprocessor_config.json) that ships with every CLIP/CLIPSeg model."""
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(str(id_or_dir), local_files_only=local_files_only)
        size = proc.crop_size if getattr(proc, "do_center_crop", False) and proc.crop_size else proc.size
        if "height" in size:
            h, w = int(size["height"]), int(size["width"])
        else:
            h = w = int(size["shortest_edge"])
        return cls(h, w, tuple(float(x) for x in proc.image_mean), tuple(float(x) for x in proc.image_std))


def to_tensor(images: np.ndarray | list[np.ndarray], spec: ImageSpec) -> torch.Tensor:
    """uint8 RGB image(s) (H,W,3) -> normalised float tensor (N,3,spec.height,spec.width)."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    batch = np.stack(
        [
            img if img.shape[:2] == (spec.height, spec.width)
            else cv2.resize(img, (spec.width, spec.height), interpolation=cv2.INTER_AREA)
            for img in images
        ]
    )
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (x - mean) / std
