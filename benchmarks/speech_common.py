"""What the speech benchmarks share: the sentences and conditions (speech_data/), the synthesised audio, result rows.

speech_bench.py measures a recogniser setting, speech_calibrate.py and speech_whisper_calibrate.py choose the
thresholds; all three say the same sentences in the same voices with the same noise, so their rows compare.
Imports nothing from its siblings: tests load it on its own.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from vla_ros.speech.synth import add_noise, pad_silence, synthesize
from vla_ros.vocabulary import ParseError, Vocabulary

DATA = Path(__file__).resolve().parent / "speech_data"


def read_sentences(name: str) -> tuple[str, ...]:
    """One sentence a line from speech_data/`name`; blank lines and # comments skipped."""
    lines = (line.strip() for line in (DATA / name).read_text().splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


_CONDITIONS = tomllib.loads((DATA / "conditions.toml").read_text())
VOICES = tuple(_CONDITIONS["commands"]["voices"])
SPEEDS = tuple(_CONDITIONS["commands"]["speeds_wpm"])
SNR_DB = float(_CONDITIONS["commands"]["snr_db"])
NOISE_SEED = _CONDITIONS["commands"]["noise_seed"]
YES_NOISE_SEED = _CONDITIONS["commands"]["yes_noise_seed"]
STOP_FORMS = read_sentences("stop_forms.txt")
STOP_VOICES = tuple(_CONDITIONS["stops"]["voices"])
STOP_SPEEDS = tuple(_CONDITIONS["stops"]["speeds_wpm"])
STOP_SNRS_DB = tuple(None if s == "clean" else float(s) for s in _CONDITIONS["stops"]["snr_db"])
STOP_NOISE_SEED = _CONDITIONS["stops"]["noise_seed"]
CALIBRATION_SEED = _CONDITIONS["calibration"]["seed"]
CALIBRATION_PIPS = tuple(float(p) for p in _CONDITIONS["calibration"]["pips"])
OUT_OF_GRAMMAR = read_sentences(_CONDITIONS["out_of_grammar"]["calibration"])
_APART = _CONDITIONS["out_of_grammar"]["reported_apart"]
HELD_OUT_SETS = {name: read_sentences(s["file"]) for name, s in _APART.items()}
HELD_OUT_LABELS = {name: s["label"] for name, s in _APART.items()}


@dataclass(frozen=True)
class Case:
    """One utterance of the benchmark: what was said, how, and the command it should give."""

    expected: str | None  # canonical command, or None for out-of-grammar speech
    said: str
    voice: str
    speed: int
    noisy: bool


def _refuse_commands(vocab: Vocabulary, sentences: tuple[str, ...]) -> None:
    for sentence in sentences:  # an "out-of-grammar" sentence the vocabulary parses would be a real command
        assert isinstance(vocab.parse(sentence), ParseError), f"{sentence!r} is a valid command"


def make_cases(vocab: Vocabulary, quick: bool) -> tuple[list[Case], tuple[str, ...], tuple[int, ...]]:
    """Every command and stop word, then every calibration sentence, in every condition; and those conditions."""
    _refuse_commands(vocab, OUT_OF_GRAMMAR)
    commands = [(c.text, c.text) for c in vocab.all_commands()] + [(w, "stop") for w in vocab.stop_words]
    voices, speeds = (VOICES, SPEEDS[:1]) if quick else (VOICES, SPEEDS)
    if quick:
        commands = commands[::6]
    conditions = list(product(voices, speeds, (False, True)))
    cases = [Case(expected, said, v, s, n) for (said, expected), (v, s, n) in product(commands, conditions)]
    cases += [Case(None, said, v, s, n) for said, (v, s, n) in product(OUT_OF_GRAMMAR, conditions)]
    return cases, voices, speeds


def held_out_cases(vocab: Vocabulary, voices: tuple[str, ...], speeds: tuple[int, ...],
                   sentences: tuple[str, ...]) -> list[Case]:
    """Sentences reported apart, in every condition of the benchmark (never used to choose a setting)."""
    _refuse_commands(vocab, sentences)
    return [Case(None, said, v, s, n) for said, v, s, n in product(sentences, voices, speeds, (False, True))]


def spoken(text: str, voice: str, speed: int, snr_db: float | None,
           rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One utterance as the benchmark hears it: espeak-ng, a VAD's silence around it, white noise at `snr_db`
    (None: clean)."""
    audio, rate = synthesize(text, voice, speed)
    audio = pad_silence(audio, rate)
    return (audio if snr_db is None else add_noise(audio, snr_db, rng)), rate


def audio_of(cases: list[Case]) -> Iterator[tuple[Case, np.ndarray, int]]:
    """(case, audio, rate) for every case; the noise rng runs in case order, so every run hears the same audio."""
    rng = np.random.default_rng(NOISE_SEED)
    for case in cases:
        yield case, *spoken(case.said, case.voice, case.speed, SNR_DB if case.noisy else None, rng)


ROW_FIELDS = ("said", "voice", "speed", "noisy", "hypothesis", "text", "confidence", "word_fit", "whisper_margin",
              "whisper_heard", "confirm", "confirmed", "false_yes")


def compact_row(row: dict) -> list:
    """One utterance's result as a short list in ROW_FIELDS order (keeps the result JSON small)."""
    rounded = ("confidence", "word_fit", "whisper_margin")
    return [round(row[k], 3) if k in rounded and row.get(k) is not None else row.get(k) for k in ROW_FIELDS]


def said_as(r: dict) -> str:
    """How a result row names its utterance in the reports: the sentence and its condition."""
    return f"{r['said']!r} ({r['voice']}, {r['speed']}, {'noisy' if r['noisy'] else 'clean'})"


Thresholds = tuple[float, float]  # (min_confidence, min_word_fit)


def accepted(row: dict, thresholds: Thresholds, vocab: Vocabulary) -> str | None:
    """The command the recogniser would publish at these thresholds (rows decoded with both at their minimum)."""
    if row["text"] is None:
        return None
    if vocab.only_stop_words(row["hypothesis"]):  # stop words keep their own threshold and skip word fit
        return row["text"]
    min_confidence, min_word_fit = thresholds
    fits = row["word_fit"] is None or row["word_fit"] >= min_word_fit
    return row["text"] if row["confidence"] >= min_confidence and fits else None
