"""The per-word fit check: reference table, worst-word margin, building a reference, the shipped file."""
import importlib.util
import math
import sys
from pathlib import Path

import pytest

from vla_ros.speech.grammar import FILLER_WORDS
from vla_ros.speech.result import understood
from vla_ros.speech.word_fit import WordFitReference, build_reference, default_reference_path, score_per_frame

REF = WordFitReference({"push": -4.0, "ball": -2.8, "blue": -4.6, "the": -4.3}, fallback=-4.0)


def test_worst_word_is_judged_against_its_own_reference():
    # "blue" scores lowest in absolute terms but is normal for "blue"; "ball" is 1.7 below its usual -2.8.
    fit = REF.worst([("push", -4.2), ("the", -9.0), ("blue", -4.7), ("ball", -4.5)], FILLER_WORDS)
    assert fit.word == "ball" and fit.margin == pytest.approx(-1.7)


def test_filler_words_are_not_judged_and_unknown_words_use_the_fallback():
    assert REF.worst([("the", -20.0)], FILLER_WORDS) is None
    fit = REF.worst([("magenta", -5.0), ("the", -20.0)], FILLER_WORDS)
    assert fit.word == "magenta" and fit.margin == pytest.approx(-1.0)
    assert REF.missing(["push", "magenta"]) == ["magenta"]


def test_underflowed_score_fails_closed():
    assert score_per_frame(0.0, 50) == -math.inf
    assert score_per_frame(math.exp(-100.0), 50) == pytest.approx(-2.0)


def test_save_load_round_trip_and_missing_file(tmp_path):
    REF.save(tmp_path / "ref.json")
    loaded = WordFitReference.load(tmp_path / "ref.json")
    assert loaded.scores == pytest.approx(REF.scores) and loaded.fallback == pytest.approx(REF.fallback)
    with pytest.raises(FileNotFoundError, match="python -m vla_ros.speech.word_fit"):
        WordFitReference.load(tmp_path / "nope.json")


class _ScriptedRecognizer:
    """Returns fixed decodes, so build_reference's bookkeeping is tested without audio."""

    def __init__(self, decodes):
        self.decodes = iter(decodes)

    def decode_words(self, audio, rate):
        hypothesis, words = next(self.decodes)
        return understood(hypothesis, hypothesis, 0.9, 0.01, 1.0), words


def test_build_reference_uses_only_exact_decodes_and_takes_medians():
    decodes = [("push the red ball", [("push", -4.0), ("the", -4.0), ("red", -3.0), ("ball", -2.0)]),
               ("push the red ball", [("push", -5.0), ("the", -4.0), ("red", -3.0), ("ball", -3.0)]),
               ("push the red block", [("push", -9.0), ("the", -9.0), ("red", -9.0), ("block", -9.0)]),  # misheard
               ("push the red ball", [("push", -6.0), ("the", -4.0), ("red", -3.0), ("ball", -math.inf)])]
    clips = [(None, 16000, "push the red ball")] * 4
    ref = build_reference(_ScriptedRecognizer(decodes), clips, {"voices": ["test"]})
    assert ref.scores == pytest.approx({"push": -5.0, "the": -4.0, "red": -3.0, "ball": -2.5})
    assert "block" not in ref.scores and ref.source["clips_used"] == 3
    with pytest.raises(RuntimeError, match="no clip decoded exactly"):
        build_reference(_ScriptedRecognizer([("stop", [("stop", -3.0)])]), [(None, 16000, "halt")], {})


def test_shipped_reference_covers_the_shipped_vocabulary():
    from vla_ros.speech.recognizer import PocketsphinxRecognizer

    assert default_reference_path().is_file()
    recognizer = PocketsphinxRecognizer()
    assert recognizer.word_fit_reference is not None and recognizer.words_without_reference == []
    # Built from voices the speech benchmark does not test, so its numbers stay out of sample.
    spec = importlib.util.spec_from_file_location("speech_common",
                                                  Path(__file__).parents[1] / "benchmarks" / "speech_common.py")
    bench = sys.modules.setdefault("speech_common", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(bench)
    assert not set(recognizer.word_fit_reference.source["voices"]) & set(bench.VOICES[:2])


def test_reference_from_a_robots_own_recordings(tmp_path):
    """The recordings path a robot uses: a TSV of WAVs and what was said; wrong transcripts are left out."""
    from vla_ros.speech.audio import write_wav
    from vla_ros.speech.synth import pad_silence, synthesize
    from vla_ros.speech.word_fit_cli import main

    said = ["pick up the blue block", "push the red ball to the left", "stop"]
    lines = ["# file<TAB>what was said"]
    for i, text in enumerate(said):
        audio, rate = synthesize(text, "en-us", 150)
        write_wav(tmp_path / f"{i}.wav", pad_silence(audio, rate), rate)
        lines.append(f"{i}.wav\t{text}")
    lines.append("0.wav\tTouch the green cylinder.")  # a transcript that does not match the audio
    (tmp_path / "said.tsv").write_text("\n".join(lines) + "\n")
    main(["--recordings", str(tmp_path / "said.tsv"), "--out", str(tmp_path / "ref.json")])
    ref = WordFitReference.load(tmp_path / "ref.json")
    assert ref.source["clips_used"] == 3 and ref.source["clips"] == 4
    assert {"pick", "up", "blue", "block", "push", "red", "ball", "left", "stop"} <= set(ref.scores)
    assert "cylinder" not in ref.scores and all(-15 < v < 0 for v in ref.scores.values())
    (tmp_path / "bad.tsv").write_text("no-tab-here\n")
    with pytest.raises(ValueError, match="expected 'file.wav<TAB>what was said'"):
        main(["--recordings", str(tmp_path / "bad.tsv"), "--out", str(tmp_path / "x.json")])
