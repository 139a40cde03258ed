"""Model id or directory -> what `from_pretrained` needs, and errors that say what to do.

A robot with internet passes a hub id (CIDAS/clipseg-rd64-refined); this machine and CI use the shipped
offline model directory. Both load through the same `from_pretrained` call.
"""
from __future__ import annotations

import os
from pathlib import Path

from vla_ros.paths import models_dir

DEFAULT_MODEL = "clipseg-sim"  # models/grounding/clipseg-sim, trained by vla_ros.grounding.train
TRAIN_HINT = "train it with `python -m vla_ros.grounding.train --data DIR --out models/grounding/clipseg-sim`"
HUB_HINT = ("or pass model:=CIDAS/clipseg-rd64-refined (clipseg) / openai/clip-vit-base-patch32 (clip) "
            "on a machine with internet")


def default_model_dir() -> Path:
    """Where the shipped offline grounding model lives (models/grounding/clipseg-sim)."""
    return models_dir() / "grounding" / DEFAULT_MODEL


def resolve(model: str) -> tuple[str, bool]:
    """(id_or_dir, local_files_only). Empty or "clipseg-sim" means the shipped model; paths must exist."""
    if not model or model == DEFAULT_MODEL:
        path = default_model_dir()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"shipped grounding model {path} not found; {TRAIN_HINT} {HUB_HINT}")
        return str(path), True
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model dir {path} has no config.json (not a saved model); {TRAIN_HINT} {HUB_HINT}")
        return str(path), True
    if model.startswith(("/", ".", "~")) or path.exists() or model.count("/") > 1:
        raise FileNotFoundError(f"model dir {path} not found; {TRAIN_HINT} {HUB_HINT}")
    return model, os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


def load_error(model: str, local_only: bool, exc: Exception) -> RuntimeError:
    """A loading failure turned into one sentence naming the model and the way out."""
    if Path(model).is_dir():
        where = "local directory"
    else:
        where = "hub id (offline: HF_HUB_OFFLINE)" if local_only else "hub id"
    return RuntimeError(
        f"could not load grounding model {model!r} ({where}): {type(exc).__name__}: {' '.join(str(exc).split())} "
        f"Use the shipped offline model (model:={DEFAULT_MODEL}; {TRAIN_HINT}) {HUB_HINT}"
    )
