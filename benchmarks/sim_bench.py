"""Sim benchmark: env speed against panda-gym in the same run, render cost, scripted-expert success.

    python benchmarks/sim_bench.py [--quick]

Writes benchmarks/results/sim.json, sim.md and sim_expert_strip.png (the expert solving each verb).
Speed numbers are steps/s of env.step with random actions and no images (the RL setting), measured
interleaved with panda-gym's PandaPickAndPlace-v3 (PyBullet) so machine load hits both alike.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import numpy as np

from vla_sim.env import TabletopEnv
from vla_sim.expert import ScriptedExpert

RESULTS = Path(__file__).resolve().parent / "results"
DIRECTIONS = ["to the left", "to the right", "forward", "back"]


@dataclass
class SpeedResult:
    """Env steps per second of one env, over interleaved rounds."""

    name: str
    steps_per_s: float
    steps: int
    rounds: int


@dataclass
class RenderResult:
    """Render time per frame for one image size, robot mesh set and output (rgb, depth, segmentation)."""

    size: int
    robot_meshes: str
    what: str
    ms_per_frame: float
    frames: int


@dataclass
class ExpertResult:
    """The scripted expert's episodes for one action mode and verb: successes, length and failure reasons."""

    action_mode: str
    verb: str
    episodes: int
    seeds: str
    successes: int
    mean_steps: float
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.successes / self.episodes


def step_rate(env: gym.Env, steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    t = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset(seed=int(rng.integers(1 << 30)))
    return steps / (time.perf_counter() - t)


def bench_speed(steps: int, rounds: int) -> list[SpeedResult]:
    import panda_gym  # noqa: F401  (registers PandaPickAndPlace-v3)

    envs = {
        "vla_sim Tabletop-v0 (joint_delta, no images)": gym.make("vla_sim/Tabletop-v0", obs_images=False),
        "vla_sim Tabletop-v0 (ee_delta, no images)": gym.make("vla_sim/Tabletop-v0", obs_images=False,
                                                              action_mode="ee_delta"),
        "panda-gym PandaPickAndPlace-v3 (PyBullet)": gym.make("PandaPickAndPlace-v3"),
    }
    rates: dict[str, list[float]] = {k: [] for k in envs}
    for r in range(rounds):  # interleaved rounds: load changes hit every env alike
        for name, env in envs.items():
            rates[name].append(step_rate(env, steps, seed=r))
    for env in envs.values():
        env.close()
    return [SpeedResult(name, float(np.median(v)), steps, rounds) for name, v in rates.items()]


def bench_render(frames: int) -> list[RenderResult]:
    out = []
    for size, meshes in ((128, "visual"), (224, "visual"), (128, "collision"), (224, "collision")):
        env = TabletopEnv(image_size=size, obs_images=False, robot_meshes=meshes)
        env.reset(seed=0)
        env.render_rgb(size=size)  # creates the renderer (cached afterwards)
        for what, fn in (("rgb", lambda: env.render_rgb(size=size)),
                         ("rgb+depth", lambda: (env.render_rgb(size=size), env.render_depth(size=size))),
                         ("segmentation", lambda: env.render_segmentation(size=size))):
            t = time.perf_counter()
            for _ in range(frames):
                fn()
            out.append(RenderResult(size, meshes, what, 1000 * (time.perf_counter() - t) / frames, frames))
        env.close()
    return out


def command_for(verb: str, phrase: str, seed: int) -> str:
    if verb == "pick":
        return f"pick up the {phrase}"
    if verb == "push":
        return f"push the {phrase} {DIRECTIONS[seed % len(DIRECTIONS)]}"
    return f"{verb} the {phrase}"


def run_expert(env: TabletopEnv, expert: ScriptedExpert, seed: int, verb: str,
               frames: list[np.ndarray] | None = None) -> dict:
    """One seeded episode: the seed's scene and target, with the verb imposed (push direction cycles)."""
    _, info = env.reset(seed=seed)
    target_phrase = info["objects"][info["target_id"] - 1]["phrase"]
    _, info = env.reset(seed=seed, options={"command": command_for(verb, target_phrase, seed)})
    if frames is not None:
        frames.append(env.render_rgb(size=224))
    for step in range(env.config.max_episode_steps):
        _, _, terminated, _, info = env.step(expert.act(info))
        if frames is not None and step % 3 == 2:
            frames.append(env.render_rgb(size=224))
        if terminated:
            break
    info["steps"] = step + 1
    return info


def bench_expert(episodes: int, modes: list[str]) -> list[ExpertResult]:
    out = []
    for mode in modes:
        env = TabletopEnv(obs_images=False, action_mode=mode, max_objects=4)
        expert = ScriptedExpert(env)
        for verb in env.vocab.verb_names:
            res = ExpertResult(mode, verb, episodes, f"0..{episodes - 1}", 0, 0.0)
            steps = []
            for seed in range(episodes):
                info = run_expert(env, expert, seed, verb)
                steps.append(info["steps"])
                if info["is_success"]:
                    res.successes += 1
                else:
                    reason = info["failure_reason"] or "time limit"
                    res.failures[reason] = res.failures.get(reason, 0) + 1
            res.mean_steps = float(np.mean(steps))
            out.append(res)
            print(f"expert {mode} {verb}: {res.successes}/{episodes}")
        env.close()
    return out


def expert_strip(path: Path) -> None:
    """Five frames per verb (start .. success), one row per verb, for a human to look at."""
    env = TabletopEnv(obs_images=False, action_mode="ee_delta", max_objects=4)
    expert = ScriptedExpert(env)
    rows = []
    for i, verb in enumerate(env.vocab.verb_names):
        frames: list[np.ndarray] = []
        info = run_expert(env, expert, 7 + i, verb, frames)
        picks = np.linspace(0, len(frames) - 1, 5).round().astype(int)
        row = np.concatenate([frames[j] for j in picks], axis=1)
        label = f"{info['instruction']} -> {'success' if info['is_success'] else info['failure_reason']}"
        print(f"strip row {i}: {label}")
        rows.append(row)
    env.close()
    iio.imwrite(path, np.concatenate(rows, axis=0))


def markdown(speed: list[SpeedResult], render: list[RenderResult], expert: list[ExpertResult], meta: dict) -> str:
    base = next(s for s in speed if s.name.startswith("panda-gym")).steps_per_s
    lines = ["# Sim benchmark", "", f"`python benchmarks/sim_bench.py{' --quick' if meta['quick'] else ''}` on "
             f"{meta['machine']} ({meta['cpus']} CPUs), {meta['date']}; 1-minute load average "
             f"{meta['load_avg_1min'][0]} at the start, {meta['load_avg_1min'][1]} at the end (other jobs share "
             "the machine: absolute numbers move with load, the interleaved ratios much less).", "",
             "## Env steps/s, no rendering (random actions; median of interleaved rounds)", "",
             "| env | steps/s | vs panda-gym |", "| --- | ---: | ---: |"]
    lines += [f"| {s.name} | {s.steps_per_s:,.0f} | {s.steps_per_s / base:.1f}x |" for s in speed]
    lines += ["", f"{speed[0].rounds} rounds x {speed[0].steps} steps each. One control step = 1/20 s "
              "(10 MuJoCo substeps of 5 ms); panda-gym's step is 1/25 s (20 PyBullet substeps).", "",
              "## Render ms/frame (front camera, no shadows, CPU rendering through EGL)", "",
              "| size | robot meshes | what | ms/frame |", "| ---: | --- | --- | ---: |"]
    lines += [f"| {r.size} | {r.robot_meshes} | {r.what} | {r.ms_per_frame:.2f} |" for r in render]
    lines += ["", "robot meshes: `visual` = the MJCF's ~134k-triangle Panda (default), `collision` = its convex "
              "hulls (~2.3k triangles; `TabletopEnv(robot_meshes=\"collision\")`), for training-time images."]
    lines += ["", "## Scripted expert success (privileged state)", "",
              "| action mode | verb | episodes (state seeds) | success | mean steps | failures |",
              "| --- | --- | --- | ---: | ---: | --- |"]
    lines += [f"| {e.action_mode} | {e.verb} | {e.episodes} ({e.seeds}) | {100 * e.rate:.1f}% | {e.mean_steps:.0f} | "
              f"{'; '.join(f'{k}: {v}' for k, v in e.failures.items()) or '-'} |" for e in expert]
    lines += ["", "Seed s gives the scene and target of `reset(seed=s)` (2-4 objects); the verb is imposed and "
              "push directions cycle left/right/forward/back. `sim_expert_strip.png`: one row per verb.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run, not the quoted numbers)")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    load_before = os.getloadavg()[0]
    steps, rounds, frames, episodes = (300, 2, 30, 20) if args.quick else (2000, 5, 200, 200)
    speed = bench_speed(steps, rounds)
    for s in speed:
        print(f"{s.name}: {s.steps_per_s:,.0f} steps/s")
    render = bench_render(frames)
    expert = bench_expert(episodes, ["ee_delta", "joint_delta"])
    expert_strip(RESULTS / "sim_expert_strip.png")
    meta = {"quick": args.quick, "machine": platform.machine(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
            "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    (RESULTS / "sim.json").write_text(json.dumps({
        "meta": meta, "speed": [asdict(s) for s in speed], "render": [asdict(r) for r in render],
        "expert": [dict(asdict(e), rate=e.rate) for e in expert]}, indent=2))
    (RESULTS / "sim.md").write_text(markdown(speed, render, expert, meta))
    print((RESULTS / "sim.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
