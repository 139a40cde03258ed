"""Every setting of the pocketsphinx recogniser, with its default, in one place, validated once.

`PocketsphinxRecognizer` and `make_recognizer` take a `RecognizerConfig`; the speech node's parameters default to its
fields and the speech benchmarks build one. How each default was chosen, and what it measured, is in
benchmarks/results/speech.defaults.md. No heavy imports here: the speech node reads the defaults at import time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class RecognizerConfig:
    """What the recogniser accepts as a command, and which models it uses.

    A decode becomes a command only if it passes every check in turn: whole-path confidence (`min_confidence`, or
    `min_stop_confidence` for a stop word or a yes/no), each word's fit against its usual score (`min_word_fit`,
    word_fit.py), a stop said alone (`max_speech_beside_stop_s`, stop_alone.py), and, with a Whisper check, Whisper's
    second opinion (`min_whisper_margin`, whisper_check.py). Stops get the lower bars: a missed stop is worse than a
    false one (the robot holds still).
    """

    # Whole-path confidence in (0, 1] below which a moving command is rejected (out-of-grammar speech forced onto
    # the grammar fits badly). Chosen with min_word_fit and phone_insertion_penalty by benchmarks/speech_calibrate.py.
    min_confidence: float = 0.58
    # The same for stop words and yes/no answers: one short word scores lower.
    min_stop_confidence: float = 0.3
    # pocketsphinx's `pip`, a probability: 1.0 (pocketsphinx's own default) is no penalty, lower values make every
    # extra phone cost more.
    phone_insertion_penalty: float = 1.0
    # Lowest accepted margin of the worst-fitting word, log score per frame against that word's reference: rejects
    # near misses ("push the blue door" forced onto "... ball") that the whole-path confidence averages away.
    min_word_fit: float = -2.2
    # Word-fit reference JSON: "" = the shipped one (models/speech), a path = another (e.g. rebuilt from a robot's
    # recordings with `python -m vla_ros.speech.word_fit`), None = no word check.
    word_fit_reference: str | None = ""
    # Let speech use the vocabulary's synonyms too (grammar.py: each synonym is one more path for near misses).
    synonyms: bool = False
    # A CTranslate2 Whisper directory that gives a second opinion on every moving command ("" = no check).
    whisper_check_model: str = ""
    # Drop a command Whisper finds this many nats less likely than its own transcript (whisper_check.py).
    # Chosen by benchmarks/speech_whisper_calibrate.py.
    min_whisper_margin: float = -6.5
    # Let Whisper check stops too (against the stop margin below): removes chit-chat heard as "stop", but a stop
    # can then be missed.
    whisper_check_stops: bool = False
    min_whisper_stop_margin: float = -8.5
    # A stop is said alone: drop a stop word with more than this much speech as loud beside it, s (None = off).
    max_speech_beside_stop_s: float | None = 0.15
    # Noise added before decoding, LSB (about -70 dBFS): exact digital silence leaves pocketsphinx's noise and
    # CMN estimates nothing to work with.
    noise_floor_lsb: float = 10.0
    # pocketsphinx acoustic model directory and pronunciation dictionary ("" = the en-US ones in the wheel).
    model_dir: str = ""
    dictionary: str = ""
    # Where Whisper runs (the Whisper check and the Whisper backend), as faster-whisper / transformers name it.
    device: str = "cpu"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and math.isnan(value):
                raise ValueError(f"{f.name} is NaN")
        for name in ("min_confidence", "min_stop_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1] (a confidence), got {getattr(self, name)}")
        if not self.phone_insertion_penalty > 0.0:
            raise ValueError("phone_insertion_penalty must be > 0 (a probability; 1.0 is no penalty), "
                             f"got {self.phone_insertion_penalty}")
        if self.max_speech_beside_stop_s is not None and self.max_speech_beside_stop_s < 0.0:
            raise ValueError("max_speech_beside_stop_s must be >= 0 s or None (off), "
                             f"got {self.max_speech_beside_stop_s}")
        if self.noise_floor_lsb < 0.0:
            raise ValueError(f"noise_floor_lsb must be >= 0 (0 = none), got {self.noise_floor_lsb}")
