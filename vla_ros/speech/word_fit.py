"""How well each word of a grammar hypothesis fits the audio, against how well that word usually fits.

Why: a near miss ("push the blue door to the right") is forced by the grammar onto the nearest
command ("... ball ..."). Averaged over the utterance, the one forced word hides among the words that
really were said, so the whole-path confidence cannot tell it from a real command in a voice the
acoustic model hears badly. Per word it stands out, but only once each word is compared with its own
usual score: some words always score worse than others ("cylinder" vs "ball"). The reference scores
are the median per-frame acoustic score of each word in correctly recognised commands, measured with
voices that the speech benchmark does not test (benchmarks/results/speech.oog_rejection.md, "Second
study"); a robot can rebuild them from its own recordings with `build_reference`.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vla_ros.paths import models_dir

# A word whose acoustic score underflows a double has no usable per-frame score; it counts as the
# worst possible fit, so the recogniser fails closed.
_NO_SCORE = -math.inf


def default_reference_path() -> Path:
    """The shipped reference (models/speech), built by `python -m vla_ros.speech.word_fit`."""
    return models_dir() / "speech" / "word_fit_reference.json"


def score_per_frame(ascore: float, frames: int) -> float:
    """Pocketsphinx segment acoustic score (a probability) -> natural-log score per frame."""
    return math.log(ascore) / max(frames, 1) if ascore > 0.0 else _NO_SCORE


@dataclass(frozen=True)
class WordFit:
    """The worst-fitting meaningful word of one hypothesis and its margin (log score per frame vs its reference)."""

    word: str
    margin: float


@dataclass(frozen=True)
class WordFitReference:
    """Per-word reference log score per frame, plus a fallback for words added to the vocabulary since."""

    scores: dict[str, float]
    fallback: float
    source: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> WordFitReference:
        """Read a reference JSON (None: the shipped one); a missing file says how to build it."""
        path = Path(path) if path else default_reference_path()
        if not path.is_file():
            raise FileNotFoundError(f"word-fit reference {path} does not exist; build it with "
                                    "`python -m vla_ros.speech.word_fit --out PATH` (needs espeak-ng)")
        data = json.loads(path.read_text())
        return cls({k: float(v) for k, v in data["scores"].items()}, float(data["fallback"]), data.get("source", {}))

    def save(self, path: str | Path) -> None:
        """Write the JSON that `load` reads (scores rounded to 4 decimals, sorted by word)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        data = {"scores": {w: round(v, 4) for w, v in sorted(self.scores.items())}, "fallback": round(self.fallback, 4),
                "source": self.source}
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    def missing(self, words: Iterable[str]) -> list[str]:
        """Vocabulary words without a reference of their own (they are judged against the fallback)."""
        return sorted(w for w in words if w not in self.scores)

    def worst(self, words: list[tuple[str, float]], ignore: frozenset[str]) -> WordFit | None:
        """The word of (word, log score per frame) pairs that fits worst relative to its reference.

        `ignore` holds filler words ("the", "to"): a misfit there does not change the command.
        None when no meaningful word is left (nothing to judge).
        """
        judged = [(w, s - self.scores.get(w, self.fallback)) for w, s in words if w not in ignore]
        if not judged:
            return None
        word, margin = min(judged, key=lambda x: x[1])
        return WordFit(word, margin)


def build_reference(recognizer, clips: Iterable[tuple], source: dict) -> WordFitReference:
    """Median per-frame score of each word over clips (audio, rate, transcript) that decode exactly right."""
    per_word: dict[str, list[float]] = {}
    used = 0
    for audio, rate, transcript in clips:
        result, words = recognizer.decode_words(audio, rate)
        if result.hypothesis != transcript:
            continue
        used += 1
        for word, score in words:
            if math.isfinite(score):
                per_word.setdefault(word, []).append(score)
    if not per_word:
        raise RuntimeError("no clip decoded exactly right: cannot build a word-fit reference")
    scores = {w: statistics.median(v) for w, v in per_word.items()}
    counts = {w: len(v) for w, v in per_word.items()}
    fallback = statistics.median([s for v in per_word.values() for s in v])
    return WordFitReference(scores, fallback, {**source, "clips_used": used, "samples_per_word": counts})


if __name__ == "__main__":  # `python -m vla_ros.speech.word_fit`, as the README and the shipped reference name it
    from vla_ros.speech.word_fit_cli import main

    main()
