"""CLIPSeg backend: one forward pass gives a heatmap for the target and every candidate phrase.

The vision tower runs once per frame; its activations are repeated over the prompts and only the
light decoder runs N times (batched), so adding candidates costs little. Text embeddings are computed
once per phrase and cached, because the candidate set changes rarely (a service call) and frames are many.
The other candidates' heatmaps decide "which one" and make "not found" robust: the target's region is
where its heatmap is both above the mask threshold and the highest of all candidates (per-pixel argmax,
as the decoder is trained with a cross-entropy across prompts), and a region that another candidate
explains better on average is still refused.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from vla_ros.grounding.backend import Detection
from vla_ros.grounding.geometry import largest_component
from vla_ros.grounding.loading import load_error
from vla_ros.grounding.preprocess import ImageSpec, to_tensor


def vision_activations(model, pixel_values: torch.Tensor) -> list[torch.Tensor]:
    """Hidden states of the vision encoder at `config.extract_layers` (0-based: hidden_states[i + 1])."""
    hidden = model.clip.vision_model(pixel_values=pixel_values, output_hidden_states=True).hidden_states
    return [hidden[i + 1] for i in model.config.extract_layers]


def decoder_logits(model, activations: list[torch.Tensor], cond: torch.Tensor) -> torch.Tensor:
    """(N, h, w) mask logits; activations of one image are repeated over the N prompt embeddings."""
    n = cond.shape[0]
    if activations[0].shape[0] == 1 and n > 1:
        activations = [a.expand(n, -1, -1) for a in activations]
    logits = model.decoder(activations, cond).logits
    return logits if logits.dim() == 3 else logits.unsqueeze(0)


def text_embeddings(model, tokenizer, phrases: list[str], device: torch.device) -> torch.Tensor:
    """(N, projection_dim) conditional embeddings, as CLIPSeg computes them from text."""
    enc = tokenizer(phrases, padding=True, return_tensors="pt").to(device)
    return model.clip.get_text_features(input_ids=enc.input_ids, attention_mask=enc.attention_mask).pooler_output


class ClipSegBackend:
    """CLIPSegForImageSegmentation by hub id or directory; heatmaps -> target mask, score, rival."""

    def __init__(self, model: str, local_files_only: bool, device: torch.device, dtype: torch.dtype,
                 mask_threshold: float = 0.5):
        from transformers import AutoTokenizer, CLIPSegForImageSegmentation

        try:
            self.model = CLIPSegForImageSegmentation.from_pretrained(model, local_files_only=local_files_only)
            self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_files_only)
            self.spec = ImageSpec.from_pretrained(model, local_files_only)
        except (OSError, ValueError) as exc:
            raise load_error(model, local_files_only, exc) from exc
        self.model.to(device=device, dtype=dtype).eval()
        self.device, self.dtype = device, dtype
        self.mask_threshold = mask_threshold
        self._text_cache: dict[str, torch.Tensor] = {}
        self.text_forwards = 0  # how many times the text tower ran (tests check caching)

    @torch.inference_mode()
    def embed(self, phrases: list[str]) -> torch.Tensor:
        """Cached text embeddings, stacked in the order given; only unseen phrases run the text tower."""
        missing = [p for p in dict.fromkeys(phrases) if p not in self._text_cache]
        if missing:
            emb = text_embeddings(self.model, self.tokenizer, missing, self.device)
            self.text_forwards += 1
            self._text_cache.update(zip(missing, emb))
        return torch.stack([self._text_cache[p] for p in phrases])

    @torch.inference_mode()
    def heatmaps(self, image_rgb: np.ndarray, phrases: list[str]) -> np.ndarray:
        """(N, h, w) float32 probabilities at the model's resolution, from ONE forward pass."""
        x = to_tensor(image_rgb, self.spec).to(self.device, self.dtype)
        cond = self.embed(phrases)
        logits = decoder_logits(self.model, vision_activations(self.model, x), cond)
        return torch.sigmoid(logits.float()).cpu().numpy()

    def detect(self, image_rgb: np.ndarray, target: str, candidates: list[str]) -> Detection:
        phrases = [target] + [c for c in candidates if c != target]
        probs = self.heatmaps(image_rgb, phrases)
        # A pixel belongs to the target only where the target's heatmap also beats every candidate's: a red
        # cylinder that lights up "red block" a little less than "red cylinder" is not part of the block.
        own = probs[0] > self.mask_threshold
        if len(phrases) > 1:
            own &= probs[0] >= probs[1:].max(axis=0)
        region = largest_component(own)
        score = float(probs[0][region].mean()) if region.any() else float(probs[0].max())
        rival, rival_score = None, 0.0
        if region.any():
            for phrase, p in zip(phrases[1:], probs[1:]):
                s = float(p[region].mean())
                if s > score and s > rival_score:
                    rival, rival_score = phrase, s
        h, w = image_rgb.shape[:2]
        mask = region
        if region.shape != (h, w):
            full = cv2.resize(probs[0] * region, (w, h), interpolation=cv2.INTER_LINEAR)
            mask = largest_component(full > self.mask_threshold)
        return Detection(
            mask=mask,
            score=score,
            candidate_scores={p: float(m.max()) for p, m in zip(phrases, probs)},
            rival=rival,
            rival_score=rival_score,
        )
