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

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vla_ros.paths import models_dir
from vla_ros.vocabulary import tokenize

# A word whose acoustic score underflows a double has no usable per-frame score; it counts as the
# worst possible fit, so the recogniser fails closed.
_NO_SCORE = -math.inf


def default_reference_path() -> Path:
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
    def load(cls, path: str | Path | None = None) -> "WordFitReference":
        path = Path(path) if path else default_reference_path()
        if not path.is_file():
            raise FileNotFoundError(f"word-fit reference {path} does not exist; build it with "
                                    "`python -m vla_ros.speech.word_fit --out PATH` (needs espeak-ng)")
        data = json.loads(path.read_text())
        return cls({k: float(v) for k, v in data["scores"].items()}, float(data["fallback"]), data.get("source", {}))

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"scores": {w: round(v, 4) for w, v in sorted(self.scores.items())}, "fallback": round(self.fallback, 4),
                                          "source": self.source}, indent=1) + "\n")

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


def read_recordings(tsv: Path) -> list[tuple[Path, str]]:
    """`path.wav<TAB>what was said` per line (paths relative to the file; # comments and blank lines skipped)."""
    pairs = []
    for number, line in enumerate(tsv.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        wav, sep, said = line.partition("\t")
        if not sep or not said.strip():
            raise ValueError(f"{tsv}:{number}: expected 'file.wav<TAB>what was said', got {line!r}")
        path = (tsv.parent / wav.strip()).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{tsv}:{number}: {path} does not exist")
        pairs.append((path, " ".join(tokenize(said))))  # as the decoder writes it
    return pairs


def main(argv: list[str] | None = None) -> None:
    """Build the reference from espeak-ng speech of every command (voices the benchmark does not use), or from recordings."""
    from tqdm import tqdm

    from vla_ros.speech.audio import read_wav
    from vla_ros.speech.recognizer import PocketsphinxRecognizer
    from vla_ros.speech.synth import pad_silence, synthesize

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--voices", default="en-us+f3,en-gb-scotland,en-029",
                        help="espeak-ng voices (keep them disjoint from benchmarks/speech_bench.py's VOICES)")
    parser.add_argument("--speed", type=int, default=150, help="words per minute")
    parser.add_argument("--sentences", choices=("commands", "synonyms"), default="commands",
                        help="commands: each command once, in the vocabulary's own words (+ stop words), decoded with "
                             "the default grammar; synonyms: every sentence of the grammar with synonyms (~20x longer), "
                             "for robots that run the speech node with grammar_synonyms true")
    parser.add_argument("--recordings", type=Path, help="a robot's own recordings instead of espeak-ng: a TSV of "
                        "'file.wav<TAB>what was said' lines (each command once or more, as its users say them)")
    parser.add_argument("--out", default=str(default_reference_path()))
    args = parser.parse_args(argv)
    command = "python -m vla_ros.speech.word_fit " + " ".join(argv if argv is not None else sys.argv[1:])
    recognizer = PocketsphinxRecognizer(word_fit_reference=None, synonyms=args.sentences == "synonyms")
    if args.recordings:
        pairs = read_recordings(args.recordings)
        reference = build_reference(recognizer, tqdm(((*read_wav(p), said) for p, said in pairs), total=len(pairs),
                                                     desc="word fit", unit="utt"),
                                    {"recordings": str(args.recordings), "clips": len(pairs), "command": command,
                                     "phone_insertion_penalty": recognizer.phone_insertion_penalty})
        _save(reference, recognizer, args.out)
        return
    vocab = recognizer.vocab
    sentences = (list(recognizer.grammar.sentences()) if args.sentences == "synonyms"
                 else [c.text for c in vocab.all_commands()] + list(vocab.stop_words))
    voices = args.voices.split(",")

    def clips():
        for voice in voices:
            for sentence in sentences:
                audio, rate = synthesize(sentence, voice, args.speed)
                yield pad_silence(audio, rate), rate, sentence

    reference = build_reference(recognizer, tqdm(clips(), total=len(voices) * len(sentences), desc="word fit", unit="utt"),
                                {"voices": voices, "speed_wpm": args.speed, "sentence_set": args.sentences, "sentences": len(sentences),
                                 "phone_insertion_penalty": recognizer.phone_insertion_penalty, "command": command})
    _save(reference, recognizer, args.out)


def _save(reference: WordFitReference, recognizer, out: str) -> None:
    missing = reference.missing(recognizer.grammar.words())
    reference.save(out)
    print(f"wrote {out}: {len(reference.scores)} words from {reference.source['clips_used']} clips"
          + (f"; no exact decode of {missing} (they use the fallback {reference.fallback:.2f})" if missing else ""))


if __name__ == "__main__":
    main()
