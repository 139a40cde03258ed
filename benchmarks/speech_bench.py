"""Speech benchmark: exact-command accuracy, false commands on other speech, decode latency.

Every command in the vocabulary (plus the stop words) is synthesised with espeak-ng in several voices
and speeds, clean and with white noise at a stated SNR, and decoded by the default recogniser.
Out-of-grammar sentences measure false commands: any of them turned into a command is a robot moving
when nobody asked. Writes benchmarks/results/speech.json and speech.md.

    python benchmarks/speech_bench.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vla_ros.speech.recognizer import PocketsphinxRecognizer
from vla_ros.speech.synth import add_noise, pad_silence, synthesize
from vla_ros.vocabulary import load_vocabulary

RESULTS = Path(__file__).resolve().parent / "results"
VOICES = ("en-us", "en-gb", "en-us+f3")
SPEEDS = (130, 175)
SNR_DB = 20.0
OUT_OF_GRAMMAR = (
    "what is the weather like today", "please open the door for me", "the quick brown fox jumps over the lazy dog",
    "can you hear me", "pick up the phone", "i like green tea", "turn on the lights in the kitchen",
    "how are you doing", "play some music", "where did i leave my keys", "thank you very much",
    "set a timer for ten minutes", "my favourite colour is red", "throw the ball to the dog", "hello robot",
    "good morning everyone", "call my mother", "is it going to rain tomorrow", "this block is heavy",
    "push the button", "blue skies ahead", "wash the dishes", "that was a good shot", "bring me a cup of coffee",
    "the red car is parked outside", "open the window", "what time is it",
)


@dataclass(frozen=True)
class Case:
    expected: str | None  # canonical command, or None for out-of-grammar speech
    said: str
    voice: str
    speed: int
    noisy: bool


def run(quick: bool, min_confidence: float, min_stop_confidence: float) -> dict:
    vocab = load_vocabulary()
    recognizer = PocketsphinxRecognizer(vocab, min_confidence=min_confidence, min_stop_confidence=min_stop_confidence)
    commands = [(c.text, c.text) for c in vocab.all_commands()] + [(w, "stop") for w in vocab.stop_words]
    voices, speeds = (VOICES[:2], SPEEDS) if not quick else (VOICES[:2], SPEEDS[:1])
    if quick:
        commands = commands[::6]
    cases = [Case(expected, said, v, s, n) for (said, expected), v, s, n in product(commands, voices, speeds, (False, True))]
    cases += [Case(None, said, v, s, n) for said, v, s, n in product(OUT_OF_GRAMMAR, voices, speeds, (False, True))]
    rng = np.random.default_rng(0)
    rows = []
    for case in tqdm(cases, desc="speech", unit="utt"):
        audio, rate = synthesize(case.said, case.voice, case.speed)
        audio = pad_silence(audio, rate)
        if case.noisy:
            audio = add_noise(audio, SNR_DB, rng)
        result = recognizer.recognize(audio, rate)
        rows.append({**case.__dict__, **result.as_dict()})
    return summarise(rows, quick, (min_confidence, min_stop_confidence), voices, speeds)


def summarise(rows: list[dict], quick: bool, thresholds: tuple[float, float], voices: tuple[str, ...], speeds: tuple[int, ...]) -> dict:
    cmd = [r for r in rows if r["expected"] is not None]
    oog = [r for r in rows if r["expected"] is None]
    latency = np.array([r["latency_s"] for r in rows])

    def accuracy(subset: list[dict]) -> float:
        return sum(r["text"] == r["expected"] for r in subset) / max(len(subset), 1)

    groups = {}
    for v, s, n in product(voices, speeds, (False, True)):
        subset = [r for r in cmd if (r["voice"], r["speed"], r["noisy"]) == (v, s, n)]
        groups[f"{v} {s}wpm {'noisy' if n else 'clean'}"] = {"n": len(subset), "accuracy": accuracy(subset)}
    return {
        "quick": quick,
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "min_confidence": thresholds[0], "min_stop_confidence": thresholds[1], "voices": list(voices), "speeds_wpm": list(speeds), "noise": f"white Gaussian, SNR {SNR_DB:g} dB",
        "commands": {"n": len(cmd), "accuracy": accuracy(cmd),
                     "wrong_command": sum(r["text"] is not None and r["text"] != r["expected"] for r in cmd),
                     "not_understood": sum(r["text"] is None for r in cmd)},
        "groups": groups,
        "out_of_grammar": {"n": len(oog), "sentences": len(OUT_OF_GRAMMAR),
                           "false_commands": sum(r["text"] is not None for r in oog),
                           "examples": [f"{r['said']!r} -> {r['text']!r}" for r in oog if r["text"] is not None][:10]},
        "latency_s": {"mean": float(latency.mean()), "p50": float(np.percentile(latency, 50)),
                      "p95": float(np.percentile(latency, 95)), "max": float(latency.max())},
        "rtf_mean": float(np.mean([r["rtf"] for r in rows])),
        "failures": [f"{r['said']!r} ({r['voice']}, {r['speed']}, {'noisy' if r['noisy'] else 'clean'}) -> {r['hypothesis']!r}: {r['reason']}"
                     for r in cmd if r["text"] != r["expected"]],
        "rows": rows,
    }


def markdown(s: dict) -> str:
    c, o, l = s["commands"], s["out_of_grammar"], s["latency_s"]
    lines = [
        "# Speech benchmark (pocketsphinx + vocabulary grammar)", "",
        f"`python benchmarks/speech_bench.py{' --quick' if s['quick'] else ''}` on {s['machine']}; espeak-ng voices "
        f"{', '.join(s['voices'])} at {', '.join(map(str, s['speeds_wpm']))} wpm, clean and noisy ({s['noise']}); "
        f"min_confidence {s['min_confidence']}, min_stop_confidence {s['min_stop_confidence']}.", "",
        "| measure | value | goal |", "|---|---|---|",
        f"| exact-command accuracy | {c['accuracy']:.1%} ({c['n']} utterances: {c['wrong_command']} wrong command, {c['not_understood']} not understood) | >= 97% |",
        f"| false commands on out-of-grammar speech | {o['false_commands']} / {o['n']} ({o['sentences']} sentences) | 0 |",
        f"| decode latency per utterance | mean {l['mean'] * 1000:.0f} ms, p95 {l['p95'] * 1000:.0f} ms, max {l['max'] * 1000:.0f} ms | |",
        f"| real-time factor (mean) | {s['rtf_mean']:.3f} | < 1 |", "",
        "| condition | utterances | accuracy |", "|---|---|---|",
        *(f"| {k} | {g['n']} | {g['accuracy']:.1%} |" for k, g in s["groups"].items()), "",
    ]
    if o["examples"]:
        lines += ["False commands:", "", *(f"- {e}" for e in o["examples"]), ""]
    if s["failures"]:
        lines += ["Missed commands:", "", *(f"- {f}" for f in s["failures"][:30]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 6th command, one speed (a smoke run)")
    parser.add_argument("--min-confidence", type=float, default=PocketsphinxRecognizer.DEFAULT_MIN_CONFIDENCE,
                        help="the recogniser's rejection threshold")
    parser.add_argument("--min-stop-confidence", type=float, default=PocketsphinxRecognizer.DEFAULT_MIN_STOP_CONFIDENCE)
    args = parser.parse_args()
    start = time.perf_counter()
    summary = run(args.quick, args.min_confidence, args.min_stop_confidence)
    summary["wall_s"] = time.perf_counter() - start
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speech.json").write_text(json.dumps(summary, indent=1))
    (RESULTS / "speech.md").write_text(markdown(summary))
    print(markdown(summary))


if __name__ == "__main__":
    main()
