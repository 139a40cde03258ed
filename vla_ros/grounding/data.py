"""The sim's grounding data set (vla_sim.grounding_dataset) as arrays and per-image phrase -> instance ids.

The files are the contract (NAME.npz: images (N,H,W,3) uint8, instances (N,H,W) uint8 with 0 = background
and k = object k, seeds; NAME.json: per image a list of {"id", "color", "shape", "phrase", "pixel_count"}),
so training and evaluation read them with numpy alone and need no simulator installed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class GroundingSplit:
    """One split of the grounding data set in memory, with the per-image questions training and evaluation ask."""

    images: np.ndarray  # (N, H, W, 3) uint8
    instances: np.ndarray  # (N, H, W) uint8
    seeds: np.ndarray  # (N,)
    objects: list[list[dict]]  # per image: {"id", "color", "shape", "phrase", "pixel_count"}

    def __len__(self) -> int:
        return len(self.images)

    def phrases(self, i: int) -> set[str]:
        """Phrases of the objects visible in image i."""
        return {o["phrase"] for o in self.objects[i] if o["pixel_count"] > 0}

    def absent(self, i: int, candidates: list[str]) -> list[str]:
        """Candidates absent from scene i; objects in the scene but hidden (behind the arm) are neither
        targets nor absent: whether they "are there" has no right answer from the image."""
        there = {o["phrase"] for o in self.objects[i]}
        return [p for p in candidates if p not in there]

    def target_mask(self, i: int, phrase: str) -> np.ndarray:
        """Union of the instances that `phrase` names in image i (empty if none): what a command may point at."""
        ids = [o["id"] for o in self.objects[i] if o["phrase"] == phrase]
        return np.isin(self.instances[i], ids) if ids else np.zeros(self.instances.shape[1:], dtype=bool)

    def subset(self, idx: "np.ndarray | list[int] | slice") -> "GroundingSplit":
        idx = np.arange(len(self))[idx]
        return GroundingSplit(self.images[idx], self.instances[idx], self.seeds[idx], [self.objects[i] for i in idx])


def load_split(data_dir: str | Path, name: str) -> GroundingSplit:
    """Read DATA_DIR/NAME.npz and .json into a `GroundingSplit`; says how to generate them if they are missing."""
    data_dir = Path(data_dir)
    npz, meta = data_dir / f"{name}.npz", data_dir / f"{name}.json"
    if not npz.is_file() or not meta.is_file():
        raise FileNotFoundError(
            f"{npz} / {meta} not found; generate them with "
            f"`python -m vla_sim.grounding_dataset --out {data_dir} --split {name} --seeds A:B --size 224`"
        )
    arrays = np.load(npz)
    objects = json.loads(meta.read_text())
    if isinstance(objects, dict):  # {"images": [...], ...} or a list per image, whichever the generator writes
        objects = objects.get("images", objects.get("objects"))
    objects = [img["objects"] if isinstance(img, dict) else img for img in objects]
    split = GroundingSplit(arrays["images"], arrays["instances"], arrays["seeds"], objects)
    if not (len(split.images) == len(split.instances) == len(split.objects)):
        raise ValueError(f"{data_dir}/{name}: {len(split.images)} images, {len(split.instances)} masks, "
                         f"{len(split.objects)} object lists")
    return split
