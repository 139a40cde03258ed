"""The one entry point the ROS node and the benchmark use: command text + image (+ depth) -> GroundingResult.

The command goes through the shared vocabulary parser first, so a command the robot cannot act on is
"not understood" before any model runs. An offline model answers only for the phrases it was trained on
(listed in its vla_ros_grounding.json); a hub model takes any phrase (`ground_phrase`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vla_ros.grounding import geometry
from vla_ros.grounding.loading import resolve
from vla_ros.grounding.offline_model import read_meta
from vla_ros.grounding.result import GroundingResult, Status
from vla_ros.vocabulary import ParseError, load_vocabulary

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
RIVALS = ("all", "confusable")


@dataclass
class GrounderConfig:
    """`model`: hub id or local dir ("clipseg-sim" = the shipped offline model). `score_threshold` None means
    the threshold calibrated at training time (from the model dir), else 0.5. `candidates` empty means every
    "colour shape" phrase of the vocabulary. `rivals`: which candidates compete with the target on each frame,
    "all" or "confusable" (those sharing a word with it: "blue ball" against the blue things and the balls; the
    decoder runs once per phrase, so this halves its work with 12 candidates); clipseg only: the clip backend's
    scores are a softmax over the phrases, calibrated with every candidate, so it always takes all. fp16/bf16 apply
    on CUDA only; CPU always runs fp32."""

    backend: str = "clipseg"  # "clipseg" | "clip"
    model: str = "clipseg-sim"
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    dtype: str = "fp16"  # "fp32" | "fp16" | "bf16"
    score_threshold: float | None = None
    mask_threshold: float = 0.5
    candidates: tuple[str, ...] = field(default_factory=tuple)
    vocabulary_path: str | None = None
    num_threads: int = 0  # torch CPU threads; 0 leaves torch's default
    rivals: str = "confusable"  # "all" | "confusable" (same quality, 30% faster: benchmarks/results/grounding*.md)


class Grounder:
    """Command text + camera image -> which object is meant, where (mask, pixel, 3-D point) and how sure."""

    def __init__(self, config: GrounderConfig | None = None):
        self.config = config = config or GrounderConfig()
        if config.num_threads > 0:
            torch.set_num_threads(config.num_threads)
        if config.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {config.device!r}")
        if config.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device:=cuda requested but torch sees no CUDA device; use device:=auto or cpu")
        use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda" if use_cuda else "cpu")
        if config.rivals not in RIVALS:
            raise ValueError(f"rivals must be one of {RIVALS}, not {config.rivals!r}")
        if config.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {config.dtype!r}")
        self.dtype = DTYPES[config.dtype] if use_cuda else torch.float32
        self.vocab = load_vocabulary(config.vocabulary_path)
        model, local_only = resolve(config.model)
        self.model_path = model
        self.meta = read_meta(Path(model)) if local_only else {}
        # None: open vocabulary (a pretrained model); else the phrases the offline model was trained on.
        self.known_phrases: set[str] | None = set(self.meta["phrases"]) if "phrases" in self.meta else None
        if config.score_threshold is not None:
            self.threshold = config.score_threshold
        else:
            self.threshold = float(self.meta.get("threshold", {}).get(config.backend, 0.5))
        if config.backend == "clipseg":
            from vla_ros.grounding.clipseg_backend import ClipSegBackend

            self.backend = ClipSegBackend(model, local_only, self.device, self.dtype, config.mask_threshold)
        elif config.backend == "clip":
            from vla_ros.grounding.clip_backend import ClipBackend

            self.backend = ClipBackend(model, local_only, self.device, self.dtype)
        else:
            raise ValueError(f"backend must be 'clipseg' or 'clip', not {config.backend!r}")
        self.candidates: list[str] = []
        self.set_candidates(list(config.candidates) or self.vocab.object_phrases())

    def set_candidates(self, phrases: list[str]) -> None:
        """Replace the candidate phrases (the distractors the target competes with); embeds only new ones."""
        phrases = [p.strip().lower() for p in phrases if p.strip()]
        if not phrases:
            raise ValueError("candidate phrase list is empty")
        unknown = [p for p in phrases if not self.understands(p)]
        if unknown:
            known = sorted(self.known_phrases or [])
            raise ValueError(f"the model {self.model_path} was not trained on {unknown}; it knows {known}")
        with torch.inference_mode():
            self.backend.embed(phrases)
        self.candidates = phrases

    def rivals_of(self, phrase: str) -> list[str]:
        """The candidates the target competes with on a frame (`GrounderConfig.rivals`)."""
        if self.config.rivals == "all" or self.config.backend != "clipseg":
            return self.candidates
        words = set(phrase.split())
        return [c for c in self.candidates if words & set(c.split())]

    def understands(self, phrase: str) -> bool:
        return self.known_phrases is None or phrase in self.known_phrases

    def ground(self, image_rgb: np.ndarray, command_text: str, depth: np.ndarray | None = None,
               intrinsics: "geometry.Intrinsics | tuple[float, float, float, float] | None" = None) -> GroundingResult:
        """Parse the command with the shared vocabulary, then ground its target phrase in the image."""
        start = time.perf_counter()
        cmd = self.vocab.parse(command_text)
        if isinstance(cmd, ParseError):
            return GroundingResult(Status.NOT_UNDERSTOOD, reason=cmd.reason, latency_s=time.perf_counter() - start)
        if cmd.is_stop:
            return GroundingResult(Status.NOT_UNDERSTOOD, reason="'stop' names no object to ground",
                                   latency_s=time.perf_counter() - start)
        return self.ground_phrase(image_rgb, cmd.target_phrase, depth, intrinsics, start)

    def ground_phrase(self, image_rgb: np.ndarray, phrase: str, depth: np.ndarray | None = None,
                      intrinsics: "geometry.Intrinsics | tuple[float, float, float, float] | None" = None,
                      start: float | None = None) -> GroundingResult:
        """Ground a phrase directly (any phrase with a pretrained model; the trained ones with the offline model)."""
        start = time.perf_counter() if start is None else start
        phrase = phrase.strip().lower()
        if not self.understands(phrase):
            return GroundingResult(
                Status.NOT_UNDERSTOOD, phrase=phrase, latency_s=time.perf_counter() - start,
                reason=f"'{phrase}' is outside the offline model's vocabulary (it knows 'colour shape' phrases "
                f"such as '{sorted(self.known_phrases)[0]}'); a pretrained model "
                f"(model:=CIDAS/clipseg-rd64-refined) takes any phrase",
            )
        image_rgb = np.asarray(image_rgb)
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError(f"image must be uint8 RGB (H, W, 3), got {image_rgb.dtype} {image_rgb.shape}")
        with torch.inference_mode():
            det = self.backend.detect(image_rgb, phrase, self.rivals_of(phrase))
        result = GroundingResult(Status.NOT_FOUND, phrase=phrase, score=det.score,
                                 candidate_scores=det.candidate_scores)
        if not det.mask.any() or det.score < self.threshold:
            result.reason = f"score {det.score:.2f} below threshold {self.threshold:.2f}: no '{phrase}' in view"
        elif det.rival is not None:
            result.reason = f"the region looks more like '{det.rival}' ({det.rival_score:.2f} > {det.score:.2f})"
        else:
            result.status = Status.FOUND
            result.mask = det.mask
            result.pixel = geometry.centroid(det.mask)
            result.bbox = geometry.bbox(det.mask)
            if depth is not None and intrinsics is not None:
                if not isinstance(intrinsics, geometry.Intrinsics):
                    intrinsics = geometry.Intrinsics(*intrinsics)
                result.point_camera = geometry.point_from_depth(det.mask, result.pixel, depth, intrinsics)
        result.latency_s = time.perf_counter() - start
        return result
