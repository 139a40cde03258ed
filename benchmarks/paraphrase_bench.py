"""Typed phrasings through the shared command parser: `python benchmarks/paraphrase_bench.py [--vocabulary PATH]`.

Two hand-written sets beside this file: paraphrase_understood.tsv (request frames, separable particles, relative
phrasing, punctuation and capitals over every verb, each with the canonical command it means) and
paraphrase_refused.tsv (unknown object, verb or direction words, negations, two objects, incomplete commands, each
with the command a refusal should suggest, if one is clearly closest). Reports the share understood correctly
(goal 100%), the share refused correctly (goal 100%), wrong commands over both sets (goal 0) and how the
suggestions went. Writes benchmarks/results/paraphrase.json and paraphrase.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # run from a checkout without installing

from vla_ros.vocabulary import Command, ParseError, Vocabulary, load_vocabulary  # noqa: E402

HERE = Path(__file__).resolve().parent
UNDERSTOOD_FILE = HERE / "paraphrase_understood.tsv"
REFUSED_FILE = HERE / "paraphrase_refused.tsv"
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Case:
    """One row of a phrasing set: its form or category, the typed text, and the command it means or suggests."""

    group: str  # the form (understood set) or the category (refused set)
    text: str
    expected: str | None  # the canonical command meant (understood) or suggested (refused); None: no suggestion


def read_cases(path: Path) -> list[Case]:
    """Tab-separated `group, text, command` rows; '#' lines are comments, '-' means no command."""
    cases = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"{path.name}:{n}: expected 3 tab-separated fields, got {len(fields)}")
        group, text, expected = fields
        cases.append(Case(group, text, None if expected.strip() == "-" else expected.strip()))
    return cases


def meaning(cmd: Command) -> tuple:
    return cmd.verb, cmd.color, cmd.shape, cmd.direction


def canonical(vocab: Vocabulary, text: str) -> Command:
    """The command a data row names; it must be written canonically, or the set itself is wrong."""
    cmd = vocab.parse(text)
    if not isinstance(cmd, Command) or vocab.render(cmd) != text:
        raise ValueError(f"{text!r} in the data set is not a canonical command (render gives "
                         f"{vocab.render(cmd) if isinstance(cmd, Command) else cmd.reason!r})")
    return cmd


def share(k: int, n: int) -> float:
    return round(100.0 * k / n, 1) if n else 0.0


def run_understood(vocab: Vocabulary, cases: list[Case]) -> dict:
    rows, by_form = [], Counter()
    for case in cases:
        want = canonical(vocab, case.expected)
        got = vocab.parse(case.text)
        outcome = ("refused" if isinstance(got, ParseError)
                   else "correct" if meaning(got) == meaning(want) else "wrong")
        rows.append({"form": case.group, "text": case.text, "expected": case.expected, "outcome": outcome,
                     "got": got.reason if isinstance(got, ParseError) else vocab.render(got)})
        by_form[case.group, outcome] += 1
    n, correct = len(rows), sum(r["outcome"] == "correct" for r in rows)
    forms = sorted({c.group for c in cases})
    return {"n": n, "correct": correct, "correct_pct": share(correct, n),
            "refused": sum(r["outcome"] == "refused" for r in rows),
            "wrong": sum(r["outcome"] == "wrong" for r in rows),
            "verbs": dict(sorted(Counter(canonical(vocab, c.expected).verb for c in cases).items())),
            "directions": dict(sorted(Counter(canonical(vocab, c.expected).direction for c in cases
                                              if canonical(vocab, c.expected).direction).items())),
            "by_form": {f: {"n": sum(v for (g, _), v in by_form.items() if g == f), "correct": by_form[f, "correct"]}
                        for f in forms},
            "failures": [r for r in rows if r["outcome"] != "correct"]}


def run_refused(vocab: Vocabulary, cases: list[Case]) -> dict:
    rows = []
    for case in cases:
        if case.expected is not None:
            canonical(vocab, case.expected)
        got = vocab.parse(case.text)
        refused = isinstance(got, ParseError)
        rows.append({"category": case.group, "text": case.text, "refused": refused,
                     "kind": got.kind if refused else None, "reason": got.reason if refused else None,
                     "got": None if refused else vocab.render(got),
                     "suggestion": got.suggestion if refused else None, "expected_suggestion": case.expected})
    n, correct = len(rows), sum(r["refused"] for r in rows)
    expected = [r for r in rows if r["expected_suggestion"]]
    offered = [r for r in rows if r["suggestion"]]
    categories = sorted({c.group for c in cases})
    return {"n": n, "correct": correct, "correct_pct": share(correct, n), "wrong": n - correct,
            "by_category": {c: {"n": sum(r["category"] == c for r in rows),
                                "refused": sum(r["refused"] for r in rows if r["category"] == c),
                                "kinds": dict(Counter(r["kind"] for r in rows if r["category"] == c))}
                            for c in categories},
            "suggestions": {"expected": len(expected),
                            "as_expected": sum(r["suggestion"] == r["expected_suggestion"] for r in expected),
                            "missing": [r["text"] for r in expected if not r["suggestion"]],
                            "other_than_expected": [f"{r['text']!r} -> {r['suggestion']!r} "
                                                    f"(expected {r['expected_suggestion']!r})"
                                                    for r in offered if r["expected_suggestion"]
                                                    and r["suggestion"] != r["expected_suggestion"]],
                            "unexpected": [f"{r['text']!r} -> {r['suggestion']!r}" for r in offered
                                           if not r["expected_suggestion"]],
                            "examples": [f"{r['text']!r} -> {r['suggestion']!r}" for r in offered][:8]},
            "failures": [r for r in rows if not r["refused"]],
            "rows": rows}


def parse_time_us(vocab: Vocabulary, texts: list[str], repeats: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        for t in texts:
            vocab.parse(t)
    return round(1e6 * (time.perf_counter() - start) / (repeats * len(texts)), 1)


def report(result: dict) -> str:
    u, r = result["understood"], result["refused"]
    s = r["suggestions"]
    lines = [
        "# Paraphrase benchmark (typed commands through the shared parser)",
        "",
        f"`python benchmarks/paraphrase_bench.py` on {result['host']}; sets: `benchmarks/{UNDERSTOOD_FILE.name}`, "
        f"`benchmarks/{REFUSED_FILE.name}` (hand-written).",
        "",
        "| measure | result | goal |",
        "|---|---|---|",
        f"| understood correctly (in scope) | {u['correct']}/{u['n']} ({u['correct_pct']}%) | 100% |",
        f"| refused correctly (must refuse) | {r['correct']}/{r['n']} ({r['correct_pct']}%) | 100% |",
        f"| wrong commands (both sets) | {result['wrong_commands']} | 0 |",
        f"| in-scope phrasings refused | {u['refused']} | 0 |",
        f"| suggestions as expected | {s['as_expected']}/{s['expected']} | |",
        f"| suggestions where none was expected | {len(s['unexpected'])} | |",
        f"| parse time, mean | {result['parse_us_mean']} us | |",
        "",
        "Understood, by form: " + ", ".join(f"{f} {v['correct']}/{v['n']}" for f, v in u["by_form"].items())
        + ". Verbs: " + ", ".join(f"{k} {v}" for k, v in u["verbs"].items())
        + "; directions: " + ", ".join(f"{k} {v}" for k, v in u["directions"].items()) + ".",
        "",
        "Refused, by category (and the parser's reason kind):",
        "",
        *(f"- {c}: {v['refused']}/{v['n']} ({', '.join(f'{k} {n}' for k, n in sorted(v['kinds'].items(), key=str))})"
          for c, v in r["by_category"].items()),
        "",
        "Suggestions offered (never acted on), e.g.: " + "; ".join(s["examples"]) + ".",
    ]
    if s["missing"] or s["other_than_expected"] or s["unexpected"]:
        lines += ["", "Suggestions that differ from the set's expectation:", "",
                  *(f"- missing: {t!r}" for t in s["missing"]), *(f"- other: {t}" for t in s["other_than_expected"]),
                  *(f"- unexpected: {t}" for t in s["unexpected"])]
    failures = [f"- understood set, {f['form']}: {f['text']!r} -> {f['outcome']}: {f['got']!r} "
                f"(meant {f['expected']!r})"
                for f in u["failures"]]
    failures += [f"- refused set, {f['category']}: {f['text']!r} -> acted on as {f['got']!r}" for f in r["failures"]]
    lines += ["", "Failures:" if failures else "Failures: none.", *([""] + failures if failures else [])]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocabulary", default=None,
                    help="vocabulary YAML (default: the package's config/vocabulary.yaml)")
    ap.add_argument("--quick", action="store_true", help="accepted for scripts/bench.sh; the run is already quick")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    vocab = load_vocabulary(args.vocabulary)
    understood_cases, refused_cases = read_cases(UNDERSTOOD_FILE), read_cases(REFUSED_FILE)
    understood, refused = run_understood(vocab, understood_cases), run_refused(vocab, refused_cases)
    result = {"host": f"CPU, {platform.machine()} ({platform.python_implementation()} {platform.python_version()})",
              "understood": understood, "refused": refused,
              "wrong_commands": understood["wrong"] + refused["wrong"],
              "parse_us_mean": parse_time_us(vocab, [c.text for c in understood_cases + refused_cases])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "paraphrase.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "paraphrase.md").write_text(report(result))
    print(report(result))
    return 0 if understood["correct"] == understood["n"] and refused["correct"] == refused["n"] else 1


if __name__ == "__main__":
    sys.exit(main())
