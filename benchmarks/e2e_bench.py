"""End to end through the real graph: `python benchmarks/e2e_bench.py [--quick] [--seeds N]`.

Starts sim, grounding and policy as separate processes with the sim launch's parameters (`start_node(sim=True)`),
and per (verb, seed) pair, the same pairs and commands as benchmarks/policy_bench.py (`verb_commands`: the sim's
sampler on that seed, re-drawn until it gives the verb; seeds from 1,000,000, never used in training): a typed
"stop", `/sim/reset_to` {"seed", "command"}, two camera frames of the new scene, the command on the command topic,
then the sim node's outcome JSON. The sim's time limit is the policy benchmark's 150 ticks plus --handshake-ticks
for the reset -> command exchange that the library loop does not have.

Measured at this process's subscriptions (a third process on the same host, as a controller would be; ROS time is
wall time here, the sim stamps each frame when it renders it):
- frame -> grounding: arrival of the grounding status for a frame minus that frame's stamp (the status carries it);
- frame -> action: for each 3-D target the grounding node publishes (its header is the frame's), the first
  JointTrajectory that arrives after it, minus the frame stamp. The policy reads the target when it arrives and
  uses it at its next 20 Hz tick, whose phase it locks to just after fixes arrive (policy_node `phase_lock`);
  pairs whose action came more than two periods after the target (the policy was holding or done) are not counted;
- where frame -> grounding goes: frame stamp -> the frame at the grounding node (render, DDS; its status says when)
  and the node's own work after that;
- control-loop jitter: inter-arrival times of consecutive actions while acting (gaps over 3 periods are holds and
  not counted), and the policy's own tick compute time and overruns from its status;
- CPU (% of one core, averaged over the measured period) and resident memory of each node's process group, /proc.
Writes benchmarks/results/e2e.{json,md} (--quick: e2e_quick.{json,md}, so a quick run never overwrites the full one).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

os.environ.setdefault("ROS_DOMAIN_ID", "43")  # not the demo's (42) or a robot's (0)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import rclpy  # noqa: E402
from geometry_msgs.msg import PointStamped  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from vla_ros.nodes.node_runtime import LATCHED_QOS  # noqa: E402
from vla_ros.process_graph import NodeProcess, spin_until, start_node  # noqa: E402
from vla_ros.stats import percentiles  # noqa: E402
from vla_ros.topics import TOPICS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, machine, write_results  # noqa: E402

SEED_START = 1_000_000
POLICY_BENCH_STEPS = 150  # vla_ros.policy.evaluate's max_steps
CONTROL_HZ = 20.0
RESET_TOPIC = "/sim/reset_to"


@dataclass
class Episode:
    """One command through the graph: what was asked, what the sim reported, what grounding and policy said."""

    seed: int
    verb: str
    command: str
    success: bool = False
    reason: str = ""
    time_to_success_s: float | None = None  # command published -> the sim's success outcome received
    grounded: str = ""  # first final grounding status: "found" / "not_found" / ...
    found_fraction: float = 0.0  # of the grounding results for this command, the share "found"
    policy: str = ""  # the policy's last state: reason for this command


@dataclass
class Samples:
    """Raw timings, wall-clock seconds (time.time()) unless named otherwise."""

    grounding: list = field(default_factory=list)  # (arrival, status dict)
    targets: list = field(default_factory=list)  # (arrival, frame stamp)
    actions: list = field(default_factory=list)  # arrival
    policy: list = field(default_factory=list)  # (arrival, status dict)
    outcome: list = field(default_factory=list)  # (arrival, dict)
    instruction: list = field(default_factory=list)
    camera: list = field(default_factory=list)  # frame stamps
    acting: list = field(default_factory=list)  # (start, end) of each command's window


class ProcessMeter:
    """CPU time and resident memory of a process group (a node and anything it started), from /proc."""

    def __init__(self, proc: NodeProcess) -> None:
        self.proc, self.rss_mb, self.cpu0, self.t0 = proc, [], 0.0, 0.0

    def _pids(self) -> list[int]:
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == self.proc.proc.pid:
                        out.append(int(entry))
                except OSError:
                    continue
        return out

    def cpu_s(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self._pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            except (OSError, IndexError):
                continue
        return total

    def sample_rss(self) -> None:
        total = 0
        for pid in self._pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        self.rss_mb.append(total / 1024)

    def start(self) -> None:
        self.cpu0, self.t0 = self.cpu_s(), time.monotonic()
        self.rss_mb.clear()
        self.sample_rss()

    def result(self) -> dict:
        wall = time.monotonic() - self.t0
        return {"cpu_percent_of_one_core": round(100 * (self.cpu_s() - self.cpu0) / wall, 1),
                "rss_mb_start": round(self.rss_mb[0], 1), "rss_mb_end": round(self.rss_mb[-1], 1),
                "rss_mb_peak": round(max(self.rss_mb), 1), "samples": len(self.rss_mb)}


def pairs(n_seeds: int, seed_start: int) -> list[tuple[str, int, str]]:
    """(verb, seed, command) exactly as the policy benchmark draws them."""
    from vla_ros.policy.rollout import verb_commands
    from vla_ros.vocabulary import load_vocabulary
    from vla_sim.env import TabletopEnv

    vocab = load_vocabulary()
    env = TabletopEnv(obs_images=False, min_objects=2, max_objects=4)
    shim = SimpleNamespace(vocab=vocab, env=env)  # what verb_commands reads of a PolicyEnv
    out = [(v, s, verb_commands(shim, v, s)) for s in range(seed_start, seed_start + n_seeds) for v in vocab.verb_names]
    env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=34, help="seeds per verb (3 verbs: 34 -> 102 commands)")
    ap.add_argument("--seed-start", type=int, default=SEED_START)
    ap.add_argument("--quick", action="store_true", help="2 seeds per verb (6 commands)")
    ap.add_argument("--handshake-ticks", type=int, default=10, help="sim time limit = 150 + this many ticks")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    n_seeds = 2 if args.quick else args.seeds
    out_path = args.out or RESULTS / ("e2e_quick.json" if args.quick else "e2e.json")
    episodes_plan = pairs(n_seeds, args.seed_start)
    load_at_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="vla_e2e_"))

    rclpy.init()
    node = rclpy.create_node("e2e_bench")
    got = Samples()
    node.create_subscription(String, TOPICS.grounding_status,
                             lambda m: got.grounding.append((time.time(), json.loads(m.data))), 100)
    node.create_subscription(PointStamped, TOPICS.grounding_target,
                             lambda m: got.targets.append((time.time(), _seconds(m.header.stamp))), 100)
    node.create_subscription(JointTrajectory, TOPICS.joint_trajectory, lambda m: got.actions.append(time.time()), 100)
    node.create_subscription(String, TOPICS.policy_status,
                             lambda m: got.policy.append((time.time(), json.loads(m.data))), 100)
    node.create_subscription(String, TOPICS.sim_outcome,
                             lambda m: got.outcome.append((time.time(), json.loads(m.data))), 10)
    node.create_subscription(String, TOPICS.sim_instruction, got.instruction.append, LATCHED_QOS)
    # Frames are counted by their CameraInfo (same stamp, a few hundred bytes): taking every image too would cost
    # this process CPU the nodes it measures share on 2 cores.
    node.create_subscription(CameraInfo, TOPICS.camera_info, lambda m: got.camera.append(_seconds(m.header.stamp)),
                             qos_profile_sensor_data)
    command_pub = node.create_publisher(String, TOPICS.command, 10)
    reset_pub = node.create_publisher(String, RESET_TOPIC, 10)
    verb0, seed0, command0 = episodes_plan[0]
    procs = [start_node("sim", tmp, params={"seed": seed0, "command": command0, "auto_reset": False,
                                            "max_episode_steps": POLICY_BENCH_STEPS + args.handshake_ticks}),
             start_node("grounding", tmp), start_node("policy", tmp)]
    meters = {p.name: ProcessMeter(p) for p in procs}
    node.create_timer(1.0, lambda: [m.sample_rss() for m in meters.values()])
    episodes: list[Episode] = []
    code = 0
    t_start = time.monotonic()
    try:
        spin_until(node, lambda: got.instruction and command_pub.get_subscription_count() >= 2 and got.policy
                   and reset_pub.get_subscription_count() > 0, 180, "the sim, and active grounding and policy", procs)
        for m in meters.values():
            m.start()
        for k, (verb, seed, command) in enumerate(episodes_plan):
            ep = run_episode(node, procs, got, command_pub, reset_pub, verb, seed, command,
                             timeout=(POLICY_BENCH_STEPS + args.handshake_ticks) / CONTROL_HZ + 15.0)
            episodes.append(ep)
            print(f"[e2e] {k + 1}/{len(episodes_plan)} seed {seed} {command!r}: "
                  f"{'success' if ep.success else ep.reason} ({ep.grounded}, found in "
                  f"{ep.found_fraction:.0%} of frames; policy {ep.policy})", flush=True)
        resources = {name: m.result() for name, m in meters.items()}
    except AssertionError as exc:
        print(f"[e2e] failed: {exc}", file=sys.stderr)
        code = 1
        resources = {}
    finally:
        codes = [p.stop() for p in procs]
        node.destroy_node()
        rclpy.shutdown()
    if code:
        return code
    report = summarise(episodes, got, resources, args, n_seeds, load_at_start, time.monotonic() - t_start)
    report["node_exit_codes"] = dict(zip([p.name for p in procs], codes))
    _, md_path = write_results(out_path.stem, report, markdown(report), out_path.parent)
    print(md_path.read_text())
    return 0 if all(c == 0 for c in codes) else 1


def run_episode(node, procs, got: Samples, command_pub, reset_pub, verb: str, seed: int, command: str,
                timeout: float) -> Episode:
    ep = Episode(seed, verb, command)
    n = len(got.policy)
    command_pub.publish(String(data="stop"))
    spin_until(node, lambda: any(s["state"] == "stopped" for _, s in got.policy[n:]), 10, "the policy to stop", procs)
    n_instr, n_out = len(got.instruction), len(got.outcome)
    reset_at = time.time()
    reset_pub.publish(String(data=json.dumps({"seed": seed, "command": command})))
    spin_until(node, lambda: len(got.instruction) > n_instr, 15, f"the reset to seed {seed}", procs)
    spin_until(node, lambda: sum(s > reset_at for s in got.camera[-10:]) >= 2, 10, "frames of the new scene", procs)
    n_ground, n_policy = len(got.grounding), len(got.policy)
    sent = time.time()
    command_pub.publish(String(data=command))
    spin_until(node, lambda: len(got.outcome) > n_out, timeout, f"the outcome of {command!r}", procs)
    at, outcome = got.outcome[-1]
    got.acting.append((sent, at))
    ep.success, ep.reason = bool(outcome["success"]), str(outcome["reason"])
    if ep.success:
        ep.time_to_success_s = round(at - sent, 3)
    final = [g for _, g in got.grounding[n_ground:] if g.get("command") == command
             and g.get("status") in ("found", "not_found", "not_understood")]
    ep.grounded = final[0]["status"] if final else "no result"
    ep.found_fraction = round(sum(g["status"] == "found" for g in final) / max(1, len(final)), 3)
    mine = [s for _, s in got.policy[n_policy:] if s.get("command") == command]
    ep.policy = f"{mine[-1]['state']}: {mine[-1]['reason']}" if mine else "no status"
    del got.camera[:-10]
    return ep


def within(t: float, windows: list[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in windows)


def summarise(episodes: list[Episode], got: Samples, resources: dict, args, n_seeds: int, load: float,
              wall: float) -> dict:
    from vla_ros.policy.rollout import EpisodeOutcome, score

    period = 1.0 / CONTROL_HZ
    outcomes = [EpisodeOutcome(e.seed, e.verb, e.command, e.success, e.reason, 0) for e in episodes]
    verbs = {v: s.as_dict() for v, s in score(outcomes).items()}
    total = sum(e.success for e in episodes)
    # frame -> grounding status
    frame_to_grounding = [t - s["stamp"] for t, s in got.grounding
                          if "stamp" in s and s.get("status") in ("found", "not_found") and within(t, got.acting)]
    model_s = [s["latency_s"] for t, s in got.grounding if "latency_s" in s and within(t, got.acting)]
    # where the frame's time goes: render + transport to the grounding node, then the node's own work
    frame_to_node = [s["received"] - s["stamp"] for t, s in got.grounding
                     if "received" in s and "stamp" in s and within(t, got.acting)]
    node_to_status = [t - s["received"] for t, s in got.grounding if "received" in s and within(t, got.acting)]
    # frame -> action: the first action after each target
    actions = np.asarray(got.actions)
    frame_to_action, target_to_action = [], []
    for t, stamp in got.targets:
        if not within(t, got.acting):
            continue
        i = int(np.searchsorted(actions, t))
        if i < actions.size and actions[i] - t <= 2 * period:
            frame_to_action.append(actions[i] - stamp)
            target_to_action.append(actions[i] - t)
    # jitter: consecutive actions within one command's window
    gaps = []
    for a, b in got.acting:
        ts = actions[(actions >= a) & (actions <= b)]
        d = np.diff(ts)
        gaps += [float(x) for x in d if x <= 3 * period]
    gaps_arr = np.asarray(gaps)
    last_policy = next((s for _, s in reversed(got.policy) if "tick_ms" in s), {})
    times = [e.time_to_success_s for e in episodes if e.time_to_success_s is not None]
    report = {
        "command": "python benchmarks/e2e_bench.py " + " ".join(sys.argv[1:]),
        "machine": f"{machine()} at the end; {load:.1f} at the start",
        "seeds": [args.seed_start, args.seed_start + n_seeds], "commands": len(episodes),
        "sim_time_limit_ticks": POLICY_BENCH_STEPS + args.handshake_ticks, "wall_s": round(wall, 1),
        "success_rate": round(total / max(1, len(episodes)), 4), "successes": total,
        "ci95": verbs["all"]["ci95"] if episodes else [0, 1],
        "verbs": verbs,
        "time_to_success_s": percentiles(times, scale=1.0),
        "latency_ms": {
            "frame_to_grounding_status": percentiles(frame_to_grounding),
            "frame_to_grounding_node": percentiles(frame_to_node),
            "grounding_node_to_status": percentiles(node_to_status),
            "grounding_model_call": percentiles(model_s),
            "frame_to_action": percentiles(frame_to_action),
            "target_to_action": percentiles(target_to_action),
        },
        "control_loop": {
            "action_interval_ms": percentiles(gaps_arr),
            "action_interval_abs_error_ms": percentiles(np.abs(gaps_arr - period)) if gaps else {"n": 0},
            "action_interval_std_ms": round(float(gaps_arr.std() * 1e3), 2) if gaps else None,
            "policy_tick_compute_ms": last_policy.get("tick_ms"), "policy_ticks": last_policy.get("ticks"),
            "policy_overruns": last_policy.get("overruns"),
            "tick_phase": next((s["tick_phase"] for _, s in reversed(got.policy) if "tick_phase" in s), None),
        },
        "resources": resources,
        "episodes": [asdict(e) for e in episodes],
    }
    report["vs_policy_bench"] = compare_with_policy_bench(episodes)
    return report


def compare_with_policy_bench(episodes: list[Episode]) -> dict | None:
    """The policy benchmark's shipped-policy episodes on the same (verb, seed) pairs, if its results exist."""
    path = RESULTS / "policy.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    cond = next((c for c in report.get("conditions", []) if c.get("checkpoint") == "models/policy"
                 and c.get("grounder") == "real" and c.get("min_objects") == 2 and not c.get("timing")), None)
    if cond is None:
        return None
    library = {(e["verb"], e["seed"]): e for e in cond.get("episodes", [])}
    same = [(e, library[(e.verb, e.seed)]) for e in episodes if (e.verb, e.seed) in library]
    if not same:
        return {"note": "no common (verb, seed) pairs", "policy_bench_checkpoint": cond.get("checkpoint")}
    return {
        "pairs": len(same),
        "graph_successes": sum(e.success for e, _ in same),
        "library_successes": sum(bool(lib["success"]) for _, lib in same),
        "graph_lost": [{"verb": e.verb, "seed": e.seed, "graph": e.reason, "grounded": e.grounded, "policy": e.policy}
                       for e, lib in same if lib["success"] and not e.success],
        "graph_gained": [{"verb": e.verb, "seed": e.seed, "library": lib["reason"]}
                         for e, lib in same if e.success and not lib["success"]],
        "policy_bench_checkpoint": cond.get("checkpoint"),
    }


def markdown(r: dict) -> str:
    lat, loop = r["latency_ms"], r["control_loop"]

    def row(label: str, d: dict, unit: str = "ms") -> str:
        if not d or not d.get("n"):
            return f"| {label} | - | - | - | 0 |"
        return f"| {label} | {d['p50']:g} {unit} | {d['p99']:g} {unit} | {d['max']:g} {unit} | {d['n']} |"

    lo, hi = r["ci95"]
    lines = [
        "# End to end through the ROS graph (sim + grounding + policy nodes, real DDS)", "",
        f"`{r['command'].strip()}` on {r['machine']}; {r['commands']} commands on seeds "
        f"{r['seeds'][0]:,}..{r['seeds'][1] - 1:,} (each verb on each seed, the policy benchmark's commands), sim time "
        f"limit {r['sim_time_limit_ticks']} ticks, {r['wall_s']:.0f} s in all.", "",
        f"**Success: {r['success_rate'] * 100:.1f}% ({r['successes']}/{r['commands']}, 95% CI "
        f"{lo * 100:.1f}-{hi * 100:.1f}%)**", "",
        "| verb | success | 95% CI | failures |", "| --- | ---: | ---: | --- |",
    ]
    for verb, s in sorted(r["verbs"].items(), key=lambda kv: kv[0] == "all"):
        lines.append(f"| {verb} | {s['success_rate'] * 100:.1f}% ({s['successes']}/{s['episodes']}) | "
                     f"{s['ci95'][0] * 100:.0f}-{s['ci95'][1] * 100:.0f}% | "
                     f"{json.dumps(s['failures']) if s['failures'] else '-'} |")
    cmp = r.get("vs_policy_bench")
    if cmp and cmp.get("pairs"):
        lines += ["", f"Same (verb, seed) pairs in `benchmarks/results/policy.json` (library loop, shipped policy, "
                      f"real grounder): library {cmp['library_successes']}/{cmp['pairs']}, graph "
                      f"{cmp['graph_successes']}/{cmp['pairs']}; lost in the graph: {len(cmp['graph_lost'])}, gained: "
                      f"{len(cmp['graph_gained'])} (details in the JSON)."]
    else:
        lines += ["", "No policy benchmark episodes on these seeds to compare with (run benchmarks/policy_bench.py)."]
    failed = [e for e in r["episodes"] if not e["success"]]
    if failed:
        lines += ["", "Failures (the sim's reason; the grounder's first result and share of frames found; the policy's "
                      "last state):"]
        lines += [f"- seed {e['seed']} {e['command']!r}: {e['reason']}; grounding {e['grounded']}, found in "
                  f"{e['found_fraction'] * 100:.0f}% of frames; policy {e['policy']}" for e in failed]
    t = r["time_to_success_s"]
    lines += ["", "| latency | p50 | p99 | max | n |", "| --- | ---: | ---: | ---: | ---: |",
              row("camera frame stamp -> grounding status received", lat["frame_to_grounding_status"]),
              row("- frame stamp -> frame at the grounding node (render, DDS)", lat.get("frame_to_grounding_node", {})),
              row("- frame at the grounding node -> status received (node's work, DDS)",
                  lat.get("grounding_node_to_status", {})),
              row("grounding model call (node's own)", lat["grounding_model_call"]),
              row("camera frame stamp -> first action after that frame's target", lat["frame_to_action"]),
              row("target received -> first action (<= 1 tick by design; the phase lock aims at ~0)",
                  lat["target_to_action"]),
              row("action interval while acting (20 Hz = 50 ms)", loop["action_interval_ms"]),
              row("abs(action interval - 50 ms): jitter", loop["action_interval_abs_error_ms"]),
              row("command -> sim success", t, "s")]
    tick = loop.get("policy_tick_compute_ms") or {}
    lines += ["", f"Policy node tick compute (its status, last 100 ticks): mean {tick.get('mean', '-')} ms, max since "
                  f"start {tick.get('max', '-')} ms; {loop.get('policy_overruns')} overruns in "
                  f"{loop.get('policy_ticks')} ticks; action interval std {loop.get('action_interval_std_ms')} ms; "
                  f"tick phase lock (policy_node `phase_lock`): {json.dumps(loop.get('tick_phase'))}.", "",
              "| node | CPU (% of one core) | RSS start | RSS end | RSS peak |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, m in r["resources"].items():
        lines.append(f"| {name} | {m['cpu_percent_of_one_core']:g} | {m['rss_mb_start']:.0f} MB | "
                     f"{m['rss_mb_end']:.0f} MB | {m['rss_mb_peak']:.0f} MB |")
    lines += ["", "Definitions: times are arrivals at the benchmark's own subscriptions (one DDS hop, same host); "
                  "frame stamps are the sim's render time (ROS time = wall time). See the module docstring."]
    return "\n".join(lines) + "\n"


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


if __name__ == "__main__":
    raise SystemExit(main())
