"""Ship a trained run: `python -m vla_ros.policy.export --run runs/policy [--which best] --out models/policy`.

Copies the run's checkpoint (weights + contract) and success plot, and completes the contract's training
record from the run directory: the command, demonstration and BC statistics, and the whole validation
history (steps, wall time, success per verb), so the shipped directory says how it was made.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from vla_ros.policy.checkpoint import CONTRACT_FILE, WEIGHTS_FILE, read_contract


def export(run: Path, which: str, out: Path) -> Path:
    """Copy checkpoint `which` of training run `run` into `out`, its contract completed with the run's record."""
    src = run / which
    contract = read_contract(src)
    meta = json.loads((run / "meta.json").read_text()) if (run / "meta.json").is_file() else {}
    history = []
    if (run / "eval.csv").is_file():
        history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader((run / "eval.csv").open())]
    contract.training.update({**meta, "validation_history": history, "exported_from": f"{run.name}/{which}"})
    if (run / "command.txt").is_file():
        contract.training["command"] = (run / "command.txt").read_text().strip()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / WEIGHTS_FILE, out / WEIGHTS_FILE)
    from dataclasses import asdict

    (out / CONTRACT_FILE).write_text(json.dumps(asdict(contract), indent=2) + "\n")
    if (run / "success.png").is_file():
        shutil.copy(run / "success.png", out / "success.png")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line of the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--which", default="best", help="best, final or bc")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    print(f"[export] wrote {export(args.run, args.which, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
