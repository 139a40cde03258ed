"""Choose the Whisper check's min_whisper_margin and min_whisper_stop_margin on the calibration sentences.

The commands and the calibration out-of-grammar sentences (speech_common.py; never the lists speech_bench.py
reports apart) are decoded with every pocketsphinx check off and Whisper's margin measured on every command
pocketsphinx forms. min_whisper_margin is the lowest grid value (step 0.5 nats) above every margin of those
out-of-grammar hypotheses: Whisper alone would let none of them through. min_whisper_stop_margin is chosen the same
way from the stops heard in out-of-grammar speech (for whisper_check_stops; stops keep their shipped
min_stop_confidence). Writes results/speech.whisper_check_calibration.{json,md}.

    python benchmarks/speech_whisper_calibrate.py DIR    # DIR: a CTranslate2 Whisper directory (model.bin)
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
from report import write_results
from speech_common import accepted, audio_of, compact_row, make_cases, said_as
from tqdm import tqdm

from vla_ros.speech.config import RecognizerConfig
from vla_ros.speech.recognizer import PocketsphinxRecognizer
from vla_ros.vocabulary import load_vocabulary

WHISPER_MARGIN_GRID = tuple(-0.5 * i for i in range(60, -1, -1))  # -30 .. 0 nats


def calibrate_whisper_check(model_dir: str, min_stop_confidence: float) -> dict:
    """Both margins from the commands and the calibration out-of-grammar sentences (see the module docstring)."""
    vocab = load_vocabulary()
    cases, _, _ = make_cases(vocab, quick=False)
    config = RecognizerConfig(min_confidence=0.0, min_stop_confidence=min_stop_confidence, min_word_fit=-math.inf,
                              whisper_check_model=model_dir, min_whisper_margin=-math.inf, whisper_check_stops=True,
                              min_whisper_stop_margin=-math.inf)
    recognizer = PocketsphinxRecognizer(vocab, config)
    rows = [{**case.__dict__, **recognizer.recognize(audio, rate).as_dict()}
            for case, audio, rate in tqdm(audio_of(cases), total=len(cases), desc="whisper check", unit="utt")]
    defaults = RecognizerConfig()
    shipped = (defaults.min_confidence, defaults.min_word_fit)
    out = {"model": model_dir, "grid": [WHISPER_MARGIN_GRID[0], WHISPER_MARGIN_GRID[-1], 0.5],
           "commands": sum(r["expected"] is not None for r in rows), "rows": [compact_row(r) for r in rows]}
    checked = [r for r in rows if r["whisper_margin"] is not None]
    out["latency_ms_checked_mean"] = 1000 * float(np.mean([r["latency_s"] for r in checked]))
    for kind, want_stop in (("moving", False), ("stop", True)):
        def is_kind(r: dict, want_stop: bool = want_stop) -> bool:
            return vocab.only_stop_words(r["hypothesis"]) == want_stop

        mine = [r for r in checked if is_kind(r)]
        oog = sorted((r for r in mine if r["expected"] is None), key=lambda r: -r["whisper_margin"])
        highest = oog[0]["whisper_margin"] if oog else -math.inf
        chosen = min(t for t in WHISPER_MARGIN_GRID if t > highest)
        # Right at the shipped pocketsphinx thresholds, and of those, lost to the check at the chosen margin.
        right = [r for r in rows
                 if r["expected"] is not None and is_kind(r) and accepted(r, shipped, vocab) == r["expected"]]
        lost = [r for r in right if r["whisper_margin"] is not None and r["whisper_margin"] < chosen]
        margins = [r["whisper_margin"] for r in right if r["whisper_margin"] is not None]
        out[kind] = {"chosen": chosen, "highest_out_of_grammar_margin": highest, "out_of_grammar_checked": len(oog),
                     "right_without_check": len(right), "lost_to_check": len(lost),
                     "lost": [f"{said_as(r)} as {r['hypothesis']!r}: "
                              f"Whisper heard {r['whisper_heard']!r}, margin {r['whisper_margin']:.2f}" for r in lost],
                     "closest_out_of_grammar": [f"{said_as(r)} -> {r['hypothesis']!r}: Whisper heard "
                                                f"{r['whisper_heard']!r}, margin {r['whisper_margin']:.2f}"
                                                for r in oog[:10]],
                     "command_margin_percentiles": dict(zip(("0", "1", "5", "50"),
                                                            np.percentile(margins, [0, 1, 5, 50]).round(2).tolist()))}
    return out


def whisper_check_markdown(c: dict) -> str:
    """The report a reader sees (results/speech.whisper_check_calibration.md)."""
    lines = [
        "# Whisper check: min_whisper_margin and min_whisper_stop_margin, chosen on the calibration sentences", "",
        f"`python benchmarks/speech_whisper_calibrate.py {c['model']}`: the {c['commands']} command utterances and "
        "the calibration out-of-grammar sentences of speech.md (never the held-out ones) decoded with pocketsphinx's "
        "moving-command checks off (stops keep min_stop_confidence), and Whisper's margin (log P(hypothesis) - log "
        "P(its own transcript), nats, vocabulary prompt; for a stop, the likeliest stop word) measured on every "
        "command pocketsphinx formed. Each threshold is the lowest grid value (step 0.5) above every margin of a "
        "command formed from out-of-grammar speech: Whisper alone would let none of them through. Mean latency of a "
        f"checked utterance: {c['latency_ms_checked_mean']:.0f} ms (one thread).", ""]
    for kind, name in (("moving", "min_whisper_margin"), ("stop", "min_whisper_stop_margin (whisper_check_stops)")):
        k = c[kind]
        lines += [f"## {kind} commands: {name} = **{k['chosen']}**", "",
                  f"{k['out_of_grammar_checked']} {kind} commands formed from out-of-grammar speech, the highest "
                  f"margin {k['highest_out_of_grammar_margin']:.2f}. Right at the shipped pocketsphinx thresholds: "
                  f"{k['right_without_check']}; lost to the check: {k['lost_to_check']}. Margins of those "
                  f"(percentiles 0/1/5/50): {k['command_margin_percentiles']}.", "",
                  "Out-of-grammar hypotheses closest to passing:", "", *(f"- {x}" for x in k["closest_out_of_grammar"]),
                  "", *(["Commands the check drops:", "", *(f"- {x}" for x in k["lost"]), ""] if k["lost"] else [])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", metavar="DIR", help="a CTranslate2 Whisper directory (model.bin)")
    parser.add_argument("--min-stop-confidence", type=float, default=RecognizerConfig().min_stop_confidence)
    args = parser.parse_args()
    start = time.perf_counter()
    cal = calibrate_whisper_check(args.model_dir, args.min_stop_confidence)
    cal["wall_s"] = time.perf_counter() - start
    write_results("speech.whisper_check_calibration", cal, whisper_check_markdown(cal))
    print(whisper_check_markdown(cal))


if __name__ == "__main__":
    main()
