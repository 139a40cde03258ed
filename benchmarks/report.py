"""What every benchmark writes: `<name>.json` + `<name>.md` under benchmarks/results, and the machine it ran on."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from vla_ros.stats import percentiles, wilson95

RESULTS = Path(__file__).resolve().parent / "results"

__all__ = ["RESULTS", "machine", "percentiles", "wilson95", "write_results"]


def machine() -> str:
    """Architecture, CPU count and 1-min load average now: other work on the cores changes every timing."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min)"


def write_results(name: str, data: dict, markdown: str, out_dir: Path = RESULTS) -> tuple[Path, Path]:
    """Write `<out_dir>/<name>.json` (the numbers) and `<out_dir>/<name>.md` (the table a reader sees)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=1) + "\n")
    md_path.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    return json_path, md_path
