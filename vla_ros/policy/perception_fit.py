"""Fit the policy's perception model to the real grounder: `python -m vla_ros.policy.perception_fit`.

Runs the scripted expert (so the hand goes where the policy's hand will go: above, at and lifting the object)
and, on every grounder update, renders the front RGB-D camera, runs the real `Grounder` on the target's
phrase and compares its 3-D point (deprojected into the base frame) with the object's true centre. Splits
frames into "far" (hand away) and "near" (hand at the object, where it hides it), and writes found rate,
mean error (the grounder's systematic offset: it sees the visible surface, not the centre), error spread,
score and bbox statistics, and miss streaks as JSON (`PerceptionModelParams`).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vla_ros.policy.perception import ErrorBin, PerceptionModelParams, is_near

DEFAULT_OUT = Path("models/policy/perception_model.json")


def fit(episodes: int, seed0: int, image_size: int, grounding_model: str = "") -> tuple[PerceptionModelParams, dict]:
    """Run the expert for `episodes` scenes from seed `seed0`, grounding on every update; the fitted parameters
    and a report of the raw statistics."""
    from vla_ros.policy.policy_env import RealGrounderSource
    from vla_sim.env import TabletopEnv
    from vla_sim.expert import ScriptedExpert

    base = PerceptionModelParams()
    env = TabletopEnv(obs_images=False, action_mode="ee_delta", image_size=image_size)
    expert = ScriptedExpert(env)
    source = RealGrounderSource(env, grounding_model, image_size, base)
    rows: dict[str, list] = {"far": [], "near": []}
    streaks: list[int] = []
    transitions: list[tuple[bool, bool]] = []
    for k in tqdm(range(episodes), desc="fitting perception model", unit="episode"):
        _, info = env.reset(seed=seed0 + k)
        expert.reset()
        source.reset(info["instruction"])
        streak, done, step, last_missed = 0, False, 0, None
        while not done:
            if step % base.update_period_steps == 0:
                target = info["objects"][info["target_id"] - 1]
                near = is_near(info["ee_pos"], target["pos"], target["half_height"], base)
                fix = source.ground()
                err = None if fix.position is None else (fix.position - target["pos"]).tolist()
                rows["near" if near else "far"].append((err, fix.score, fix.bbox_wh))
                if last_missed is not None:
                    transitions.append((last_missed, fix.position is None))
                last_missed = fix.position is None
                if fix.position is None:
                    streak += 1
                elif streak:
                    streaks.append(streak)
                    streak = 0
            _, _, term, trunc, info = env.step(expert.act(info))
            done, step = term or trunc, step + 1
        if streak:
            streaks.append(streak)
    bins = {}
    for name, r in rows.items():
        errs = np.array([e for e, _, _ in r if e is not None]).reshape(-1, 3)
        found = len(errs) / max(1, len(r))
        bias = errs.mean(0) if len(errs) else np.zeros(3)
        std = errs.std(0) if len(errs) > 1 else np.full(3, 0.005)
        bins[name] = ErrorBin(round(found, 4), tuple(round(float(v), 5) for v in bias),
                              tuple(round(float(v), 5) for v in std), len(r))
    found_rows = [(s, wh) for r in rows.values() for e, s, wh in r if e is not None]
    scores = np.array([s for s, _ in found_rows])
    wh = np.array([w for _, w in found_rows]).reshape(-1, 2)
    after_miss = [now for before, now in transitions if before]
    miss_after_miss = round(float(np.mean(after_miss)), 4) if after_miss else base.miss_after_miss
    params = replace(base, miss_after_miss=miss_after_miss, far=bins["far"], near=bins["near"],
                     score_mean=round(float(scores.mean()), 4), score_std=round(float(scores.std()), 4),
                     bbox_wh=tuple(round(float(v), 4) for v in wh.mean(0)), bbox_std=round(float(wh.std(0).mean()), 4),
                     source={"command": " ".join(["python -m vla_ros.policy.perception_fit", *sys.argv[1:]]),
                             "episodes": episodes, "seeds": [seed0, seed0 + episodes - 1], "image_size": image_size,
                             "grounder": source.grounder.model_path.split("/")[-1],
                             "expert": "ScriptedExpert ee_delta"})
    all_errs = {n: np.array([e for e, _, _ in r if e is not None]).reshape(-1, 3) for n, r in rows.items()}
    report = {
        "frames": {n: len(r) for n, r in rows.items()},
        "found_rate": {n: b.found_rate for n, b in bins.items()},
        "xy_error_around_bias_mm": {n: _xy_spread_mm(e) for n, e in all_errs.items() if len(e)},
        "miss_streaks_updates": {"count": len(streaks), "max": max(streaks, default=0),
                                 "p95": float(np.percentile(streaks, 95)) if streaks else 0.0},
    }
    return params, report


def _xy_spread_mm(errors: np.ndarray) -> dict[str, float]:
    """Median and 95th percentile of the horizontal distance of `errors` (n, 3) from their mean, in mm."""
    distance = np.linalg.norm((errors - errors.mean(0))[:, :2], axis=1)
    return {"p50": round(1000 * float(np.median(distance)), 2),
            "p95": round(1000 * float(np.percentile(distance, 95)), 2)}


def main(argv: list[str] | None = None) -> int:
    """Command line: fit, then write the perception model JSON (with the report in its `source`)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=800_000, help="first scene seed (training range, below 1,000,000)")
    ap.add_argument("--image-size", type=int, default=224, help="what the sim node publishes")
    ap.add_argument("--grounding-model", default="")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    params, report = fit(args.episodes, args.seed, args.image_size, args.grounding_model)
    params = replace(params, source={**params.source, "report": report})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    params.save(args.out)
    print(json.dumps(report, indent=2))
    print(f"[perception_fit] wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
