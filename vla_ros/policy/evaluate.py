"""Evaluate a policy per verb on any seeds: `python -m vla_ros.policy.evaluate --checkpoint DIR --seeds A:B
--grounder real|oracle|model --json OUT.json [--video OUT.mp4]`.

Every verb gets the seeds A..B-1 (its command drawn by the sim's own sampler on that seed), so verbs are
balanced and any episode can be replayed alone. `--policy expert|random` scores the scripted expert
(privileged state) or uniform random actions instead of a checkpoint. With `--grounder real` the real
grounder runs on rendered RGB-D frames in the loop; the video then shows its overlay. Episodes are split
over `--workers` processes; the JSON gives, per verb: episodes, successes, rate, 95% interval, seeds and
failure reasons, and every episode's outcome.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vla_ros.policy.rollout import EpisodeOutcome, score


def parse_seeds(text: str) -> list[int]:
    """The --seeds argument "A:B" as the list A..B-1."""
    a, _, b = text.partition(":")
    lo, hi = int(a), int(b)
    if hi <= lo:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: need A:B with B > A")
    return list(range(lo, hi))


def _worker(job: dict) -> tuple[list[dict], list]:
    import torch

    torch.set_num_threads(1)
    from vla_ros.policy.perception import PerceptionModelParams
    from vla_ros.policy.policy_env import PolicyEnv
    from vla_ros.policy.rollout import expert_act_fn, policy_act_fn, random_act_fn, run_episode, verb_commands
    from vla_ros.policy.timing import TimingRange

    perception = PerceptionModelParams()
    act = None
    if job["policy"] == "checkpoint":
        from vla_ros.policy.checkpoint import load_checkpoint, robot_contract

        policy, contract = load_checkpoint(Path(job["checkpoint"]), expected=robot_contract())
        perception = PerceptionModelParams.from_json(contract.perception_model)
        act = policy_act_fn(policy)
    timing = None
    if job.get("timing"):
        timing = TimingRange(*(tuple(r) for r in job["timing"]))
    env = PolicyEnv(job["grounder"], perception, min_objects=job["min_objects"], max_objects=job["max_objects"],
                    max_episode_steps=job["max_steps"], image_size=job["image_size"], ablate=job.get("ablate", ""),
                    timing=timing)
    if job["policy"] == "expert":
        act = expert_act_fn(env)
    elif job["policy"] == "random":
        act = random_act_fn(job["worker"])
    frames: list = []
    outcomes = []
    for verb, seed in job["episodes"]:
        record = len(frames) < job["video_frames"]
        hook = (lambda e: frames.append(video_frame(e))) if record else None
        o = run_episode(env, act, seed, verb_commands(env, verb, seed), on_step=hook)
        outcomes.append(asdict(o))
        if record:
            frames.extend([outcome_frame(frames[-1], o)] * 15)
    env.close()
    return outcomes, frames


def video_frame(env) -> np.ndarray:
    """Camera view (with the grounder's overlay when it ran) beside a side view of the arm, instruction on top."""
    import cv2

    from vla_ros.grounding.overlay import draw_overlay

    size = 224
    if env.real is not None and env.real.last_result is not None:
        cam = draw_overlay(env.real.last_rgb, env.real.last_result)
    else:
        cam = env.env.render_rgb("front", size)
    cam = cv2.resize(cam, (size, size))
    side = cv2.resize(env.env.render_rgb("wrist", size), (size, size))
    frame = np.concatenate([cam, side], axis=1)
    bar = np.zeros((32, frame.shape[1], 3), np.uint8)
    cv2.putText(bar, env.info["instruction"], (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    t = env.tracker.fix()
    status = f"step {env.env.steps}  fix age {t.age_s:.2f}s" + ("" if t.position is not None else "  no fix")
    cv2.putText(bar, status, (frame.shape[1] - 200, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (180, 180, 180), 1,
                cv2.LINE_AA)
    return np.concatenate([bar, frame], axis=0)


def outcome_frame(last: np.ndarray, o: EpisodeOutcome) -> np.ndarray:
    """The episode's last video frame with its outcome (success or the failure reason) written at the bottom."""
    import cv2

    out = last.copy()
    color = (40, 220, 40) if o.success else (230, 60, 40)
    text = "SUCCESS" if o.success else f"FAILED: {o.reason}"[:60]
    cv2.rectangle(out, (0, out.shape[0] - 30), (out.shape[1], out.shape[0]), (0, 0, 0), -1)
    cv2.putText(out, text, (6, out.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.55, color, 1, cv2.LINE_AA)
    return out


def evaluate(policy: str, checkpoint: str | None, seeds: list[int], verbs: list[str], grounder: str, min_objects: int,
             max_objects: int, workers: int = 2, video_frames: int = 0, max_steps: int = 150,
             image_size: int = 224, ablate: str = "", timing: tuple | None = None) -> dict:
    """Run every verb on every seed over `workers` processes; per-verb scores, every episode and video frames.
    `timing` ((fix latency lo, hi), (action delay lo, hi)) in control steps; None: the library loop's own."""
    episodes = [(v, s) for s in seeds for v in verbs]
    chunks = [episodes[i::workers] for i in range(workers)]
    jobs = [{"policy": policy, "checkpoint": checkpoint, "grounder": grounder, "min_objects": min_objects,
             "max_objects": max_objects, "max_steps": max_steps, "image_size": image_size, "episodes": c,
             "worker": i, "ablate": ablate, "timing": timing, "video_frames": video_frames if i == 0 else 0}
            for i, c in enumerate(chunks) if c]
    t0 = time.monotonic()
    if len(jobs) == 1:
        parts = [_worker(jobs[0])]
    else:
        with ProcessPoolExecutor(len(jobs)) as pool:
            parts = list(pool.map(_worker, jobs))
    outcomes = [EpisodeOutcome(**o) for p in parts for o in p[0]]
    outcomes.sort(key=lambda o: (o.verb, o.seed))
    result = {
        "policy": policy, "checkpoint": checkpoint, "grounder": grounder, "seeds": [seeds[0], seeds[-1] + 1],
        "min_objects": min_objects, "max_objects": max_objects, "max_episode_steps": max_steps, "ablate": ablate,
        "wall_s": round(time.monotonic() - t0, 1),
        "verbs": {k: v.as_dict() for k, v in score(outcomes).items()},
        "episodes": [asdict(o) for o in outcomes],
    }
    result["frames"] = [f for p in parts for f in p[1]]
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line of the module docstring: evaluate, print per-verb rates, write the JSON and the video."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="", help="policy directory (default: the shipped models/policy)")
    ap.add_argument("--policy", choices=("checkpoint", "expert", "random"), default="checkpoint")
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("1000000:1000200"),
                    help="A:B, every verb on each (evaluation seeds start at 1,000,000)")
    ap.add_argument("--verbs", default="", help="comma-separated (default: every verb of the vocabulary)")
    ap.add_argument("--grounder", choices=("real", "oracle", "model"), default="real")
    ap.add_argument("--min-objects", type=int, default=2)
    ap.add_argument("--max-objects", type=int, default=4)
    ap.add_argument("--max-steps", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--video", type=Path, default=None, help="MP4 of the first episodes (camera view + overlay)")
    ap.add_argument("--video-frames", type=int, default=600)
    ap.add_argument("--fix-latency-steps", default="", help="N or LO:HI control steps per episode (default: the "
                    "perception model's); with --action-delay-steps, the node graph's timing (timing.py)")
    ap.add_argument("--action-delay-steps", default="0", help="N or LO:HI control steps per episode")
    args = ap.parse_args(argv)
    from vla_ros.paths import models_dir
    from vla_ros.vocabulary import load_vocabulary

    checkpoint = args.checkpoint or str(models_dir() / "policy") if args.policy == "checkpoint" else None
    verbs = [v for v in args.verbs.split(",") if v] or list(load_vocabulary().verb_names)
    timing = None
    if args.fix_latency_steps or args.action_delay_steps != "0":
        from vla_ros.policy.timing import TimingRange

        t = TimingRange.parse(args.fix_latency_steps or "1", args.action_delay_steps)
        timing = (t.fix_latency_steps, t.action_delay_steps)
    result = evaluate(args.policy, checkpoint, args.seeds, verbs, args.grounder, args.min_objects, args.max_objects,
                      args.workers, args.video_frames if args.video else 0, args.max_steps, timing=timing)
    frames = result.pop("frames")
    for verb, s in result["verbs"].items():
        print(f"{verb:>6}: {s['successes']}/{s['episodes']} = {s['success_rate']:.3f} "
              f"(95% CI {s['ci95'][0]:.3f}-{s['ci95'][1]:.3f}) failures {s['failures']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.video and frames:
        import imageio.v3 as iio

        args.video.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(args.video, np.stack(frames), fps=20, codec="libx264")
        print(f"[evaluate] video: {args.video} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
