"""Choose pocketsphinx's phone insertion penalty (pip), min_confidence and min_word_fit on held-out halves.

Every case of the full speech benchmark (speech_common.py) is decoded once per pip with both thresholds at their
minimum; the commands and the calibration out-of-grammar sentences are split in two by a fixed seed (every
voice/speed/noise of one sentence in the same half). For each pip, the (min_confidence, min_word_fit) pair with 0
false commands on the calibration half and the most commands right there is scored on the other half (both ways
round); the pip with the fewest held-out false commands (then the most held-out commands right) is chosen, and the
pair with 0 false commands on all sentences and the most commands right is shipped (vla_ros/speech/config.py).
The sentences speech_bench.py reports apart are never decoded here. Writes results/speech.calibration.{json,md}.

    python benchmarks/speech_calibrate.py [--pips 1.0,0.5,0.3] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import time
from itertools import product

import numpy as np
from report import write_results
from speech_common import CALIBRATION_PIPS, CALIBRATION_SEED, Thresholds, accepted, audio_of, make_cases, said_as
from tqdm import tqdm

from vla_ros.speech.config import RecognizerConfig
from vla_ros.speech.recognizer import PocketsphinxRecognizer
from vla_ros.vocabulary import Vocabulary, load_vocabulary

THRESHOLD_GRID = tuple(round(0.40 + 0.01 * i, 2) for i in range(41))  # 0.40 .. 0.80
WORD_FIT_GRID = tuple(round(-4.0 + 0.05 * i, 2) for i in range(61))  # -4.0 .. -1.0 (log score per frame)


def split_halves(items: list[str], seed: int) -> tuple[set[str], set[str]]:
    """A fixed-seed random half (calibration) and the rest (held out)."""
    order = [str(x) for x in np.random.default_rng(seed).permutation(sorted(items))]
    return set(order[: len(order) // 2]), set(order[len(order) // 2:])


def score(rows: list[dict], thresholds: Thresholds, vocab: Vocabulary, voices=(), speeds=()) -> dict:
    """Commands right and false commands of decoded rows at these thresholds (per condition, too)."""
    published = [(r, accepted(r, thresholds, vocab)) for r in rows]  # each row judged once
    cmd = [(r, p) for r, p in published if r["expected"] is not None]
    oog = [(r, p) for r, p in published if r["expected"] is None]
    false = [f"{said_as(r)} -> {p!r} (confidence {r['confidence']:.3f}, "
             f"word fit {r['word_fit'] if r['word_fit'] is None else round(r['word_fit'], 2)})"
             for r, p in oog if p is not None]
    out = {"commands": len(cmd), "correct": sum(p == r["expected"] for r, p in cmd),
           "oog": len(oog), "false_commands": len(false), "false": false,
           "false_stops": sum(p == "stop" for _, p in oog)}
    out["accuracy"] = out["correct"] / max(len(cmd), 1)
    groups = {}
    for v, s, n in product(voices, speeds, (False, True)):
        sub = [p == r["expected"] for r, p in cmd if (r["voice"], r["speed"], r["noisy"]) == (v, s, n)]
        groups[f"{v} {s}wpm {'noisy' if n else 'clean'}"] = sum(sub) / max(len(sub), 1)
    out["groups"] = groups
    return out


def best_thresholds(rows: list[dict], vocab: Vocabulary) -> Thresholds | None:
    """The (min_confidence, min_word_fit) pair with 0 false moving commands on `rows` and the most commands right.

    Stop words are not judged by these thresholds (min_stop_confidence is fixed low: a missed stop is worse than a
    false one, which only holds the robot still), so false stops are counted and reported but cannot be tuned here.
    Ties go to the strictest pair (highest word fit, then highest confidence): the margin is kept for new speech.
    """
    cmd = [r for r in rows if r["expected"] is not None]
    oog = [r for r in rows if r["expected"] is None]
    best, best_key = None, None
    for pair in product(THRESHOLD_GRID, WORD_FIT_GRID):
        if any(accepted(r, pair, vocab) is not None and not vocab.only_stop_words(r["hypothesis"]) for r in oog):
            continue
        key = (sum(accepted(r, pair, vocab) == r["expected"] for r in cmd), pair[1], pair[0])
        if best_key is None or key > best_key:
            best, best_key = pair, key
    return best


def calibrate(pips: tuple[float, ...], seed: int, min_stop_confidence: float) -> dict:
    """Decode once per pip, choose the thresholds on each half and score them on the other (module docstring)."""
    vocab = load_vocabulary()
    cases, voices, speeds = make_cases(vocab, quick=False)
    cal_cmd, _ = split_halves(sorted({c.said for c in cases if c.expected is not None}), seed)
    cal_oog, _ = split_halves(sorted({c.said for c in cases if c.expected is None}), seed)

    def in_cal(r: dict) -> bool:
        return r["said"] in (cal_cmd if r["expected"] is not None else cal_oog)

    clips = list(tqdm(audio_of(cases), total=len(cases), desc="synthesise", unit="utt"))
    per_pip = []
    for pip in pips:
        config = RecognizerConfig(min_confidence=0.0, min_stop_confidence=min_stop_confidence,
                                  phone_insertion_penalty=pip, min_word_fit=-math.inf)
        recognizer = PocketsphinxRecognizer(vocab, config)
        rows = []
        for case, audio, rate in tqdm(clips, desc=f"pip {pip}", unit="utt"):
            result = recognizer.recognize(audio, rate)
            rows.append({**case.__dict__, **result.as_dict()})
        halves = {"A": [r for r in rows if in_cal(r)], "B": [r for r in rows if not in_cal(r)]}
        lowest = {k: best_thresholds(h, vocab) for k, h in halves.items()}
        kept = ("said", "expected", "voice", "speed", "noisy", "text", "hypothesis", "confidence", "word_fit")
        entry = {"pip": pip, "threshold_A": lowest["A"], "threshold_B": lowest["B"],
                 "latency_ms_mean": 1000 * float(np.mean([r["latency_s"] for r in rows])),
                 "latency_ms_p95": 1000 * float(np.percentile([r["latency_s"] for r in rows], 95)),
                 "rows": [{k: r[k] for k in kept} for r in rows]}
        if None not in lowest.values():
            # Each half scored at the threshold calibrated on the other half.
            a_on_b = score(halves["B"], lowest["A"], vocab, voices, speeds)
            b_on_a = score(halves["A"], lowest["B"], vocab, voices, speeds)
            pooled = {k: a_on_b[k] + b_on_a[k] for k in ("correct", "commands", "false_commands", "oog", "false_stops",
                                                         "false")}
            entry.update(calibration_A=score(halves["A"], lowest["A"], vocab), held_out_B=a_on_b, held_out_A=b_on_a,
                         pooled_held_out=pooled, whole_at_A=score(rows, lowest["A"], vocab, voices, speeds))
            pooled["accuracy"] = pooled["correct"] / pooled["commands"]
            # The shipped thresholds: 0 false commands on every sentence, most commands right.
            entry["threshold_all"] = best_thresholds(rows, vocab)
            entry["whole_at_all"] = score(rows, entry["threshold_all"], vocab, voices, speeds)
        per_pip.append(entry)
    usable = [e for e in per_pip if "pooled_held_out" in e]

    def moving(s: dict) -> int:
        return s["false_commands"] - s["false_stops"]

    # False commands first (fewest on held-out halves), then held-out accuracy, then the larger pip.
    chosen = (max(usable, key=lambda e: (-moving(e["pooled_held_out"]), e["pooled_held_out"]["correct"], e["pip"]))
              if usable else None)
    return {"seed": seed, "pips": list(pips), "threshold_grid": [THRESHOLD_GRID[0], THRESHOLD_GRID[-1], 0.01],
            "min_stop_confidence": min_stop_confidence, "voices": list(voices), "speeds_wpm": list(speeds),
            "calibration_commands": sorted(cal_cmd), "calibration_sentences": sorted(cal_oog),
            "held_out_sentences": sorted({c.said for c in cases if c.expected is None} - cal_oog),
            "word_fit_grid": [WORD_FIT_GRID[0], WORD_FIT_GRID[-1], 0.05], "per_pip": per_pip,
            "chosen": None if chosen is None else {"pip": chosen["pip"], "min_confidence": chosen["threshold_all"][0],
                                                   "min_word_fit": chosen["threshold_all"][1]}}


def calibration_markdown(c: dict) -> str:
    """The report a reader sees (results/speech.calibration.md)."""
    lines = [
        "# Speech calibration: phone insertion penalty (pip), min_confidence and min_word_fit, chosen on held-out "
        "halves", "",
        "`python benchmarks/speech_calibrate.py`: every case of the full benchmark is decoded once per pip "
        f"({', '.join(map(str, c['pips']))}) with both thresholds at their minimum and the default grammar (no "
        f"synonyms); stop words keep min_stop_confidence {c['min_stop_confidence']} and skip the word check (a missed "
        f"stop is worse than a false one). The commands ({len(c['calibration_commands'])} of them in calibration) and "
        f"the out-of-grammar sentences ({len(c['calibration_sentences'])} calibration, "
        f"{len(c['held_out_sentences'])} held out) are split in two by seed {c['seed']}; every voice, speed and noise "
        "condition of a sentence stays in its half. For each pip the thresholds are the pair "
        f"(min_confidence in {c['threshold_grid'][0]}..{c['threshold_grid'][1]} step 0.01, min_word_fit in "
        f"{c['word_fit_grid'][0]}..{c['word_fit_grid'][1]} step 0.05) with 0 false moving commands on the calibration "
        "half and the most commands right there (ties: the strictest pair). Thresholds are written (min_confidence, "
        "min_word_fit). Half A calibrates and half B is held out, then the other way round. The pip is chosen on the "
        "held-out halves: fewest false moving commands, then most commands right. The shipped pair has 0 false moving "
        "commands on all out-of-grammar sentences and the most commands right: both its whole-set numbers are "
        "therefore in-sample. The held-out rows are the honest estimate of how thresholds fitted on some sentences do "
        "on new ones (and speech.md's held-out sentences, never used here). False stops (out-of-grammar speech heard "
        "as a stop word) are counted separately: these thresholds do not act on them.", "",
        "| pip | threshold from A | A (calibration): accuracy, false | B held out at A's threshold | whole set at A's "
        "threshold | threshold from B | A held out at B's threshold | pooled held out | shipped threshold (all "
        "sentences) | whole set at it | latency mean / p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(s: dict) -> str:
        return (f"{s['accuracy']:.1%} ({s['correct']}/{s['commands']}), "
                f"{s['false_commands'] - s['false_stops']}/{s['oog']} false moving + {s['false_stops']} false stop")

    for e in c["per_pip"]:
        if "pooled_held_out" not in e:
            lines.append(f"| {e['pip']} | {e['threshold_A']} | no threshold with 0 false on a half | | | "
                         f"{e['threshold_B']} | | | | | |")
            continue
        lines.append(f"| {e['pip']} | {e['threshold_A']} | {f(e['calibration_A'])} | {f(e['held_out_B'])} | "
                     f"{f(e['whole_at_A'])} | {e['threshold_B']} | {f(e['held_out_A'])} | {f(e['pooled_held_out'])} | "
                     f"{e['threshold_all']} | {f(e['whole_at_all'])} | "
                     f"{e['latency_ms_mean']:.0f} / {e['latency_ms_p95']:.0f} ms |")
    lines.append("")
    if c["chosen"]:
        e = next(e for e in c["per_pip"] if e["pip"] == c["chosen"]["pip"])
        lines += [f"Chosen: pip {e['pip']}, (min_confidence, min_word_fit) {e['threshold_all']} (the recogniser's "
                  "defaults).", "",
                  f"| condition | B held out at {e['threshold_A']} | A held out at {e['threshold_B']} | whole set at "
                  f"{e['threshold_all']} |", "|---|---|---|---|",
                  *(f"| {k} | {e['held_out_B']['groups'][k]:.1%} | {e['held_out_A']['groups'][k]:.1%} | "
                    f"{e['whole_at_all']['groups'][k]:.1%} |" for k in e["whole_at_all"]["groups"]), ""]
        if e["pooled_held_out"]["false"]:
            lines += ["False commands on the held-out halves (each at the other half's threshold):", "",
                      *(f"- {x}" for x in e["pooled_held_out"]["false"]), ""]
        if e["whole_at_all"]["false"]:
            lines += [f"False commands on the whole set at {e['threshold_all']}:", "",
                      *(f"- {x}" for x in e["whole_at_all"]["false"]), ""]
    else:
        lines += ["No pip reached 0 false commands on both halves within the grid.", ""]
    lines += ["Half A sentences: " + ", ".join(map(repr, c["calibration_sentences"])), "",
              "Half B sentences: " + ", ".join(map(repr, c["held_out_sentences"])), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pips", default=",".join(map(str, CALIBRATION_PIPS)), help="phone insertion penalties to try")
    parser.add_argument("--seed", type=int, default=CALIBRATION_SEED, help="split seed")
    parser.add_argument("--min-stop-confidence", type=float, default=RecognizerConfig().min_stop_confidence)
    args = parser.parse_args()
    start = time.perf_counter()
    cal = calibrate(tuple(float(p) for p in args.pips.split(",")), args.seed, args.min_stop_confidence)
    cal["wall_s"] = time.perf_counter() - start
    write_results("speech.calibration", cal, calibration_markdown(cal))
    print(calibration_markdown(cal))


if __name__ == "__main__":
    main()
