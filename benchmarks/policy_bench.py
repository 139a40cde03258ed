"""Policy success and speed: `python benchmarks/policy_bench.py [--quick] [--episodes N] [--only PREFIXES]`.

Success per verb on evaluation seeds (>= 1,000,000, never used in training or for any choice) with the real
grounder in the loop, for the shipped policy (BC + PPO, the run's best validation snapshot) beside the behaviour
clone it started from (BC only), BC + PPO on the sim's own per-step reward and PPO from scratch (earlier runs), the
scripted expert (privileged state) and uniform random actions; the shipped policy also with exact object positions
(what perception costs), with the fitted perception model, with ablated language inputs and on crowded scenes
(5-6 objects). The node graph's timing (fixes 3 control steps late, actions 1 or 2 steps late: timing.py) for
shipped, BC only and the expert, with the fitted perception model. 95% Wilson intervals. Speed: the policy's forward
pass and a whole observation -> action step on one CPU thread, p50/p99. Training: wall time and steps to 90%
validation pick success, from the shipped contract. `--only` reruns the named rows and keeps the others from the
existing results. Writes benchmarks/results/policy.{json,md} and policy_success.png (the shipped run's curve).
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sim")]  # run from a checkout without installing

from vla_ros.policy.checkpoint import load_checkpoint, robot_contract  # noqa: E402
from vla_ros.policy.evaluate import evaluate  # noqa: E402
from vla_ros.policy.modeling_vla import actor_mean  # noqa: E402
from vla_ros.vocabulary import load_vocabulary  # noqa: E402

SHIPPED = ROOT / "models" / "policy"
BASELINES = ROOT / "benchmarks" / "checkpoints"
RESULTS = ROOT / "benchmarks" / "results"
SEEDS = 1_000_000
CROWDED_SEEDS = 1_100_000
SHIPPED_ROW = "shipped: BC + PPO (650k PPO steps with actions 2 steps late; best validation snapshot)"
BC_ROW = "BC only: the behaviour clone PPO starts from"
# The node graph's timing (vla_ros/policy/timing.py): fixes 3 control steps after their frame, actions 1 step late
# (what the DDS graph measured) or 2 (a slower controller). Fitted perception model: the timing is what varies.
GRAPH_TIMINGS = {"graph timing": ((3, 3), (1, 1)), "slow arm": ((3, 3), (2, 2))}


def conditions(n: int, n_crowded: int, n_scratch: int) -> list[dict]:
    std = {"seeds": list(range(SEEDS, SEEDS + n)), "min_objects": 2, "max_objects": 4}
    rows = [
        {"name": SHIPPED_ROW, "policy": "checkpoint", "checkpoint": SHIPPED, "grounder": "real", **std},
        {"name": BC_ROW, "policy": "checkpoint", "checkpoint": BASELINES / "bc_only", "grounder": "real", **std},
        {"name": "BC + PPO on the sim's per-step reward (earlier run, 1800 s)", "policy": "checkpoint",
         "checkpoint": BASELINES / "bc_ppo_sim_reward", "grounder": "real", **std},
        {"name": "PPO from scratch (sim's per-step reward, earlier run)", "policy": "checkpoint",
         "checkpoint": BASELINES / "ppo_scratch",
         "grounder": "real", **{**std, "seeds": list(range(SEEDS, SEEDS + n_scratch))}},
        {"name": "scripted expert (privileged state)", "policy": "expert", "checkpoint": None, "grounder": "oracle",
         **std},
        {"name": "random actions", "policy": "random", "checkpoint": None, "grounder": "oracle", **std},
        {"name": "shipped, exact object positions", "policy": "checkpoint", "checkpoint": SHIPPED, "grounder": "oracle",
         **std},
        {"name": "shipped, perception model (the training distribution)", "policy": "checkpoint", "checkpoint": SHIPPED,
         "grounder": "model", **std},
        {"name": "ablation: text embedding of another command", "policy": "checkpoint", "checkpoint": SHIPPED,
         "grounder": "model", "ablate": "text", **std},
        {"name": "ablation: verb/direction ids of another command", "policy": "checkpoint", "checkpoint": SHIPPED,
         "grounder": "model", "ablate": "command_ids", **std},
        {"name": "shipped, crowded (5-6 objects)", "policy": "checkpoint", "checkpoint": SHIPPED, "grounder": "real",
         "seeds": list(range(CROWDED_SEEDS, CROWDED_SEEDS + n_crowded)), "min_objects": 5, "max_objects": 6},
    ]
    for label, timing in GRAPH_TIMINGS.items():
        (lat, _), (delay, _) = timing
        what = f"{label}: fixes {lat} steps late, actions {delay} late"
        rows += [
            {"name": f"{what}; shipped", "policy": "checkpoint", "checkpoint": SHIPPED, "grounder": "model",
             "timing": timing, **std},
            {"name": f"{what}; BC only", "policy": "checkpoint", "checkpoint": BASELINES / "bc_only",
             "grounder": "model", "timing": timing, **std},
            {"name": f"{what}; scripted expert", "policy": "expert", "checkpoint": None, "grounder": "oracle",
             "timing": timing, **std},
        ]
        if label == "slow arm":  # the shipped PPO stage's own env, without demonstrations, same wall time
            rows.append({"name": f"{what}; PPO from scratch in this env (same wall time)", "policy": "checkpoint",
                         "checkpoint": BASELINES / "ppo_scratch_lag", "grounder": "model", "timing": timing, **std})
    return rows


def latency(checkpoint: Path, calls: int) -> dict:
    """Forward pass alone and observation build + forward, batch 1, one thread."""
    from vla_ros.policy.perception import PerceptionModelParams
    from vla_ros.policy.policy_env import PolicyEnv

    torch.set_num_threads(1)
    policy, contract = load_checkpoint(checkpoint, expected=robot_contract())
    env = PolicyEnv("model", PerceptionModelParams.from_json(contract.perception_model))
    obs, _ = env.reset(seed=SEEDS)
    x = torch.as_tensor(obs)[None]
    with torch.no_grad():
        for _ in range(50):
            actor_mean(policy, x)
        fwd = []
        for _ in range(calls):
            t = time.perf_counter()
            actor_mean(policy, x)
            fwd.append(time.perf_counter() - t)
        step = []
        for _ in range(calls):
            t = time.perf_counter()
            o = env._obs()
            a = actor_mean(policy, torch.as_tensor(o)[None])[0].numpy()
            np.clip(a, -1, 1)
            step.append(time.perf_counter() - t)
    env.close()
    tick = controller_ticks(checkpoint, calls)

    def stats(xs: list[float]) -> dict:
        ms = np.array(xs) * 1000
        return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
                "mean_ms": round(float(ms.mean()), 3), "calls": len(xs)}

    params = sum(p.numel() for p in policy.parameters())
    return {"forward": stats(fwd), "observation_and_forward": stats(step), "controller_tick": stats(tick),
            "parameters": params, "threads": 1}


def controller_ticks(checkpoint: Path, calls: int) -> list[float]:
    """The policy node's whole control tick (`PolicyController.tick`: tracker, FK, observation, forward, IK,
    limits, done rules) on a sim episode, driven as the node drives it; the grounder's fixes are exact."""
    from vla_ros.policy.controller import ControllerConfig, PolicyController, load_policy, policy_act_fn
    from vla_ros.policy.language import TextEncoder
    from vla_sim.ee_control import ArmKinematics
    from vla_sim.env import TabletopEnv
    from vla_sim.scene import ARM_JOINT_NAMES, FINGER_JOINT_NAMES

    policy, contract = load_policy(checkpoint, 20.0)
    env = TabletopEnv(obs_images=False)
    arm = ArmKinematics.from_scene(env.scene)
    eye = np.eye(3)
    c = PolicyController(ControllerConfig(camera_position=(0.0, 0.0, 0.0), camera_rotation=eye),
                         policy_act_fn(policy), contract.observation_layout(), TextEncoder("").embed, arm)
    times: list[float] = []
    seed = SEEDS
    while len(times) < calls:
        _, info = env.reset(seed=seed)
        seed += 1
        c.on_command(info["instruction"], 0.0)
        for k in range(150):
            now = k / 20.0
            c.on_joint_state(ARM_JOINT_NAMES + FINGER_JOINT_NAMES, env.joint_positions(), env.joint_velocities(),
                             now, now)
            target = info["objects"][info["target_id"] - 1]["pos"]
            c.on_target(target, now)
            c.on_grounding_status({"status": "found", "command": info["instruction"], "stamp": now, "score": 0.9},
                                  now)
            t = time.perf_counter()
            d = c.tick(now)
            times.append(time.perf_counter() - t)
            if d.publish:
                env.set_joint_targets(d.joint_targets, d.gripper_opening)
            _, _, term, trunc, info = env.step(np.zeros(8, dtype=np.float32))
            if d.state in ("done", "stopped") or term or trunc:
                break
    env.close()
    return times[:calls]


def training_summary(checkpoint: Path) -> dict:
    contract = json.loads((checkpoint / "contract.json").read_text())
    t = contract["training"]
    history = t.get("validation_history", [])
    first90 = next((r for r in history if r.get("pick", 0) >= 0.9), None)
    return {"command": t.get("command"), "steps": t.get("steps"), "wall_s": t.get("wall_s"),
            "demonstrations": t.get("demonstrations"), "bc": t.get("bc"),
            "first_validation_pick_90": first90, "validation_history": history,
            "wall_s_before_ppo": t.get("wall_s_before_ppo")}


def write_md(report: dict, path: Path) -> None:
    verbs = list(load_vocabulary().verb_names)
    lines = ["# Policy benchmark", "", f"`{report['command']}` on {report['machine']}; "
             f"{report['episodes_per_verb']} episodes per verb on seeds "
             f"{SEEDS}..{SEEDS + report['episodes_per_verb'] - 1} "
             f"(crowded: {report['crowded_episodes_per_verb']} per verb from seed {CROWDED_SEEDS}); "
             "every verb on every seed; success with a 95% Wilson interval.", "",
             "| condition | grounder | objects | " + " | ".join(verbs) + " | all | wall s |",
             "|---|---|---|" + "---|" * (len(verbs) + 2)]
    for c in report["conditions"]:
        cells = []
        for v in verbs + ["all"]:
            s = c["verbs"].get(v)
            cells.append(f"{s['success_rate'] * 100:.1f}% ({s['successes']}/{s['episodes']}, "
                         f"{s['ci95'][0] * 100:.0f}-{s['ci95'][1] * 100:.0f})" if s else "-")
        lines.append(f"| {c['name']} | {c['grounder']} | {c['min_objects']}-{c['max_objects']} | " + " | ".join(cells)
                     + f" | {c['wall_s']} |")
    lines += ["", "Failure reasons (episodes):", ""]
    for c in report["conditions"]:
        f = {v: s["failures"] for v, s in c["verbs"].items() if v != "all" and s["failures"]}
        lines.append(f"- {c['name']}: {json.dumps(f) if f else 'none'}")
    lat = report.get("latency")
    if lat:
        lines += ["", f"Latency, batch 1, {lat['threads']} CPU thread, {lat['parameters']} parameters: forward "
                  f"p50 {lat['forward']['p50_ms']} ms / p99 {lat['forward']['p99_ms']} ms; observation + forward "
                  f"p50 {lat['observation_and_forward']['p50_ms']} ms / "
                  f"p99 {lat['observation_and_forward']['p99_ms']} ms "
                  f"; the policy node's whole control tick (`PolicyController.tick`) p50 "
                  f"{lat['controller_tick']['p50_ms']} ms / p99 {lat['controller_tick']['p99_ms']} ms "
                  f"({lat['forward']['calls']} calls each)."]
    tr = report.get("training")
    if tr:
        f90 = tr.get("first_validation_pick_90")
        before = sum((tr.get(k) or {}).get("wall_s", 0.0) for k in ("demonstrations", "bc"))
        lines += ["", f"Training (`{tr['command']}`, 2 cores): demonstrations + behaviour cloning {before:.0f} s, then "
                  f"PPO; the shipped checkpoint is the best validation one, at {tr['steps']:.0f} PPO steps and "
                  f"{tr['wall_s']} s of PPO wall time ({before + tr['wall_s']:.0f} s in all). First validation with "
                  "pick >= 90% (the run's own validation timing): " + (
                      f"{f90['steps']:.0f} PPO steps, {before + f90['wall_s']:.0f} s in all." if f90 else "never."),
                  "", "![success per verb against steps and wall time](policy_success.png)"]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 episodes per verb")
    ap.add_argument("--episodes", type=int, default=200, help="per verb")
    ap.add_argument("--crowded-episodes", type=int, default=200, help="per verb")
    ap.add_argument("--scratch-episodes", type=int, default=200, help="per verb, PPO from scratch (its failures run "
                    "to the time limit: the slowest condition)")
    ap.add_argument("--only", default="", help="condition-name prefixes to run, separated by |")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "policy.json")
    args = ap.parse_args(argv)
    n = 10 if args.quick else args.episodes
    nc = 10 if args.quick else args.crowded_episodes
    verbs = list(load_vocabulary().verb_names)
    report = {"command": "python benchmarks/policy_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": f"{platform.machine()}, {torch.get_num_threads()} threads available, "
                         f"torch {torch.__version__}",
              "episodes_per_verb": n, "crowded_episodes_per_verb": nc, "conditions": []}
    old = json.loads(args.out.read_text()) if args.out.is_file() and args.only else None
    for c in conditions(n, nc, 10 if args.quick else args.scratch_episodes):
        if args.only and not any(c["name"].startswith(p) for p in args.only.split("|")):
            prev = next((p for p in (old or {}).get("conditions", []) if p["name"] == c["name"]), None)
            if prev:
                report["conditions"].append(prev)
            continue
        if c["checkpoint"] is not None and not (Path(c["checkpoint"]) / "policy.pt").is_file():
            print(f"[policy_bench] skipping {c['name']}: no checkpoint at {c['checkpoint']}", flush=True)
            continue
        print(f"[policy_bench] {c['name']} ...", flush=True)
        r = evaluate(c["policy"], str(c["checkpoint"]) if c["checkpoint"] else None, c["seeds"], verbs,
                     c["grounder"], c["min_objects"], c["max_objects"], workers=args.workers,
                     ablate=c.get("ablate", ""), timing=c.get("timing"))
        r.pop("frames")
        r["checkpoint"] = str(Path(c["checkpoint"]).relative_to(ROOT)) if c["checkpoint"] else None
        report["conditions"].append({"name": c["name"], **r})
        print("  " + ", ".join(f"{v} {s['success_rate']:.3f}" for v, s in r["verbs"].items()), flush=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if (SHIPPED / "policy.pt").is_file():
        report["latency"] = latency(SHIPPED, 2000)
        report["training"] = training_summary(SHIPPED)
        if (SHIPPED / "success.png").is_file():
            shutil.copy(SHIPPED / "success.png", RESULTS / "policy_success.png")
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    write_md(report, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
