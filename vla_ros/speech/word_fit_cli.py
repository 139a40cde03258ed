"""Build a word-fit reference (word_fit.py): `python -m vla_ros.speech.word_fit [--recordings said.tsv] [--out PATH]`.

From espeak-ng speech of every command in voices the speech benchmark does not use (the shipped reference), or
from a robot's own recordings. A module of its own, so that the library (word_fit.py) never imports the recogniser
that imports it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vla_ros.speech.recognizer import PocketsphinxRecognizer
from vla_ros.speech.word_fit import WordFitReference, build_reference, default_reference_path
from vla_ros.vocabulary import tokenize


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
    """Build the reference from espeak-ng speech of every command (voices the benchmark does not use), or from
    recordings."""
    from tqdm import tqdm

    from vla_ros.speech.audio import read_wav
    from vla_ros.speech.config import RecognizerConfig
    from vla_ros.speech.synth import pad_silence, synthesize

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--voices", default="en-us+f3,en-gb-scotland,en-029",
                        help="espeak-ng voices (keep them disjoint from the speech benchmark's, "
                             "benchmarks/speech_data/conditions.toml)")
    parser.add_argument("--speed", type=int, default=150, help="words per minute")
    parser.add_argument("--sentences", choices=("commands", "synonyms"), default="commands",
                        help="commands: each command once, in the vocabulary's own words (+ stop words), decoded "
                             "with the default grammar; synonyms: every sentence of the grammar with synonyms (~20x "
                             "longer), for robots that run the speech node with grammar_synonyms true")
    parser.add_argument("--recordings", type=Path, help="a robot's own recordings instead of espeak-ng: a TSV of "
                        "'file.wav<TAB>what was said' lines (each command once or more, as its users say them)")
    parser.add_argument("--out", default=str(default_reference_path()))
    args = parser.parse_args(argv)
    command = "python -m vla_ros.speech.word_fit " + " ".join(argv if argv is not None else sys.argv[1:])
    recognizer = PocketsphinxRecognizer(config=RecognizerConfig(word_fit_reference=None,
                                                                synonyms=args.sentences == "synonyms"))
    pip = recognizer.config.phone_insertion_penalty
    if args.recordings:
        pairs = read_recordings(args.recordings)
        clips = tqdm(((*read_wav(p), said) for p, said in pairs), total=len(pairs), desc="word fit", unit="utt")
        reference = build_reference(recognizer, clips, {"recordings": str(args.recordings), "clips": len(pairs),
                                                        "command": command, "phone_insertion_penalty": pip})
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

    reference = build_reference(recognizer, tqdm(clips(), total=len(voices) * len(sentences), desc="word fit",
                                                 unit="utt"),
                                {"voices": voices, "speed_wpm": args.speed, "sentence_set": args.sentences,
                                 "sentences": len(sentences), "phone_insertion_penalty": pip, "command": command})
    _save(reference, recognizer, args.out)


def _save(reference: WordFitReference, recognizer: PocketsphinxRecognizer, out: str) -> None:
    missing = reference.missing(recognizer.grammar.words())
    reference.save(out)
    print(f"wrote {out}: {len(reference.scores)} words from {reference.source['clips_used']} clips"
          + (f"; no exact decode of {missing} (they use the fallback {reference.fallback:.2f})" if missing else ""))


if __name__ == "__main__":
    main()
