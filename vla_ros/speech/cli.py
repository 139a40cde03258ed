"""Decode a WAV file and print the SpeechResult as JSON: `python -m vla_ros.speech.cli FILE.wav`."""
from __future__ import annotations

import argparse

from vla_ros.speech.audio import read_wav
from vla_ros.speech.config import RecognizerConfig
from vla_ros.speech.recognizer import make_recognizer

DEFAULTS = RecognizerConfig()


def main(argv: list[str] | None = None) -> None:
    """Decode one WAV file with the recogniser the speech node would use, and print its result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("wav", help="PCM WAV file, any sample rate, mono or multi-channel")
    parser.add_argument("--backend", choices=("pocketsphinx", "whisper"), default="pocketsphinx")
    parser.add_argument("--model", default="", help="whisper: local model directory or model id")
    parser.add_argument("--min-confidence", type=float, default=DEFAULTS.min_confidence)
    parser.add_argument("--min-word-fit", type=float, default=DEFAULTS.min_word_fit)
    parser.add_argument("--whisper-check", default="", metavar="DIR",
                        help="pocketsphinx: CTranslate2 Whisper directory that double-checks commands")
    parser.add_argument("--min-whisper-margin", type=float, default=DEFAULTS.min_whisper_margin)
    parser.add_argument("--whisper-check-stops", action="store_true", help="let Whisper check stops too")
    parser.add_argument("--answer", action="store_true",
                        help="decode as the reply to a 'did you mean ...?' question (yes/no too)")
    parser.add_argument("--synonyms", action="store_true", help="let the grammar use the vocabulary's synonyms")
    args = parser.parse_args(argv)
    audio, rate = read_wav(args.wav)
    config = RecognizerConfig(min_confidence=args.min_confidence, min_word_fit=args.min_word_fit,
                              synonyms=args.synonyms, whisper_check_model=args.whisper_check,
                              min_whisper_margin=args.min_whisper_margin, whisper_check_stops=args.whisper_check_stops)
    recognizer = make_recognizer(args.backend, args.model, config=config)
    print(recognizer.recognize(audio, rate, expect_answer=args.answer).to_json())


if __name__ == "__main__":
    main()
