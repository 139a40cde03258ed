"""The command's text embedding, from the grounding model's own CLIP text tower (one vocabulary, one model).

Embeddings are cached per instruction: a command is embedded once, not once per control tick.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from vla_ros.grounding.loading import load_error, resolve
from vla_ros.vocabulary import Vocabulary


class TextEncoder:
    """Embeds command text with the grounding model's CLIP text tower, caching each instruction's embedding."""

    def __init__(self, model: str = "") -> None:
        from transformers import AutoTokenizer, CLIPSegForImageSegmentation

        path, local_only = resolve(model)
        self.model_path = path
        try:
            seg = CLIPSegForImageSegmentation.from_pretrained(path, local_files_only=local_only)
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        except (OSError, ValueError) as exc:
            raise load_error(path, local_only, exc) from exc
        self.clip = seg.clip.eval()
        self.dim = int(seg.config.projection_dim)
        self._cache: dict[str, np.ndarray] = {}

    @torch.inference_mode()
    def embed(self, text: str) -> np.ndarray:
        """(dim,) float32 embedding of the normalised text (lower case, single spaces)."""
        key = " ".join(text.lower().split())
        if key not in self._cache:
            enc = self.tokenizer([key], padding=True, truncation=True, return_tensors="pt")
            out = self.clip.get_text_features(input_ids=enc.input_ids, attention_mask=enc.attention_mask)
            emb = getattr(out, "pooler_output", out)[0]
            self._cache[key] = emb.float().numpy().astype(np.float32)
        return self._cache[key]


def model_fingerprint(model: str = "") -> dict:
    """Id or directory of the grounding model and a hash of its weights: what the checkpoint was trained against."""
    path, local_only = resolve(model)
    weights = Path(path) / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16] if local_only and weights.is_file() else "hub"
    return {"model": Path(path).name if local_only else path, "weights_sha256_16": digest}


def vocabulary_hash(vocab: Vocabulary) -> str:
    """Hash of what the policy's ids depend on: verb and direction names in order, colours and shapes."""
    text = "|".join([",".join(vocab.verb_names), ",".join(vocab.directions), ",".join(vocab.color_names),
                     ",".join(vocab.shape_names)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
