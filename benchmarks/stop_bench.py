"""Stop benchmark (issue 20): does a spoken stop always stop, and how often does other speech stop the robot?

The stop spotter (vla_ros/speech/stop_spotter.py) hears every stop form of benchmarks/stop_data/stop_forms.txt in the
speech benchmark's stop conditions (6 espeak-ng voices x 5 speeds x clean / 20 dB / 10 dB white noise), and every
out-of-grammar sentence of the speech benchmark and every moving command of the vocabulary in its conditions (en-us /
en-gb x 130 / 175 wpm x clean / 20 dB); the lists are copied in benchmarks/stop_data/speech_bench_lists.json. Audio as
speech_bench.py makes it (espeak-ng, 0.3 s of silence before, white noise at 22.05 kHz), resampled to 16 kHz, and
followed by 1 s more of the same silence or noise: the microphone does not stop when the stop word does.

Measured: share of each form obeyed (a stop decided anywhere in the utterance); false stops per utterance; latency
from the end of the first stop word (from espeak-ng's own phoneme timing) to the decision, plus the network's
compute time per 50 ms hop on one thread; recall vs false stops over thresholds. None of these utterances or voices
was used to train the model or to choose its threshold (stop_spotter_train.py). Writes results/stop.{json,md}.

    python benchmarks/stop_bench.py [--quick] [--model models/speech/stop_spotter]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, machine, percentiles, wilson95, write_results  # noqa: E402

from vla_ros.speech.audio import resample  # noqa: E402
from vla_ros.speech.stop_spotter import DEFAULT_MODEL_DIR, StopSpotter  # noqa: E402
from vla_ros.speech.stop_spotter_train import ESPEAK_RATE, Espeak, fires, stop_forms, stop_word_spans  # noqa: E402
from vla_ros.speech.synth import add_noise, pad_silence, synthesize  # noqa: E402
from vla_ros.vocabulary import load_vocabulary  # noqa: E402

DATA = Path(__file__).resolve().parent / "stop_data"
LEAD_S, TAIL_S = 0.3, 1.3  # speech_bench's 0.3 s of silence each side, and 1 s more after
GOALS = {"obeyed_overall": 0.99, "obeyed_per_form": 0.95, "false_stops": 0.02, "latency_ms": 300}


def heard(
    spotter: StopSpotter, text: str, voice: str, speed: int, snr_db: float | None, rng
) -> tuple[np.ndarray, np.ndarray]:
    """(decision times, P at each hop) for one utterance made as the speech benchmark makes it."""
    audio, rate = synthesize(text, voice, speed)
    audio = pad_silence(audio, rate, LEAD_S, TAIL_S)
    if snr_db is not None:
        audio = add_noise(audio, snr_db, rng)
    return spotter.probabilities(resample(audio, rate, spotter.cfg.sample_rate))


def fire_on_stop(r: dict, threshold: float, k: int) -> int | None:
    """The first decision from the moment the first stop word begins (a decision before it is not a stop heard: it
    was a false stop on the words before, counted apart as `decided_before_the_stop_word_began`)."""
    start = int(np.searchsorted(r["times"], r["first_start_s"]))
    i = fires(r["p"][start:], threshold, k)
    return None if i is None else start + i


def k_score(p: np.ndarray, k: int) -> float:
    """The highest threshold at which `k` hops in a row reach it: fires at threshold t iff t <= this."""
    if p.size < k:
        return 0.0
    return float(np.max(np.lib.stride_tricks.sliding_window_view(p, k).min(axis=1)))


def hop_compute_ms(spotter: StopSpotter, rng, seconds: float = 60.0) -> dict:
    """Time of `feed` per 50 ms chunk of speech-like audio (one network look per chunk), one thread: wall time (what
    a caller waits, including time the scheduler gives to other processes) and this process's CPU time."""
    audio, rate = synthesize("please stop the robot now, pick up the red ball and push it to the left", "en-us", 150)
    pcm = resample(audio, rate, spotter.cfg.sample_rate)
    pcm = np.tile(pcm, int(np.ceil(seconds * spotter.cfg.sample_rate / pcm.size)))
    pcm = add_noise(pcm, 20.0, rng)
    chunk = spotter.cfg.hop_frames * spotter.cfg.hop_samples
    spotter.reset()
    wall, cpu = [], []
    for i in range(0, pcm.size - chunk, chunk):
        t, c = time.perf_counter(), time.process_time()
        spotter.feed(pcm[i:i + chunk])
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    spotter.reset()
    return {**percentiles(wall[5:]), "cpu": percentiles(cpu[5:])}


def run(model: str, quick: bool, dump: str = "", overrides: dict | None = None, data: Path = DATA) -> dict:
    """Hear everything once; `dump`: a pickle of every utterance's P per hop, re-scored by --from-dump;
    `data`: the folder with stop_forms.txt and speech_bench_lists.json (default: the benchmark's own)."""
    lists = json.loads((data / "speech_bench_lists.json").read_text())
    spotter = StopSpotter.load(model, **(overrides or {}))
    cfg = spotter.cfg
    espeak = Espeak()
    forms = stop_forms(data / "stop_forms.txt")
    voices, speeds = lists["stop_voices"], lists["stop_speeds_wpm"]
    snrs = lists["stop_snrs_db"]
    if quick:
        forms, voices, speeds = forms[::3], voices[:2], speeds[1:2]
    rng = np.random.default_rng(2)
    stop_rows = []
    for form, voice, speed, snr in tqdm(list(product(forms, voices, speeds, snrs)), desc="stop forms", unit="utt"):
        _, words = espeak.say(form, voice, speed)
        spans = stop_word_spans(form, words)
        assert spans, f"espeak-ng did not time the stop word of {form!r} ({voice})"
        times, p = heard(spotter, form, voice, speed, snr, rng)
        stop_rows.append(
            {
                "form": form,
                "voice": voice,
                "speed": speed,
                "snr_db": snr,
                "p": p,
                "times": times,
                "first_end_s": LEAD_S + spans[0][1] / ESPEAK_RATE,
                "first_start_s": LEAD_S + spans[0][0] / ESPEAK_RATE,
            }
        )
    rng = np.random.default_rng(0)
    neg_voices, neg_speeds = lists["voices"], lists["speeds_wpm"]
    neg_snrs = (None, lists["snr_db"])
    groups = dict(lists["out_of_grammar"])
    groups["moving_commands"] = [c.text for c in load_vocabulary().all_commands()]
    if quick:
        groups = {k: v[::4] for k, v in groups.items()}
        neg_speeds = neg_speeds[:1]
    neg_rows = []
    for group, sentences in groups.items():
        for said, voice, speed, snr in tqdm(
            list(product(sentences, neg_voices, neg_speeds, neg_snrs)), desc=group, unit="utt"
        ):
            times, p = heard(spotter, said, voice, speed, snr, rng)
            neg_rows.append(
                {"group": group, "said": said, "voice": voice, "speed": speed, "snr_db": snr, "p": p, "times": times}
            )
    compute = hop_compute_ms(spotter, np.random.default_rng(3))
    args = (stop_rows, neg_rows, compute, model, quick, voices, speeds, snrs, neg_voices, neg_speeds, neg_snrs)
    if dump:
        Path(dump).write_bytes(pickle.dumps(args))
    return summarise(cfg, *args)


def cond(r: dict) -> str:
    noise = "clean" if r["snr_db"] is None else f"{r['snr_db']:g} dB"
    return f"{r['voice']}, {r['speed']} wpm, {noise}"


def at_threshold(stop_rows, neg_rows, threshold: float, k: int) -> dict:
    fired = [fire_on_stop(r, threshold, k) for r in stop_rows]
    lat = [r["times"][i] - r["first_end_s"] for r, i in zip(stop_rows, fired) if i is not None]
    false = sum(fires(r["p"], threshold, k) is not None for r in neg_rows)
    per_form = {}
    for r, i in zip(stop_rows, fired):
        f = per_form.setdefault(r["form"], [0, 0])
        f[0] += i is not None
        f[1] += 1
    return {
        "threshold": threshold,
        "consecutive": k,
        "obeyed": sum(i is not None for i in fired),
        "n": len(stop_rows),
        "worst_form": min(per_form.items(), key=lambda kv: kv[1][0] / kv[1][1])[0],
        "worst_form_rate": min(a / b for a, b in per_form.values()),
        "false_stops": false,
        "n_other": len(neg_rows),
        "latency_ms_p50": round(1000 * float(np.percentile(lat, 50)), 1) if lat else None,
        "latency_ms_p99": round(1000 * float(np.percentile(lat, 99)), 1) if lat else None,
    }


def summarise(
    cfg, stop_rows, neg_rows, compute, model, quick, voices, speeds, snrs, neg_voices, neg_speeds, neg_snrs
) -> dict:
    th, k = cfg.threshold, cfg.consecutive
    forms = {}
    latencies, early = [], 0
    for r in stop_rows:
        before = fires(r["p"], th, k)
        early += before is not None and bool(r["times"][before] < r["first_start_s"])
        i = fire_on_stop(r, th, k)
        f = forms.setdefault(r["form"], {"n": 0, "obeyed": 0, "missed": [], "latency_s": []})
        f["n"] += 1
        if i is None:
            f["missed"].append(f"{r['form']!r} ({cond(r)}): highest P {k_score(r['p'], k):.3f}")
            continue
        f["obeyed"] += 1
        lat = float(r["times"][i] - r["first_end_s"])
        f["latency_s"].append(lat)
        latencies.append(lat)
    for f in forms.values():
        f["rate"] = f["obeyed"] / f["n"]
        f["wilson95"] = wilson95(f["obeyed"], f["n"])
        f["latency_ms"] = percentiles(f.pop("latency_s"))
    obeyed, n = sum(f["obeyed"] for f in forms.values()), sum(f["n"] for f in forms.values())
    groups = {}
    for r in neg_rows:
        g = groups.setdefault(r["group"], {"n": 0, "sentences": set(), "false_stops": 0, "examples": []})
        g["n"] += 1
        g["sentences"].add(r["said"])
        i = fires(r["p"], th, k)
        if i is not None:
            g["false_stops"] += 1
            g["examples"].append(f"{r['said']!r} ({cond(r)}) at {r['times'][i]:.2f} s, P {r['p'][i]:.3f}")
    for g in groups.values():
        g["sentences"] = len(g["sentences"])
        g["rate"] = g["false_stops"] / g["n"]
        g["wilson95"] = wilson95(g["false_stops"], g["n"])
    false = sum(g["false_stops"] for g in groups.values())
    oog = [r for r in neg_rows if r["group"] != "moving_commands"]
    curve = {
        kk: [
            at_threshold(stop_rows, neg_rows, float(t), kk)
            for t in sorted({round(x, 2) for x in np.arange(0.05, 1.0, 0.05)} | {th})
        ]
        for kk in (1, 2, 3)
    }
    # Per-condition view of the stops.
    by_snr = {}
    for r in stop_rows:
        key = "clean" if r["snr_db"] is None else f"{r['snr_db']:g} dB"
        b = by_snr.setdefault(key, [0, 0])
        b[0] += fire_on_stop(r, th, k) is not None
        b[1] += 1
    by_voice = {}
    for r in stop_rows:
        b = by_voice.setdefault(r["voice"], [0, 0])
        b[0] += fire_on_stop(r, th, k) is not None
        b[1] += 1
    meta = json.loads((Path(model) / "config.json").read_text())
    return {
        "quick": quick,
        "machine": machine(),
        "model": str(model),
        "config": cfg.to_dict(),
        "parameters": meta.get("parameters"),
        "training": meta.get("trained", {}),
        "validation_threshold": meta.get("validation", {}).get("at_threshold"),
        "stop_conditions": {"voices": voices, "speeds_wpm": speeds, "snr_db": snrs},
        "other_conditions": {"voices": neg_voices, "speeds_wpm": neg_speeds, "snr_db": list(neg_snrs)},
        "goals": GOALS,
        "obeyed": {"obeyed": obeyed, "n": n, "rate": obeyed / n, "wilson95": wilson95(obeyed, n)},
        "forms": forms,
        "by_snr": {k2: {"obeyed": a, "n": b} for k2, (a, b) in by_snr.items()},
        "by_voice": {k2: {"obeyed": a, "n": b} for k2, (a, b) in by_voice.items()},
        "false_stops": {
            "false_stops": false,
            "n": len(neg_rows),
            "rate": false / len(neg_rows),
            "wilson95": wilson95(false, len(neg_rows)),
            "out_of_grammar": {
                "false_stops": sum(g["false_stops"] for name, g in groups.items() if name != "moving_commands"),
                "n": len(oog),
            },
            "groups": groups,
        },
        "latency_ms": {**percentiles(latencies), "decided_before_the_stop_word_began": early},
        "compute_ms_per_hop": compute,
        "curve": {str(kk): v for kk, v in curve.items()},
    }


def plain(x):
    """Numpy scalars and tuples -> what json writes."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def trade_off(curve: list[dict], shipped: float) -> str:
    """One sentence: from the highest threshold that hears every stop to the shipped one, what the lost stops bought."""
    full = [c for c in curve if c["obeyed"] == c["n"]]
    here = next(c for c in curve if c["threshold"] == shipped)
    if not full:
        return "No threshold on this grid hears every stop."
    top = max(full, key=lambda c: c["threshold"])
    lost, saved = top["obeyed"] - here["obeyed"], top["false_stops"] - here["false_stops"]
    above = [c for c in curve if c["threshold"] > top["threshold"]]
    if lost <= 0:
        steps = "; ".join(f"{c['threshold']:.2f}: {c['n'] - c['obeyed']} stops lost, {c['false_stops']} false stops"
                          for c in above[:6])
        return (f"The shipped {shipped:.2f} hears every stop with {here['false_stops']} false stops in "
                f"{here['n_other']} utterances; the highest threshold that still hears every stop is "
                f"{top['threshold']:.2f} ({top['false_stops']} false stops); above it ({steps}) the last few false "
                "stops cost stops heard.")
    return (f"At {top['threshold']:.2f} every stop is heard with {top['false_stops']} false stops in {top['n_other']} "
            f"utterances; the shipped {shipped:.2f} loses {lost} of {here['n']} stops "
            f"({100 * lost / here['n']:.2f} points of recall) and avoids {saved} false stops: "
            f"{saved / (100 * lost / here['n']):.1f} fewer false stops in {top['n_other']} utterances "
            "per point of recall lost.")


def pct(a: int, b: int) -> str:
    lo, hi = wilson95(a, b)
    return f"{a} / {b} = {a / b:.1%} [{lo:.1%}, {hi:.1%}]"


def markdown(s: dict) -> str:
    cfg, o, fs, lat, comp = s["config"], s["obeyed"], s["false_stops"], s["latency_ms"], s["compute_ms_per_hop"]
    sc, oc = s["stop_conditions"], s["other_conditions"]
    worst = min(s["forms"].items(), key=lambda kv: kv[1]["rate"])
    total_p50 = lat.get("p50", float("nan")) + comp["p50"]
    total_p99 = lat.get("p99", float("nan")) + comp["p99"]
    ok = lambda b: "met" if b else "**not met**"  # noqa: E731
    lines = [
        "# Stop benchmark: the neural stop spotter (issue 20)",
        "",
        f"`{s['command']}` on {s['machine']}{' (QUICK: a subset)' if s['quick'] else ''}. Model `{s['model']}`: "
        f"{s['parameters']} parameters, log-mel {cfg['n_mels']} x {cfg['window_frames']} frames (10 ms), a look every "
        f"{cfg['hop_frames'] * 10} ms; a stop = P >= {cfg['threshold']} on {cfg['consecutive']} looks in a row "
        f"(threshold chosen on the model's own validation split: {s['validation_threshold']}). Trained on espeak-ng "
        "speech only, none of these sentences, none of these voices (vla_ros/speech/stop_spotter_train.py).",
        "",
        f"Stops: {len(s['forms'])} forms x voices {', '.join(sc['voices'])} x "
        f"{', '.join(map(str, sc['speeds_wpm']))} wpm x clean / "
        + " / ".join(f"{x:g} dB" for x in sc["snr_db"] if x)
        + " white noise. Other speech: the speech benchmark's "
        f"out-of-grammar lists and the vocabulary's moving commands x {', '.join(oc['voices'])} x "
        f"{', '.join(map(str, oc['speeds_wpm']))} wpm x clean / 20 dB.",
        "",
        "| measure | value | goal | |",
        "|---|---|---|---|",
        f"| stops obeyed, all forms | {pct(o['obeyed'], o['n'])} | >= 99% | "
        f"{ok(o['rate'] >= GOALS['obeyed_overall'])} |",
        f"| worst form | {worst[0]!r}: {pct(worst[1]['obeyed'], worst[1]['n'])} | >= 95% each | "
        f"{ok(worst[1]['rate'] >= GOALS['obeyed_per_form'])} |",
        f"| false stops per utterance, other speech | {pct(fs['false_stops'], fs['n'])} | <= 2% | "
        f"{ok(fs['rate'] <= GOALS['false_stops'])} |",
        f"| of which out-of-grammar sentences | {pct(fs['out_of_grammar']['false_stops'], fs['out_of_grammar']['n'])} "
        "| <= 2% | |",
        f"| latency, end of the first stop word -> decision (audio) | p50 {lat.get('p50')} ms, "
        f"p99 {lat.get('p99')} ms, max {lat.get('max')} ms | | |",
        f"| network + features per 50 ms hop (one thread), wall | p50 {comp['p50']} ms, p99 {comp['p99']} ms | "
        f"< 5 ms | {ok(comp['p99'] < 5)} |",
        f"| the same, this process's CPU time | p50 {comp['cpu']['p50']} ms, p99 {comp['cpu']['p99']} ms | < 5 ms | "
        f"{ok(comp['cpu']['p99'] < 5)} |",
        f"| latency incl. compute | p50 {total_p50:.0f} ms, p99 {total_p99:.0f} ms | < 300 ms | "
        f"{ok(total_p99 < GOALS['latency_ms'])} |",
        "",
        "Latency is the time of the deciding look (the end of its last feature frame) minus the end of the first stop "
        "word, from espeak-ng's phoneme events; audio arriving in chunks longer than a hop adds up to one chunk. "
        f"Decided before the stop word even began (a false stop on the words before it; not counted as obeyed, the "
        f"next decision from the stop word on is): {lat['decided_before_the_stop_word_began']}.",
        "",
        "| said | obeyed | 95% interval | latency p50 / p99 ms |",
        "|---|---|---|---|",
        *(
            f"| {form} | {f['obeyed']} / {f['n']} ({f['rate']:.1%}) | {f['wilson95'][0]:.1%} - "
            f"{f['wilson95'][1]:.1%} | {f['latency_ms'].get('p50')} / {f['latency_ms'].get('p99')} |"
            for form, f in s["forms"].items()
        ),
        "",
        "| condition | obeyed |",
        "|---|---|",
        *(f"| {k} | {v['obeyed']} / {v['n']} |" for k, v in {**s["by_snr"], **s["by_voice"]}.items()),
        "",
        "| other speech | utterances (sentences) | false stops | 95% interval |",
        "|---|---|---|---|",
        *(
            f"| {name} | {g['n']} ({g['sentences']}) | {g['false_stops']} ({g['rate']:.1%}) | "
            f"{g['wilson95'][0]:.1%} - {g['wilson95'][1]:.1%} |"
            for name, g in fs["groups"].items()
        ),
        "",
        "## Recall vs false stops over thresholds",
        "",
        "What each point of recall costs: lowering the threshold (or requiring fewer looks in a row) buys stops heard "
        "with false stops on other speech. Same audio as above; only the decision rule changes. "
        + trade_off(s["curve"][str(cfg["consecutive"])], cfg["threshold"]),
        "",
        "| looks in a row | threshold | obeyed | worst form | false stops per utterance | latency p50 / p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for kk, rows in s["curve"].items():
        for c in rows:
            mark = " **(shipped)**" if int(kk) == cfg["consecutive"] and c["threshold"] == cfg["threshold"] else ""
            lines.append(
                f"| {kk} | {c['threshold']:.2f}{mark} | {c['obeyed'] / c['n']:.2%} | {c['worst_form']!r} "
                f"{c['worst_form_rate']:.1%} | {c['false_stops']} / {c['n_other']} "
                f"({c['false_stops'] / c['n_other']:.2%}) | {c['latency_ms_p50']} / {c['latency_ms_p99']} |"
            )
    lines += [
        "",
        "## Missed stops",
        "",
        *(f"- {m}" for f in s["forms"].values() for m in f["missed"]),
        "",
        "## False stops",
        "",
        *(f"- {e}" for g in fs["groups"].values() for e in g["examples"]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--quick", action="store_true", help="a third of the forms, 2 voices, 1 speed (a smoke run)")
    parser.add_argument("--name", default="stop", help="results/<name>.{json,md}")
    parser.add_argument("--threshold", type=float, default=None, help="instead of the model's own (exploration only)")
    parser.add_argument("--consecutive", type=int, default=None, help="instead of the model's own (exploration only)")
    parser.add_argument("--dump", default="", help="also pickle every utterance's P per hop here")
    parser.add_argument("--from-dump", default="", help="re-score a --dump instead of hearing everything again")
    parser.add_argument("--out-dir", default=str(RESULTS), help="where the results go (default benchmarks/results)")
    parser.add_argument("--data", default=str(DATA), help="folder with stop_forms.txt and speech_bench_lists.json "
                        "(benchmarks/stop_data/fresh: wordings written after the threshold was chosen)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    overrides = {k: v for k, v in (("threshold", args.threshold), ("consecutive", args.consecutive)) if v is not None}
    if args.from_dump:  # re-score saved probabilities (e.g. another decision rule) without hearing anything again
        saved = pickle.loads(Path(args.from_dump).read_bytes())
        summary = plain(summarise(StopSpotter.load(saved[3], **overrides).cfg, *saved))
    else:
        summary = plain(run(args.model, args.quick, args.dump, overrides, Path(args.data)))
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    summary["command"] = "python benchmarks/stop_bench.py " + " ".join(sys.argv[1:])
    md = markdown(summary)
    write_results(args.name, summary, md, Path(args.out_dir))
    print(md)


if __name__ == "__main__":
    main()
