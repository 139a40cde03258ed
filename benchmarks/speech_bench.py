"""Speech benchmark: exact-command accuracy, false commands on other speech, decode latency, for one recogniser setting.

Every command in the vocabulary (plus the stop words) is synthesised with espeak-ng in several voices
and speeds, clean and with white noise at a stated SNR, and decoded (speech_common.py; sentences and conditions in
speech_data/). Out-of-grammar sentences measure false commands: any of them turned into a command is a robot moving
when nobody asked. The calibration list is what speech_calibrate.py tunes on; the lists reported apart
(held out, fresh, fresh 2-4) never chose a setting. Writes results/speech[...].{json,md}.

    python benchmarks/speech_bench.py [--quick]                       # the shipped settings, hands-free
    python benchmarks/speech_bench.py --confirm-always                 # read back: the speech node's default
    python benchmarks/speech_bench.py --whisper-check DIR              # pocketsphinx double-checked by Whisper
    python benchmarks/speech_bench.py --whisper-model DIR              # Whisper alone as the recogniser

The thresholds themselves come from speech_calibrate.py and speech_whisper_calibrate.py.
"""
from __future__ import annotations

import argparse
import sys
import time
from itertools import product

import numpy as np
from report import machine, write_results
from speech_common import (
    HELD_OUT_LABELS,
    HELD_OUT_SETS,
    OUT_OF_GRAMMAR,
    ROW_FIELDS,
    SNR_DB,
    STOP_FORMS,
    STOP_NOISE_SEED,
    STOP_SNRS_DB,
    STOP_SPEEDS,
    STOP_VOICES,
    YES_NOISE_SEED,
    Case,
    audio_of,
    compact_row,
    held_out_cases,
    make_cases,
    said_as,
    spoken,
)
from tqdm import tqdm

from vla_ros.speech.config import RecognizerConfig
from vla_ros.speech.confirmation import ask_first
from vla_ros.speech.recognizer import Recognizer, make_recognizer
from vla_ros.speech.result import SpeechResult
from vla_ros.vocabulary import Vocabulary, load_vocabulary


def stop_forms(recognizer: Recognizer, quick: bool) -> dict:
    """Each of STOP_FORMS in every stop condition: how many were obeyed, and how the rest were heard."""
    rng = np.random.default_rng(STOP_NOISE_SEED)
    voices, speeds = (STOP_VOICES[:2], STOP_SPEEDS[1:2]) if quick else (STOP_VOICES, STOP_SPEEDS)
    out = {"voices": list(voices), "speeds_wpm": list(speeds), "snr_db": [s for s in STOP_SNRS_DB if s], "forms": {}}
    for form in tqdm(STOP_FORMS, desc="stop forms", unit="form"):
        obeyed, missed = 0, []
        for voice, speed, snr in product(voices, speeds, STOP_SNRS_DB):
            result = recognizer.recognize(*spoken(form, voice, speed, snr, rng))
            if result.text == "stop":
                obeyed += 1
            else:
                condition = "clean" if snr is None else f"{snr:g} dB"
                missed.append(f"{form!r} ({voice}, {speed}, {condition}) -> {result.reason}")
        out["forms"][form] = {"n": len(voices) * len(speeds) * len(STOP_SNRS_DB), "obeyed": obeyed, "missed": missed}
    return out


def next_turn(recognizer: Recognizer, vocab: Vocabulary, case: Case, audio: np.ndarray, rate: int,
              result: SpeechResult, rng: np.random.Generator) -> dict:
    """What follows an utterance when the recogniser can ask "did you mean ...?" (speech/confirmation.py).

    `confirmed`: the user answers "yes" (same voice, speed and noise) only to a question about what they said, as a
    person would, and this says whether that "yes" was heard. `false_yes`: for out-of-grammar speech, whether it
    would have been taken as a "yes" had a question been open (chit-chat confirming a command nobody gave).
    """
    out = {}
    if case.expected is not None and result.confirm == case.expected:
        yes, yes_rate = spoken(vocab.yes_words[0], case.voice, case.speed, SNR_DB if case.noisy else None, rng)
        out["confirmed"] = recognizer.recognize(yes, yes_rate, expect_answer=True).answer == "yes"
    if case.expected is None:
        out["false_yes"] = recognizer.recognize(audio, rate, expect_answer=True).answer == "yes"
    return out


def carried_out(r: dict) -> bool:
    """A command row whose command was published: at once, or after the user's "yes" to a question about it."""
    return r["text"] == r["expected"] or bool(r.get("confirmed"))


def false_commands(rows: list[dict], sentences: int) -> dict:
    """Out-of-grammar rows: how many became a command (stops counted apart) and which."""
    out = {"n": len(rows), "sentences": sentences,
           "false_commands": sum(r["text"] is not None for r in rows),
           "false_stops": sum(r["text"] == "stop" for r in rows),
           "examples": [f"{said_as(r)} -> {r['text']!r}" for r in rows if r["text"] is not None]}
    if any(r.get("false_yes") is not None for r in rows):  # the recogniser could ask to confirm
        out.update(questions=sum(r.get("confirm") is not None for r in rows),
                   false_yes=sum(bool(r.get("false_yes")) for r in rows),
                   question_examples=[f"{said_as(r)} -> asked {r['confirm']!r} (Whisper heard {r['whisper_heard']!r})"
                                      for r in rows if r.get("confirm") is not None],
                   false_yes_examples=[said_as(r) for r in rows if r.get("false_yes")])
    return out


def spotter_figures(rows: list[dict]) -> dict:
    """What the speech node's stop spotter changes: an utterance in which it fires becomes a stop (the node publishes
    "stop" and drops the rest), so a command it fires on is lost and other speech it fires on is a false stop."""
    cmd = [r for r in rows if r["expected"] not in (None, "stop")]  # moving commands; a stop it fires on is obeyed
    other = [r for r in rows if r["expected"] is None]
    return {"commands": len(cmd),
            "carried_out": sum(carried_out(r) and not r["spotted"] for r in cmd),
            "lost_to_a_false_stop": sum(r["spotted"] for r in cmd),
            "other_speech": len(other), "false_stops": sum(r["spotted"] for r in other),
            "examples": [said_as(r) for r in cmd + other if r["spotted"]]}


def run(quick: bool, config: RecognizerConfig, whisper_model: str = "", confirm_always: bool = False,
        stop_spotter: str | None = None) -> dict:
    """Decode every case with one recogniser: pocketsphinx set by `config`, or Whisper alone from `whisper_model`;
    with `stop_spotter` (a model directory, '' = shipped) its decisions on the same audio too."""
    vocab = load_vocabulary()
    spotter = None
    if stop_spotter is not None:
        from vla_ros.speech.audio import resample
        from vla_ros.speech.stop_spotter import DEFAULT_MODEL_DIR, StopSpotter

        spotter = StopSpotter.load(stop_spotter or DEFAULT_MODEL_DIR)

        def spotted(audio: np.ndarray, rate: int) -> bool:
            pcm = resample(audio, rate, spotter.cfg.sample_rate) if rate != spotter.cfg.sample_rate else audio
            return bool(spotter.detect(pcm))
    recognizer = make_recognizer("whisper" if whisper_model else "pocketsphinx", whisper_model, vocab, config)
    cases, voices, speeds = make_cases(vocab, quick)
    # Only the Whisper check leaves a command unsure; confirm_always asks before every moving command.
    asks = (bool(config.whisper_check_model) or confirm_always) and bool(vocab.yes_words)
    yes_noise = np.random.default_rng(YES_NOISE_SEED)

    def decode(cases: list[Case], desc: str) -> list[dict]:
        rows = []
        for case, audio, rate in tqdm(audio_of(cases), total=len(cases), desc=desc, unit="utt"):
            result = recognizer.recognize(audio, rate)
            if confirm_always:
                result = ask_first(result, vocab.yes_words[0])
            rows.append({**case.__dict__, **result.as_dict(),
                         **(next_turn(recognizer, vocab, case, audio, rate, result, yes_noise) if asks else {}),
                         **({"spotted": spotted(audio, rate)} if spotter is not None else {})})
        return rows

    rows = decode(cases, "speech")
    summary = summarise(rows, quick, (config.min_confidence, config.min_stop_confidence), voices, speeds)
    if spotter is not None:
        summary["stop_spotter"] = {"model": str(stop_spotter or "shipped"), "threshold": spotter.cfg.threshold,
                                   "consecutive": spotter.cfg.consecutive, **spotter_figures(rows)}
    for name, sentences in HELD_OUT_SETS.items():
        held_rows = decode(held_out_cases(vocab, voices, speeds, sentences), name)
        summary[name] = {**false_commands(held_rows, len(sentences)), "rows": [compact_row(r) for r in held_rows]}
        if spotter is not None:
            summary[name]["stop_spotter"] = spotter_figures(held_rows)
    if whisper_model:
        summary["backend"] = f"whisper ({recognizer.runtime}): {whisper_model}"
        return summary
    summary["backend"] = "pocketsphinx" + _checks(config) + (
        ", every moving command confirmed by a spoken yes" if confirm_always else "")
    summary["confirm_always"] = confirm_always
    summary["max_speech_beside_stop_s"] = config.max_speech_beside_stop_s
    summary["stops"] = stop_forms(recognizer, quick)
    summary["phone_insertion_penalty"] = config.phone_insertion_penalty
    summary["min_word_fit"] = config.min_word_fit
    summary["word_fit_reference"] = recognizer.word_fit_reference.source if recognizer.word_fit_reference else None
    return summary


def _checks(config: RecognizerConfig) -> str:
    """The Whisper check's part of the backend's name ("" without one)."""
    if not config.whisper_check_model:
        return ""
    stops = (f", stops too: min_whisper_stop_margin {config.min_whisper_stop_margin}" if config.whisper_check_stops
             else ", stops unchecked")
    return f" + Whisper check (min_whisper_margin {config.min_whisper_margin}{stops}; {config.whisper_check_model})"


def summarise(rows: list[dict], quick: bool, thresholds: tuple[float, float], voices: tuple[str, ...],
              speeds: tuple[int, ...]) -> dict:
    """Accuracy per condition, false commands, latency and the compact rows of one run."""
    cmd = [r for r in rows if r["expected"] is not None]
    oog = [r for r in rows if r["expected"] is None]
    latency = np.array([r["latency_s"] for r in rows])

    def accuracy(subset: list[dict]) -> float:
        return sum(r["text"] == r["expected"] for r in subset) / max(len(subset), 1)

    groups = {}
    for v, s, n in product(voices, speeds, (False, True)):
        subset = [r for r in cmd if (r["voice"], r["speed"], r["noisy"]) == (v, s, n)]
        groups[f"{v} {s}wpm {'noisy' if n else 'clean'}"] = {
            "n": len(subset), "accuracy": accuracy(subset),
            "with_yes": sum(map(carried_out, subset)) / max(len(subset), 1)}
    asks = any(r.get("false_yes") is not None for r in rows)
    return {
        "quick": quick,
        "machine": machine(),
        "min_confidence": thresholds[0], "min_stop_confidence": thresholds[1], "voices": list(voices),
        "speeds_wpm": list(speeds), "noise": f"white Gaussian, SNR {SNR_DB:g} dB",
        "commands": {"n": len(cmd), "accuracy": accuracy(cmd),
                     "wrong_command": sum(r["text"] is not None and r["text"] != r["expected"] for r in cmd),
                     "not_understood": sum(r["text"] is None for r in cmd),
                     **({"asked": sum(r.get("confirm") is not None for r in cmd),
                         "confirmed": sum(bool(r.get("confirmed")) for r in cmd),
                         "accuracy_with_yes": sum(map(carried_out, cmd)) / max(len(cmd), 1)} if asks else {})},
        "groups": groups,
        "out_of_grammar": false_commands(oog, len(OUT_OF_GRAMMAR)),
        "latency_s": {"mean": float(latency.mean()), "p50": float(np.percentile(latency, 50)),
                      "p95": float(np.percentile(latency, 95)), "max": float(latency.max())},
        "rtf_mean": float(np.mean([r["rtf"] for r in rows])),
        "failures": [f"{said_as(r)} -> {r['hypothesis']!r}: {r['reason']}"
                     for r in cmd if not carried_out(r)],  # asked and confirmed is not a miss
        # Compact per-utterance rows (the full SpeechResult of each is in the markdown lists where it matters).
        "rows": [compact_row(r) for r in rows],
        "row_fields": list(ROW_FIELDS),
    }


def word_fit_source(source: dict | None) -> str:
    """Where the word-fit reference came from, in a sentence (its JSON's `source`)."""
    if not source:
        return "none (word check off)"
    sentences = ("every command and stop word" if source.get("sentence_set") == "commands"
                 else "every sentence of the grammar with synonyms")
    return (f"espeak-ng voices {', '.join(source['voices'])} at {source['speed_wpm']} wpm, {sentences} "
            f"({source['clips_used']} of {source['sentences'] * len(source['voices'])} decoded exactly; "
            "voices this benchmark does not test)")


def asked(o: dict) -> str:
    """The confirmation columns of a false-command cell, where the recogniser could ask."""
    if "questions" not in o:
        return ""
    return (f"; {o['questions']} \"did you mean ...?\" asked (not acted on), "
            f"{o['false_yes']} heard as \"yes\" had one been open")


def spotter_rows(s: dict) -> list[str]:
    """The table rows with the stop spotter beside the recogniser, as the speech node runs by default."""
    sp = s.get("stop_spotter")
    if not sp:
        return []
    rows = [f"| with the stop spotter (threshold {sp['threshold']}, {sp['consecutive']} looks): moving commands "
            "carried out | "
            f"{sp['carried_out'] / max(sp['commands'], 1):.1%} ({sp['carried_out']} / {sp['commands']}; "
            f"{sp['lost_to_a_false_stop']} lost to a false stop) | >= 97% |",
            f"| with the stop spotter: false stops on the calibration out-of-grammar speech | "
            f"{sp['false_stops']} / {sp['other_speech']} (false moving commands unchanged: the spotter only stops) | |"]
    for name, label in HELD_OUT_LABELS.items():
        f = s.get(name, {}).get("stop_spotter")
        if f:
            rows.append(f"| with the stop spotter: false stops on {label.split(' (')[0]} out-of-grammar speech | "
                        f"{f['false_stops']} / {f['other_speech']} | |")
    return rows


def markdown(s: dict) -> str:
    """The report a reader sees (results/speech[...].md)."""
    c, o, lat = s["commands"], s["out_of_grammar"], s["latency_s"]
    asks = "accuracy_with_yes" in c  # the recogniser could ask "did you mean ...?"
    backend = "pocketsphinx + vocabulary grammar" if s["backend"] == "pocketsphinx" else s["backend"]
    settings = (f"min_confidence {s['min_confidence']}, min_stop_confidence {s['min_stop_confidence']}, "
                f"min_word_fit {s['min_word_fit']}, phone insertion penalty (pip) {s['phone_insertion_penalty']}. "
                "How pip, min_confidence and min_word_fit were chosen: speech.calibration.md (`speech_calibrate.py`, "
                f"held-out halves). Word-fit reference: {word_fit_source(s['word_fit_reference'])}."
                if s["backend"].startswith("pocketsphinx")
                else "free transcripts; only what the vocabulary parses is a command (no thresholds).")
    at_once = " at once (stops only here: every moving command waits for a yes)" if s.get("confirm_always") else ""

    def false_row(label: str, f: dict) -> str:
        return (f"| false commands on {label} | {f['false_commands']} / {f['n']} ({f['sentences']} sentences): "
                f"{f['false_commands'] - f['false_stops']} moving, {f['false_stops']} stop{asked(f)} | 0 |")

    lines = [
        f"# Speech benchmark ({backend})", "",
        f"`{s['command']}` on {s['machine']}; espeak-ng voices {', '.join(s['voices'])} at "
        f"{', '.join(map(str, s['speeds_wpm']))} wpm, clean and noisy ({s['noise']}); {settings}", "",
        "| measure | value | goal |", "|---|---|---|",
        f"| exact-command accuracy{at_once} | {c['accuracy']:.1%} ({c['n']} utterances: {c['wrong_command']} wrong "
        f"command, {c['not_understood']} not understood) | >= 97% |",
        *([f"| exact commands when the robot may ask \"did you mean ...?\" and the user says \"yes\" | "
           f"{c['accuracy_with_yes']:.1%} (asked {c['asked']}, of which the user's \"yes\" was heard "
           f"{c['confirmed']}) | >= 97% |"] if asks else []),
        false_row("out-of-grammar speech", o),
        *(false_row(f"{label} out-of-grammar speech", s[name]) for name, label in HELD_OUT_LABELS.items() if name in s),
        *spotter_rows(s),
        f"| decode latency per utterance | mean {lat['mean'] * 1000:.0f} ms, p95 {lat['p95'] * 1000:.0f} ms, "
        f"max {lat['max'] * 1000:.0f} ms | |",
        f"| real-time factor (mean) | {s['rtf_mean']:.3f} | < 1 |", "",
        "| condition | utterances | accuracy |" + (' with a "yes" when asked |' if asks else ""),
        "|---|---|---|" + ("---|" if asks else ""),
        *(f"| {k} | {g['n']} | {g['accuracy']:.1%} |" + (f" {g['with_yes']:.1%} |" if asks else "")
          for k, g in s["groups"].items()), "",
    ]
    if o["examples"]:
        lines += ["False commands:", "", *(f"- {e}" for e in o["examples"]), ""]
    for name, label in HELD_OUT_LABELS.items():
        if s.get(name, {}).get("examples"):
            lines += [f"False commands on the {label.split(' (')[0]} sentences:", "",
                      *(f"- {e}" for e in s[name]["examples"]), ""]
    for name, label in {"out_of_grammar": "calibration", **HELD_OUT_LABELS}.items():
        for key, what in (("question_examples", "Questions asked"),
                          ("false_yes_examples", "Would have been taken as \"yes\"")):
            if s.get(name, {}).get(key):
                lines += [f"{what} on the {label.split(' (')[0]} sentences:", "", *(f"- {e}" for e in s[name][key]), ""]
    if s["failures"]:
        lines += ["Missed commands:", "", *(f"- {f}" for f in s["failures"][:30]), ""]
    if "stops" in s:
        st = s["stops"]
        lines += [f"Stops, said the ways people say them (espeak-ng voices {', '.join(st['voices'])} at "
                  f"{', '.join(map(str, st['speeds_wpm']))} wpm; clean and white noise at "
                  f"{', '.join(f'{x:g}' for x in st['snr_db'])} dB SNR; noise seed {STOP_NOISE_SEED}; a stop must be "
                  f"said alone: max_speech_beside_stop_s {s.get('max_speech_beside_stop_s')}):", "",
                  "| said | obeyed |", "|---|---|",
                  *(f"| {form} | {f['obeyed']} / {f['n']} |" for form, f in st["forms"].items()), "",
                  "Missed stops:", "", *(f"- {m}" for f in st["forms"].values() for m in f["missed"]), ""]
    return "\n".join(lines)


def main() -> None:
    defaults = RecognizerConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 6th command, one speed (a smoke run)")
    parser.add_argument("--min-confidence", type=float, default=defaults.min_confidence,
                        help="the recogniser's rejection threshold")
    parser.add_argument("--min-stop-confidence", type=float, default=defaults.min_stop_confidence)
    parser.add_argument("--pip", type=float, default=defaults.phone_insertion_penalty,
                        help="pocketsphinx phone insertion penalty")
    parser.add_argument("--min-word-fit", type=float, default=defaults.min_word_fit,
                        help="the recogniser's word-fit threshold (log score per frame vs the word's reference)")
    parser.add_argument("--whisper-model", default="", help="benchmark the whisper backend with this model directory "
                        "instead (results/speech.whisper.{json,md})")
    parser.add_argument("--whisper-check", default="", help="pocketsphinx double-checked by this CTranslate2 Whisper "
                        "directory (results/speech.whisper_check.{json,md})")
    parser.add_argument("--min-whisper-margin", type=float, default=defaults.min_whisper_margin)
    parser.add_argument("--whisper-check-stops", action="store_true", help="let Whisper check stops too "
                        "(results/speech.whisper_check_stops.{json,md})")
    parser.add_argument("--min-whisper-stop-margin", type=float, default=defaults.min_whisper_stop_margin)
    parser.add_argument("--max-speech-beside-stop-s", type=float, default=defaults.max_speech_beside_stop_s,
                        help="a stop is said alone: drop a stop word with more other speech beside it (< 0: off)")
    parser.add_argument("--stop-spotter", nargs="?", const="", default=None, metavar="DIR",
                        help="also run the speech node's stop spotter (DIR, or the shipped one) on every utterance "
                        "(results/speech[...].stop_spotter.{json,md})")
    parser.add_argument("--confirm-always", action="store_true", help="ask for a spoken 'yes' before every moving "
                        "command (results/speech[.whisper_check].confirm_always.{json,md})")
    args = parser.parse_args()
    start = time.perf_counter()
    config = RecognizerConfig(min_confidence=args.min_confidence, min_stop_confidence=args.min_stop_confidence,
                              phone_insertion_penalty=args.pip, min_word_fit=args.min_word_fit,
                              whisper_check_model=args.whisper_check, min_whisper_margin=args.min_whisper_margin,
                              whisper_check_stops=args.whisper_check_stops,
                              min_whisper_stop_margin=args.min_whisper_stop_margin,
                              max_speech_beside_stop_s=(args.max_speech_beside_stop_s
                                                        if args.max_speech_beside_stop_s >= 0 else None))
    summary = run(args.quick, config, args.whisper_model, args.confirm_always, args.stop_spotter)
    summary["wall_s"] = time.perf_counter() - start
    summary["command"] = "python benchmarks/speech_bench.py " + " ".join(sys.argv[1:])
    name = ("speech.whisper" if args.whisper_model else "speech" if not args.whisper_check
            else "speech.whisper_check_stops" if args.whisper_check_stops else "speech.whisper_check")
    if args.confirm_always:
        name += ".confirm_always"
    if args.stop_spotter is not None:
        name += ".stop_spotter"
    write_results(name, summary, markdown(summary))
    print(markdown(summary))


if __name__ == "__main__":
    main()
