"""Train the offline grounding model on sim renders: `python -m vla_ros.grounding.train --data DIR --out DIR`.

Stage 1 (CLIP): symmetric contrastive loss over in-batch (object crop, phrase) pairs,
L = 1/2 (CE_image->text + CE_text->image) over s_ij = cos(I_i, T_j) / tau with a learned temperature.
Each batch holds distinct phrases, so every off-diagonal pair is a true negative and chance is log(B).
Crops dim everything outside the object's instance mask, so a neighbour in the crop is not a second answer.
Stage 2 (CLIPSeg decoder, backbone fine-tuned at a lower rate): BCE + dice against the renderer's masks;
phrases of absent objects are trained towards an empty mask, which is what teaches "not found".
Then the found/not-found threshold is calibrated on a validation split and saved with the model.
Seeded end to end (torch, numpy, sampling), so the command reproduces the shipped model.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vla_ros.grounding.clip_backend import TEMPLATES
from vla_ros.grounding.clipseg_backend import decoder_logits, text_embeddings, vision_activations
from vla_ros.grounding.data import GroundingSplit, load_split
from vla_ros.grounding.evaluate import calibrate, metrics, record
from vla_ros.grounding.grounder import Grounder, GrounderConfig
from vla_ros.grounding.offline_model import (
    OfflineModelConfig,
    build_model,
    build_processor,
    build_tokenizer,
    config_dict,
    save_bundle,
)
from vla_ros.grounding.preprocess import ImageSpec, to_tensor
from vla_ros.vocabulary import load_vocabulary

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter
    from transformers import CLIPSegForImageSegmentation, CLIPTokenizer

TINY = OfflineModelConfig(vision_hidden=64, vision_layers=2, vision_heads=2, text_hidden=32, text_layers=1,
                          text_heads=2, projection_dim=32, extract_layers=[0, 1], reduce_dim=16, decoder_heads=2)


@dataclass
class TrainConfig:
    """Everything one training run depends on (data, output, both stages' schedules, seed); saved with the model."""

    data: Path
    out: Path
    train_split: str = "train"
    val_split: str = "val"  # if DATA/val.npz is absent, the last `val_fraction` of train is held out
    val_fraction: float = 0.1
    clip_epochs: float = 1.0
    seg_epochs: float = 2.0
    clip_batch: int = 12  # distinct phrases per contrastive batch (capped by the vocabulary)
    seg_images: int = 4  # each prompted with every candidate phrase
    which_weight: float = 2.0  # cross-entropy across prompts at object pixels (see seg_batch)
    shift_px: float = 8.0  # random translation (pixels, each axis) of stage-2 images and masks; see augment()
    scale_jitter: float = 0.1  # random zoom in [1 - jitter, 1 + jitter] about the image centre
    lr: float = 2e-3
    backbone_lr: float = 6e-4
    region_size: int = 64  # crop size for stage 1 and for the CLIP backend's regions
    seed: int = 0
    threads: int = 1
    tiny: bool = False
    runs_dir: Path = Path("runs")
    init: Path | None = None  # start from a trained bundle (fine-tune); with clip_epochs 0, stage 1 is skipped


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators, so a run reproduces."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def object_crop(split: GroundingSplit, i: int, obj_id: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Square crop around one object (random scale and shift), everything outside its mask dimmed."""
    mask = split.instances[i] == obj_id
    vs, us = np.nonzero(mask)
    h, w = mask.shape
    side = max(us.max() - us.min(), vs.max() - vs.min()) + 1
    side = int(side * rng.uniform(1.2, 1.8)) + 4
    cu = (us.min() + us.max()) / 2 + rng.uniform(-0.15, 0.15) * side
    cv_ = (vs.min() + vs.max()) / 2 + rng.uniform(-0.15, 0.15) * side
    u0, v0 = int(round(cu - side / 2)), int(round(cv_ - side / 2))
    img = split.images[i].astype(np.float32)
    img[~mask] *= 0.35
    pad = side
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    crop = padded[v0 + pad : v0 + pad + side, u0 + pad : u0 + pad + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).clip(0, 255).astype(np.uint8)


def contrastive_loss(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor) -> tuple[torch.Tensor, float]:
    """CLIP's symmetric InfoNCE; returns the loss and the image->text top-1 accuracy."""
    logits = logit_scale.exp().clamp(max=100) * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T
    labels = torch.arange(len(img))
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    return loss, float((logits.argmax(1) == labels).float().mean())


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft dice loss (1 - overlap ratio) per mask, averaged: a small object weighs as much as a large one,
    unlike in the per-pixel BCE."""
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()


def train_clip(model: CLIPSegForImageSegmentation, tok: CLIPTokenizer, split: GroundingSplit, phrases: list[str],
               cfg: TrainConfig, spec: ImageSpec, writer: SummaryWriter, rng: np.random.Generator) -> dict:
    """Stage 1: contrastive pre-training of the vision and text towers on (object crop, phrase) pairs."""
    objects: dict[str, list[tuple[int, int]]] = {p: [] for p in phrases}
    for i, objs in enumerate(split.objects):
        for o in objs:
            if o["phrase"] in objects and o["pixel_count"] >= 20:  # a sliver behind the arm is no example
                objects[o["phrase"]].append((i, o["id"]))
    usable = [p for p in phrases if objects[p]]
    batch = min(cfg.clip_batch, len(usable))
    n_obj = sum(len(v) for v in objects.values())
    steps = max(1, int(math.ceil(cfg.clip_epochs * n_obj / batch)))
    clip = model.clip
    opt = torch.optim.AdamW(clip.parameters(), lr=cfg.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    crop_spec = ImageSpec(cfg.region_size, cfg.region_size, spec.mean, spec.std)
    losses: list[float] = []
    accs: list[float] = []
    model.train()
    for step in (bar := tqdm(range(steps), desc="stage 1 contrastive", file=sys.stdout, mininterval=5)):
        chosen = list(rng.choice(usable, size=batch, replace=False))
        crops = [object_crop(split, *objects[p][rng.integers(len(objects[p]))], cfg.region_size, rng) for p in chosen]
        texts = [TEMPLATES[rng.integers(len(TEMPLATES))].format(p) for p in chosen]
        x = to_tensor(crops, crop_spec)
        img = clip.get_image_features(pixel_values=x, interpolate_pos_encoding=True).pooler_output
        enc = tok(texts, padding=True, return_tensors="pt")
        txt = clip.get_text_features(input_ids=enc.input_ids, attention_mask=enc.attention_mask).pooler_output
        loss, acc = contrastive_loss(img, txt, clip.logit_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        accs.append(acc)
        writer.add_scalar("clip/loss", losses[-1], step)
        writer.add_scalar("clip/accuracy", acc, step)
        writer.add_scalar("clip/temperature", 1 / clip.logit_scale.exp().item(), step)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", acc=f"{np.mean(accs[-20:]):.2f}", refresh=False)
    tail = max(1, steps // 10)
    return {"steps": steps, "batch": batch, "chance_loss": math.log(batch), "first_loss": float(np.mean(losses[:tail])),
            "final_loss": float(np.mean(losses[-tail:])), "final_accuracy": float(np.mean(accs[-tail:])),
            "temperature": 1 / clip.logit_scale.exp().item()}


def augment(image: np.ndarray, inst: np.ndarray, shift_px: float, scale_jitter: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random shift + zoom for an image and its instance mask.

    With 16-pixel patches an object of ~17 px lands on the patch grid at one offset per scene; shifting by
    up to a patch shows the model every offset, so "cylinder vs block" cannot be learnt per grid position.
    """
    if shift_px <= 0 and scale_jitter <= 0:
        return image, inst
    h, w = inst.shape
    scale = rng.uniform(1 - scale_jitter, 1 + scale_jitter)
    dx, dy = rng.uniform(-shift_px, shift_px, size=2)
    m = np.float32([[scale, 0, (1 - scale) * w / 2 + dx], [0, scale, (1 - scale) * h / 2 + dy]])
    image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inst = cv2.warpAffine(inst, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return image, inst


def seg_batch(split: GroundingSplit, idx: np.ndarray, phrases: list[str], spec: ImageSpec, rng: np.random.Generator,
              shift_px: float = 0.0, scale_jitter: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images (flipped at random), every phrase's target mask (empty when absent) and a per-pixel phrase index.

    All candidate phrases are prompted for every image: the masks teach "where" and "nothing here", the
    phrase index (-100 on background) lets a cross-entropy across prompts teach "which one" at each object
    pixel, so "red ball" must lose to "red block" on a red block rather than merely fire on red things.
    """
    images, masks, labels = [], [], []
    index = {p: k for k, p in enumerate(phrases)}
    for i in idx:
        flip = rng.random() < 0.5
        inst = np.ascontiguousarray(split.instances[i][:, ::-1] if flip else split.instances[i])
        image = np.ascontiguousarray(split.images[i][:, ::-1] if flip else split.images[i])
        image, inst = augment(image, inst, shift_px, scale_jitter, rng)
        images.append(image)
        label = np.full(inst.shape, -100, dtype=np.int64)
        for o in split.objects[i]:
            label[inst == o["id"]] = index[o["phrase"]]
        masks.append(np.stack([label == k for k in range(len(phrases))]).astype(np.float32))
        labels.append(label)
    x = to_tensor(images, spec)
    x = x * float(rng.uniform(0.85, 1.15)) + float(rng.uniform(-0.1, 0.1))  # lighting jitter
    return x, torch.from_numpy(np.stack(masks)), torch.from_numpy(np.stack(labels))


def train_seg(model: CLIPSegForImageSegmentation, tok: CLIPTokenizer, split: GroundingSplit, phrases: list[str],
              cfg: TrainConfig, spec: ImageSpec, writer: SummaryWriter, rng: np.random.Generator) -> dict:
    """Stage 2: the decoder (and, more gently, both towers) on masks; absent phrases -> empty masks."""
    steps = max(1, int(math.ceil(cfg.seg_epochs * len(split) / cfg.seg_images)))
    backbone = list(model.clip.parameters())
    opt = torch.optim.AdamW(
        [{"params": model.decoder.parameters(), "lr": cfg.lr}, {"params": backbone, "lr": cfg.backbone_lr}],
        weight_decay=0.01,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.lr, cfg.backbone_lr], total_steps=steps,
                                                pct_start=0.1)
    model.train()
    losses = []
    n = len(phrases)
    for step in (bar := tqdm(range(steps), desc="stage 2 segmentation", file=sys.stdout, mininterval=5)):
        idx = rng.choice(len(split), size=min(cfg.seg_images, len(split)), replace=False)
        x, target, label = seg_batch(split, idx, phrases, spec, rng, cfg.shift_px, cfg.scale_jitter)
        acts = [a.repeat_interleave(n, dim=0) for a in vision_activations(model, x)]
        cond = text_embeddings(model, tok, phrases, torch.device("cpu")).repeat(len(idx), 1)
        logits = decoder_logits(model, acts, cond).view(len(idx), n, *target.shape[-2:])
        flat_t, flat_l = target.flatten(0, 1), logits.flatten(0, 1)
        positive = flat_t.flatten(1).amax(1) > 0
        bce = F.binary_cross_entropy_with_logits(flat_l, flat_t)
        dice = dice_loss(flat_l[positive], flat_t[positive]) if positive.any() else torch.zeros(())
        which = F.cross_entropy(logits, label, ignore_index=-100) if (label >= 0).any() else torch.zeros(())
        loss = bce + dice + cfg.which_weight * which
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        for k, v in (("loss", loss), ("bce", bce), ("dice", dice), ("which_ce", which)):
            writer.add_scalar(f"seg/{k}", v.item(), step)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", which=f"{which.item():.3f}", refresh=False)
    tail = max(1, steps // 10)
    return {"steps": steps, "first_loss": float(np.mean(losses[:tail])), "final_loss": float(np.mean(losses[-tail:]))}


def train(cfg: TrainConfig) -> dict:
    """Both stages, calibration on validation, save to cfg.out; returns the metadata written with the model."""
    from torch.utils.tensorboard import SummaryWriter

    started = time.time()
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    vocab = load_vocabulary()
    phrases = vocab.object_phrases()
    split = load_split(cfg.data, cfg.train_split)
    if (Path(cfg.data) / f"{cfg.val_split}.npz").is_file():
        train_set, val_set = split, load_split(cfg.data, cfg.val_split)
    else:
        n_val = max(1, int(len(split) * cfg.val_fraction))
        train_set = split.subset(slice(0, len(split) - n_val))
        val_set = split.subset(slice(len(split) - n_val, None))
    outside = sorted({o["phrase"] for objs in split.objects for o in objs} - set(phrases))
    if outside:
        raise ValueError(f"data set names phrases outside the vocabulary: {outside}")

    tok = build_tokenizer(sorted(vocab.words()))
    model_cfg = TINY if cfg.tiny else OfflineModelConfig()
    model = build_model(model_cfg, tok)
    init_meta = None
    if cfg.init is not None:
        from transformers import CLIPSegForImageSegmentation

        from vla_ros.grounding.offline_model import read_meta

        init_meta = read_meta(Path(cfg.init))
        if init_meta["model_config"] != config_dict(model_cfg):
            raise ValueError(f"--init {cfg.init} has a different model config than this run")
        model = CLIPSegForImageSegmentation.from_pretrained(str(cfg.init), local_files_only=True)
    processor = build_processor(tok, model_cfg.image_size)
    spec = ImageSpec(model_cfg.image_size, model_cfg.image_size, tuple(processor.image_processor.image_mean),
                     tuple(processor.image_processor.image_std))
    writer = SummaryWriter(str(Path(cfg.runs_dir) / f"grounding-{Path(cfg.out).name}-seed{cfg.seed}"))
    t0 = time.time()
    if cfg.clip_epochs > 0:
        clip_stats = train_clip(model, tok, train_set, phrases, cfg, spec, writer, rng)
    else:
        stage1 = (init_meta or {}).get("stage1_contrastive")
        if stage1 and stage1.get("skipped"):  # a fine-tune of a fine-tune: the stage 1 that really ran
            stage1 = stage1.get("init_stage1")
        clip_stats = {"steps": 0, "skipped": True, "init_stage1": stage1}
    t1 = time.time()
    seg_stats = train_seg(model, tok, train_set, phrases, cfg, spec, writer, rng)
    t2 = time.time()
    model.eval()
    meta = {
        "phrases": phrases,
        "threshold": {"clipseg": 0.5},
        "clip_region_size": cfg.region_size,
        "model_config": config_dict(model_cfg),
        "train_config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "data": {
            "train_images": len(train_set), "val_images": len(val_set),
            "train_seeds": [int(train_set.seeds.min()), int(train_set.seeds.max())],
            "val_seeds": [int(val_set.seeds.min()), int(val_set.seeds.max())],
        },
        "stage1_contrastive": clip_stats,
        "stage2_segmentation": seg_stats,
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    if init_meta is not None:
        meta["init"] = {"from": str(cfg.init), "train_config": init_meta.get("train_config"),
                        "stage2_segmentation": init_meta.get("stage2_segmentation"),
                        "validation": init_meta.get("validation"), "init": init_meta.get("init")}
    save_bundle(model, processor, Path(cfg.out), meta)
    grounder = Grounder(GrounderConfig(model=str(Path(cfg.out)), device="cpu", score_threshold=0.5))
    queries = record(grounder, val_set, seed=cfg.seed)
    threshold = calibrate(queries)
    meta["threshold"]["clipseg"] = threshold
    meta["validation"] = metrics(queries, threshold)
    meta["train_seconds"] = {"stage1": round(t1 - t0, 1), "stage2": round(t2 - t1, 1),
                             "total": round(time.time() - started, 1)}
    save_bundle(model, processor, Path(cfg.out), meta)
    for k, v in meta["validation"].items():
        writer.add_scalar(f"val/{k}", v, 0)
    writer.close()
    return meta


def main(argv: list[str] | None = None) -> None:
    """Command line: flags named like `TrainConfig`'s fields (see --help), then `train`."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", type=Path, required=True,
                    help="dir with train.npz/json (from vla_sim.grounding_dataset)")
    ap.add_argument("--out", type=Path, default=Path("models/grounding/clipseg-sim"))
    defaults = TrainConfig(Path("."), Path("."))
    for name in ("train_split", "val_split", "val_fraction", "clip_epochs", "seg_epochs", "clip_batch", "seg_images",
                 "which_weight", "shift_px", "scale_jitter", "lr", "backbone_lr", "region_size", "seed", "threads"):
        default = getattr(defaults, name)
        ap.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    ap.add_argument("--epochs", type=float, help="shorthand: sets --seg-epochs, and --clip-epochs to 2/3 of it")
    ap.add_argument("--tiny", action="store_true", help="a much smaller model (tests)")
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--init", type=Path, default=None,
                    help="fine-tune a trained bundle (e.g. the shipped model) instead of starting from scratch; "
                         "use with --clip-epochs 0 to skip stage 1")
    args = vars(ap.parse_args(argv))
    epochs = args.pop("epochs")
    if epochs is not None:
        args["seg_epochs"], args["clip_epochs"] = epochs, epochs * 2 / 3
    meta = train(TrainConfig(**args))
    print(f"saved {args['out']}: validation {meta['validation']}, stage 1 {meta['stage1_contrastive']}, "
          f"time {meta['train_seconds']}")


if __name__ == "__main__":
    main()
