"""Grounding data set from the sim: front-camera images, instance masks and a phrase per object.

    python -m vla_sim.grounding_dataset --out DIR --split train [--seeds 0:12000] [--size 224]
                                        [--min-objects 2 --max-objects 4]

writes DIR/<split>.npz (images (N,H,W,3) uint8, instances (N,H,W) uint8 with 0 = background and k = object
k, seeds (N,) int64) and DIR/<split>.json (per image a list of {"id", "color", "shape", "phrase",
"pixel_count"}; an object hidden behind the arm has pixel_count 0). Image i is a pure function of seeds[i]:
the scene of `TabletopEnv.reset(seed)` with the arm in a seeded pose (home, or the hand somewhere above the
table so the arm is in view and sometimes occludes), so held-out splits stay held out.

Standard splits (`STANDARD_SPLITS`): train on "train", score on "test" (held-out seeds, same object counts)
and "crowded" (held-out seeds, more objects than training ever shows).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vla_sim.env import HOME_Q, TabletopEnv
from vla_sim.scene import WORKSPACE_X, WORKSPACE_Y


@dataclass(frozen=True)
class SplitSpec:
    """Which scenes a split renders: the seeds and how many objects each scene holds."""

    seeds: range
    min_objects: int
    max_objects: int


TRAIN_SEEDS = range(0, 12000)
TEST_SEEDS = range(1_000_000, 1_000_500)
CROWDED_SEEDS = range(2_000_000, 2_000_500)
STANDARD_SPLITS: dict[str, SplitSpec] = {
    "train": SplitSpec(TRAIN_SEEDS, 2, 4),
    "test": SplitSpec(TEST_SEEDS, 2, 4),
    "crowded": SplitSpec(CROWDED_SEEDS, 5, 6),
}
ARM_HOME_PROBABILITY = 0.4


@dataclass
class GroundingSplit:
    """One rendered split in memory: images, instance masks, seeds and per-image object lists."""

    images: np.ndarray  # (N, H, W, 3) uint8
    instances: np.ndarray  # (N, H, W) uint8, 0 = background, k = object k
    seeds: np.ndarray  # (N,) int64
    objects: list[list[dict]]  # per image: {"id", "color", "shape", "phrase", "pixel_count"}


def render_sample(env: TabletopEnv, seed: int, size: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """One image, its instance mask and object list for scene `seed`."""
    _, info = env.reset(seed=seed)
    rng = np.random.default_rng([seed, 1])
    if rng.random() >= ARM_HOME_PROBABILITY:
        hand = np.array([rng.uniform(*WORKSPACE_X), rng.uniform(*WORKSPACE_Y), rng.uniform(0.12, 0.40)])
        env.teleport_arm(env.solve_ik(hand, q_init=HOME_Q, iterations=40).q, rng.uniform(0.0, 0.08))
    image = env.render_rgb("front", size)
    instances = env.render_segmentation("front", size)
    counts = np.bincount(instances.ravel(), minlength=len(info["objects"]) + 1)
    objects = [{"id": o["id"], "color": o["color"], "shape": o["shape"], "phrase": o["phrase"],
                "pixel_count": int(counts[o["id"]])} for o in info["objects"]]
    return image, instances.astype(np.uint8), objects


def generate(spec: SplitSpec, size: int) -> GroundingSplit:
    """Render every scene of `spec` at `size` x `size` pixels into one in-memory split."""
    env = TabletopEnv(image_size=size, obs_images=False, min_objects=spec.min_objects, max_objects=spec.max_objects)
    n = len(spec.seeds)
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    instances = np.zeros((n, size, size), dtype=np.uint8)
    objects: list[list[dict]] = []
    try:
        for i, seed in enumerate(tqdm(spec.seeds, desc="rendering", unit="img")):
            images[i], instances[i], objs = render_sample(env, seed, size)
            objects.append(objs)
    finally:
        env.close()
    return GroundingSplit(images, instances, np.array(spec.seeds, dtype=np.int64), objects)


def save_grounding_split(split: GroundingSplit, out_dir: str | Path, name: str) -> None:
    """Write `split` as out_dir/<name>.npz (arrays) and out_dir/<name>.json (object lists)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / f"{name}.npz", images=split.images, instances=split.instances, seeds=split.seeds)
    (out / f"{name}.json").write_text(json.dumps(split.objects))


def load_grounding_split(data_dir: str | Path, name: str) -> GroundingSplit:
    """Read a split written by `save_grounding_split`; says how to render it if the files are missing."""
    data_dir = Path(data_dir)
    npz, meta = data_dir / f"{name}.npz", data_dir / f"{name}.json"
    if not npz.is_file() or not meta.is_file():
        raise FileNotFoundError(f"{npz} or {meta} missing: "
                                f"run python -m vla_sim.grounding_dataset --out {data_dir} --split {name}")
    with np.load(npz) as arrays:
        split = GroundingSplit(arrays["images"], arrays["instances"], arrays["seeds"], json.loads(meta.read_text()))
    if not len(split.images) == len(split.instances) == len(split.seeds) == len(split.objects):
        raise ValueError(f"{data_dir}/{name}: arrays and object lists differ in length")
    return split


def _seed_range(text: str) -> range:
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"seeds must be A:B, got {text!r}") from exc
    if not 0 <= a < b:
        raise argparse.ArgumentTypeError(f"seeds A:B need 0 <= A < B, got {text!r}")
    return range(a, b)


def main(argv: list[str] | None = None) -> int:
    """Command line: render one split and write it to --out (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    standard_names = ", ".join(STANDARD_SPLITS)
    ap.add_argument("--split", required=True, help=f"name; a standard one ({standard_names}) sets the defaults")
    ap.add_argument("--seeds", type=_seed_range, help="A:B (default: the standard split's)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--min-objects", type=int)
    ap.add_argument("--max-objects", type=int)
    args = ap.parse_args(argv)
    std = STANDARD_SPLITS.get(args.split)
    if std is None and (args.seeds is None or args.min_objects is None or args.max_objects is None):
        ap.error(f"split {args.split!r} is not standard: give --seeds, --min-objects and --max-objects")
    spec = SplitSpec(args.seeds or std.seeds, args.min_objects or std.min_objects, args.max_objects or std.max_objects)
    split = generate(spec, args.size)
    save_grounding_split(split, args.out, args.split)
    visible = sum(o["pixel_count"] > 0 for objs in split.objects for o in objs)
    total = sum(len(objs) for objs in split.objects)
    print(f"wrote {args.out / args.split}.npz/.json: {len(split.images)} images, {total} objects ({visible} visible)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
