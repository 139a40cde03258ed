"""CLIP backend: zero-shot scores of candidate regions against prompt-ensembled phrases.

CLIP has no decoder, so it localises by classifying regions: a grid of overlapping windows (plus the
whole image) is scored against every candidate phrase, p(phrase | region) = softmax over candidates of
logit_scale * cos(image, text). The target is found in the region where its probability is highest, if
it also wins that region. Prompt ensembling (mean of normalised embeddings over templates) makes the
text side less sensitive to wording, as in the CLIP paper.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vla_ros.grounding.backend import Detection
from vla_ros.grounding.loading import load_error
from vla_ros.grounding.offline_model import read_meta
from vla_ros.grounding.preprocess import ImageSpec, to_tensor

TEMPLATES = ("a photo of a {}", "a {}", "a photo of the {}", "the {}")


def _features(out) -> torch.Tensor:
    """The embeddings from a features call: transformers 5 returns an output object (projected embeds in
    pooler_output); older versions a tensor."""
    return out.pooler_output if hasattr(out, "pooler_output") else out


def grid_boxes(h: int, w: int, fractions: tuple[float, ...]) -> list[tuple[int, int, int, int]]:
    """Square-ish windows of each size fraction of the image, at half-window stride, plus the whole image."""
    boxes = [(0, 0, w - 1, h - 1)]
    for f in fractions:
        bw, bh = max(1, int(round(w * f))), max(1, int(round(h * f)))
        for v0 in np.unique(np.linspace(0, h - bh, max(1, int(np.ceil(2 / f)) - 1)).astype(int)):
            for u0 in np.unique(np.linspace(0, w - bw, max(1, int(np.ceil(2 / f)) - 1)).astype(int)):
                boxes.append((int(u0), int(v0), int(u0) + bw - 1, int(v0) + bh - 1))
    return boxes


class ClipBackend:
    """CLIPModel (or the CLIP inside a CLIPSeg checkpoint, e.g. the offline model) over grid regions."""

    def __init__(self, model: str, local_files_only: bool, device: torch.device, dtype: torch.dtype,
                 region_fractions: tuple[float, ...] = (0.25, 0.4)):
        from transformers import AutoConfig, AutoTokenizer, CLIPModel, CLIPSegForImageSegmentation

        try:
            kind = AutoConfig.from_pretrained(model, local_files_only=local_files_only).model_type
            if kind == "clipseg":
                self.model = CLIPSegForImageSegmentation.from_pretrained(model, local_files_only=local_files_only).clip
            else:
                self.model = CLIPModel.from_pretrained(model, local_files_only=local_files_only)
            self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_files_only)
            spec = ImageSpec.from_pretrained(model, local_files_only)
        except (OSError, ValueError) as exc:
            raise load_error(model, local_files_only, exc) from exc
        # The offline model's CLIP was trained on object crops of this size (see train.py).
        size = read_meta(Path(model)).get("clip_region_size", spec.height) if Path(model).is_dir() else spec.height
        self.spec = ImageSpec(size, size, spec.mean, spec.std)
        self.model.to(device=device, dtype=dtype).eval()
        self.device, self.dtype = device, dtype
        self.region_fractions = region_fractions
        self._text_cache: dict[str, torch.Tensor] = {}
        self.text_forwards = 0

    @torch.inference_mode()
    def embed(self, phrases: list[str]) -> torch.Tensor:
        """(N, D) unit-norm prompt-ensembled text embeddings, cached per phrase."""
        missing = [p for p in dict.fromkeys(phrases) if p not in self._text_cache]
        if missing:
            prompts = [t.format(p) for p in missing for t in TEMPLATES]
            enc = self.tokenizer(prompts, padding=True, return_tensors="pt").to(self.device)
            emb = F.normalize(_features(self.model.get_text_features(**enc)).float(), dim=-1)
            emb = F.normalize(emb.view(len(missing), len(TEMPLATES), -1).mean(1), dim=-1)
            self.text_forwards += 1
            self._text_cache.update(zip(missing, emb))
        return torch.stack([self._text_cache[p] for p in phrases])

    @torch.inference_mode()
    def probabilities(self, crops: list[np.ndarray], phrases: list[str]) -> np.ndarray:
        """(R, N) softmax over phrases of logit_scale * cos(crop, phrase), all crops in one batch."""
        x = to_tensor(crops, self.spec).to(self.device, self.dtype)
        features = _features(self.model.get_image_features(pixel_values=x, interpolate_pos_encoding=True))
        img = F.normalize(features.float(), dim=-1)
        logits = self.model.logit_scale.exp().float() * img @ self.embed(phrases).T
        return logits.softmax(dim=-1).cpu().numpy()

    def detect(self, image_rgb: np.ndarray, target: str, candidates: list[str]) -> Detection:
        phrases = [target] + [c for c in candidates if c != target]
        h, w = image_rgb.shape[:2]
        boxes = grid_boxes(h, w, self.region_fractions)
        probs = self.probabilities([image_rgb[v0 : v1 + 1, u0 : u1 + 1] for u0, v0, u1, v1 in boxes], phrases)
        best = int(np.argmax(probs[:, 0]))
        u0, v0, u1, v1 = boxes[best]
        mask = np.zeros((h, w), dtype=bool)
        mask[v0 : v1 + 1, u0 : u1 + 1] = True
        winner = int(np.argmax(probs[best]))
        return Detection(
            mask=mask,
            score=float(probs[best, 0]),
            candidate_scores={p: float(probs[:, i].max()) for i, p in enumerate(phrases)},
            rival=phrases[winner] if winner != 0 else None,
            rival_score=float(probs[best, winner]) if winner != 0 else 0.0,
        )
