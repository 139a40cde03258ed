"""Faults over time through the real graph: `python benchmarks/fault_bench.py [--quick]`.

Every node is a separate process over DDS, as launched; the RSS of each is read from /proc/<pid>/status while
it runs. Phases, in order:
  flood      sim + grounding + policy, the policy acting: the command topic flooded at --flood-hz for --flood-s
             with valid and invalid commands mixed (moving commands, not understood, empty, 100 kB, non-ASCII,
             stops); then one last command, and the time until each node's status carries it; then a short flood
             that ends in "stop": the time until the policy stops, and any action after it.
  grounding  the grounding node fed --frames replayed sim frames (colour + depth + CameraInfo, recorded in the
             flood phase) as fast as it takes them (the next frame goes out when the last one's result is back),
             a command active, one frame in 50 malformed.
  policy     the policy node fed --frames joint states at --joint-hz (one in 50 with NaN) plus grounder results
             at 20 Hz for a command it acts on, re-sent every 10 s so it never times out.
  sim        the sim node publishing --frames camera frames with its camera rate at its control rate.
Memory is flat when RSS grows by less than FLAT_MB from the end of warm-up (the first WARMUP of the run) to
the end; the slope of a line fitted to the samples after warm-up is given per 1,000 frames.
Writes benchmarks/results/faults.{json,md} (`--quick`: short runs, same files, marked quick).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rclpy
from geometry_msgs.msg import PointStamped
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from vla_ros.image_conversion import numpy_to_image
from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.process_graph import NodeProcess, json_collector, spin_until, start_node, start_policy_graph
from vla_ros.topics import TOPICS

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 1_000_003
COMMAND = "touch the blue ball"
LAST = "pick up the blue ball"  # the flood's last word: a command no flood text is
ARM = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGERS = ("panda_finger_joint1", "panda_finger_joint2")
FLOOD_TEXTS = ("pick up the red block", "fly to the moon", "", "touch the green ball", "stop", "\x01\x02 ???",
               "push the blue ball to the left", "pick up the purple elephant", "a" * 100_000,
               "\u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9", "pick up the blue block and the red ball", COMMAND)
WARMUP = 0.2  # fraction of a run before memory is judged (model caches, allocator pools fill up first)
FLAT_MB = 10.0


def rss_mb(pid: int) -> float:
    """Resident set size, MB, from /proc/<pid>/status (VmRSS, kB); NaN once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return math.nan


@dataclass
class MemoryTrace:
    """RSS of one node against how much input it has had (frames, joint states, commands) over a run."""

    node: str
    unit: str
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (seconds, count, rss MB)

    def sample(self, proc: NodeProcess, t: float, count: float) -> None:
        self.samples.append((round(t, 3), float(count), round(rss_mb(proc.proc.pid), 2)))

    def summary(self) -> dict[str, Any]:
        s = np.array([x for x in self.samples if math.isfinite(x[2])], dtype=float).reshape(-1, 3)
        if len(s) < 3:
            return {"node": self.node, "unit": self.unit, "samples": len(s)}
        total = s[-1, 1]
        after = s[s[:, 1] >= WARMUP * total]
        if len(after) < 2:
            after = s[-2:]
        growth = float(after[-1, 2] - after[0, 2])
        slope = float(np.polyfit(after[:, 1], after[:, 2], 1)[0] * 1000.0) if np.ptp(after[:, 1]) > 0 else 0.0
        return {"node": self.node, "unit": self.unit, "count": int(total), "seconds": float(s[-1, 0]),
                "samples": len(s), "rss_start_mb": float(s[0, 2]), "rss_after_warmup_mb": float(after[0, 2]),
                "rss_end_mb": float(s[-1, 2]), "rss_max_mb": float(s[:, 2].max()),
                "growth_after_warmup_mb": round(growth, 2), "slope_mb_per_1000": round(slope, 3),
                "flat": bool(growth < FLAT_MB)}


class Bench:
    """The benchmark's own ROS node: what it subscribes to, and spinning with a deadline."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.node = rclpy.create_node("fault_bench")
        n = self.node
        self.got: dict[str, list] = {"policy": [], "grounding": [], "actions": [], "instruction": [], "joints": []}
        self.frames: dict[str, dict] = {"rgb": {}, "depth": {}, "info": {}}
        self.record_frames = False
        self.images_seen = 0
        n.create_subscription(String, TOPICS.policy_status, json_collector(self.got["policy"]), 200)
        n.create_subscription(String, TOPICS.grounding_status, json_collector(self.got["grounding"]), 200)
        n.create_subscription(JointTrajectory, TOPICS.joint_trajectory,
                              lambda m: self.got["actions"].append(time.monotonic()), 100)
        n.create_subscription(String, TOPICS.sim_instruction, self.got["instruction"].append, LATCHED_QOS)
        n.create_subscription(Image, TOPICS.image, self._on_image, qos_profile_sensor_data)
        n.create_subscription(Image, TOPICS.depth, lambda m: self._record("depth", m), qos_profile_sensor_data)
        n.create_subscription(CameraInfo, TOPICS.camera_info, lambda m: self._record("info", m),
                              qos_profile_sensor_data)
        self.command = n.create_publisher(String, TOPICS.command, 10)

    def _on_image(self, msg: Image) -> None:
        self.images_seen += 1
        self._record("rgb", msg)

    def _record(self, kind: str, msg: Any) -> None:
        if self.record_frames and len(self.frames[kind]) < 64:
            self.frames[kind][(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg

    def recorded(self) -> list[tuple[Image, Image, CameraInfo]]:
        f = self.frames
        return [(f["rgb"][k], f["depth"][k], f["info"][k])
                for k in sorted(f["rgb"]) if k in f["depth"] and k in f["info"]]

    def spin_for(self, seconds: float, procs: list[NodeProcess]) -> None:
        """Spin for `seconds`, then fail if any of `procs` has exited."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.01)
        dead = [p for p in procs if not p.alive()]
        if dead:
            raise RuntimeError(f"{dead[0].name} exited:\n{dead[0].log()[-3000:]}")

    def policy_last(self) -> dict:
        return self.got["policy"][-1][1] if self.got["policy"] else {}

    def counts(self, key: str) -> dict:
        return next((s["rejected_inputs"] for _, s in reversed(self.got[key]) if "rejected_inputs" in s), {})


def flood(bench: Bench, texts: tuple[str, ...], seconds: float, rate_hz: float,
          each: Callable[[int], None] | None = None) -> tuple[int, float]:
    """Publish `texts` round-robin at `rate_hz` for `seconds` (spinning now and then); returns (sent, seconds)."""
    period, n = 1.0 / rate_hz, 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        bench.command.publish(String(data=texts[n % len(texts)]))
        n += 1
        if n % 20 == 0:
            rclpy.spin_once(bench.node, timeout_sec=0.0)
            if each is not None:
                each(n)
        lag = start + n * period - time.monotonic()
        if lag > 0:
            time.sleep(lag)
    return n, time.monotonic() - start


def phase_flood(bench: Bench, procs: dict[str, NodeProcess],
                args: argparse.Namespace) -> tuple[dict, list[MemoryTrace]]:
    node, got = bench.node, bench.got
    all_procs = list(procs.values())
    bench.record_frames = True
    spin_until(node, lambda: got["instruction"] and bench.command.get_subscription_count() >= 2
               and any(s.get("state") == "idle" for _, s in got["policy"]), 300, "sim, grounding and policy", all_procs)
    bench.command.publish(String(data=COMMAND))
    spin_until(node, lambda: any(s.get("state") == "acting" for _, s in got["policy"]), 60, "the policy acting",
               all_procs)
    bench.spin_for(1.0, all_procs)
    bench.record_frames = False
    traces = {name: MemoryTrace(name, "commands sent") for name in procs}
    t0 = time.monotonic()
    next_sample = [0.0]

    def sample(n: int) -> None:
        if time.monotonic() - t0 >= next_sample[0]:
            next_sample[0] += 0.25
            for name, p in procs.items():
                traces[name].sample(p, time.monotonic() - t0, n)

    sample(0)
    before = {"policy": dict(bench.policy_last())}
    sent, took = flood(bench, FLOOD_TEXTS, args.flood_s, args.flood_hz, sample)
    for name, p in procs.items():
        traces[name].sample(p, time.monotonic() - t0, sent)
    n_pol, n_gr = len(got["policy"]), len(got["grounding"])
    t_last = time.monotonic()
    bench.command.publish(String(data=LAST))
    spin_until(node, lambda: any(s.get("command") == LAST for _, s in got["policy"][n_pol:]), 60,
               "the policy on the last command", all_procs)
    policy_s = next(t for t, s in got["policy"][n_pol:] if s.get("command") == LAST) - t_last
    spin_until(node, lambda: any(s.get("command") == LAST and s.get("status") in ("found", "not_found")
                                 for _, s in got["grounding"][n_gr:]), 60, "grounding the last command", all_procs)
    grounding_s = next(t for t, s in got["grounding"][n_gr:] if s.get("command") == LAST) - t_last
    bench.spin_for(2.0, all_procs)
    last_wins = bench.policy_last().get("command") == LAST
    # a flood ending in a stop, the arm moving
    spin_until(node, lambda: bench.policy_last().get("state") == "acting", 60, "the policy acting again", all_procs)
    flood(bench, (LAST, COMMAND, "fly to the moon"), 1.0, args.flood_hz)
    t_stop = time.monotonic()
    bench.command.publish(String(data="stop"))
    spin_until(node, lambda: bench.policy_last().get("state") == "stopped", 30, "the policy stopped", all_procs)
    stopped_s = got["policy"][-1][0] - t_stop
    stopped_at = got["policy"][-1][0]
    bench.spin_for(2.0, all_procs)
    for name, p in procs.items():
        traces[name].sample(p, time.monotonic() - t0, sent)
    after = bench.policy_last()
    result = {
        "commands_sent": sent, "flood_s": round(took, 2), "rate_hz": round(sent / took, 1),
        "texts": [t if len(t) < 60 else f"{t[:10]}... ({len(t)} characters)" for t in FLOOD_TEXTS],
        "last_command": LAST, "policy_status_carries_last_s": round(policy_s, 3),
        "grounding_result_for_last_s": round(grounding_s, 3), "latest_command_wins": last_wins,
        "stop_after_flood_s": round(stopped_s, 3),
        "actions_after_stop": sum(1 for t in got["actions"] if t > stopped_at + 0.1),
        "policy_state_after_stop": after.get("state"),
        "policy_overruns": after.get("overruns", 0) - before["policy"].get("overruns", 0),
        "policy_tick_ms_max": after.get("tick_ms", {}).get("max"), "policy_errors": after.get("errors"),
        "rejected_policy": bench.counts("policy"), "rejected_grounding": bench.counts("grounding"),
        "alive": {name: p.alive() for name, p in procs.items()},
    }
    return result, list(traces.values())


def malformed(i: int, rgb: Image) -> tuple[str, Image]:
    """One of the malformed frames the grounding phase mixes in."""
    k = i // 50
    kind = "4K" if k % 10 == 0 else ("unknown encoding", "data length mismatch", "step too small")[k % 3]
    msg = Image(header=rgb.header, height=rgb.height, width=rgb.width, encoding="rgb8", step=rgb.step)
    if kind == "unknown encoding":
        msg.encoding, msg.data = "yuv422", bytes(rgb.height * rgb.width * 2)
        msg.step = rgb.width * 2
    elif kind == "data length mismatch":
        msg.data = bytes(len(rgb.data) // 2)
    elif kind == "step too small":
        msg.step, msg.data = rgb.width, bytes(rgb.width * rgb.height)
    else:
        msg.width, msg.height, msg.step = 3840, 2160, 3840 * 3
        msg.data = bytes(3840 * 2160 * 3)
    return kind, msg


def phase_grounding(bench: Bench, grounding: NodeProcess, frames: int, frames_rec: list) -> tuple[dict, MemoryTrace]:
    """Replayed frames, each sent when the last one's result is back (or after 0.5 s): as fast as the node goes."""
    node, got = bench.node, bench.got
    pubs = {"rgb": node.create_publisher(Image, TOPICS.image, qos_profile_sensor_data),
            "depth": node.create_publisher(Image, TOPICS.depth, qos_profile_sensor_data),
            "info": node.create_publisher(CameraInfo, TOPICS.camera_info, qos_profile_sensor_data)}
    spin_until(node, lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 30,
               "grounding's camera subscriptions", [grounding])
    nan_depth = numpy_to_image(np.full((frames_rec[0][1].height, frames_rec[0][1].width), np.nan, np.float32), "32FC1",
                               frames_rec[0][1].header.frame_id)
    bench.command.publish(String(data=COMMAND))
    bench.spin_for(0.5, [grounding])
    trace = MemoryTrace("grounding", "frames sent")
    results, bad_sent, bad_answered, waits_timed_out = 0, {}, {}, [0]
    t0 = time.monotonic()
    big = None

    def publish_and_wait(i: int, rgb: Image, depth: Image, info: CameraInfo, stamp: Any) -> int:
        """One good frame (all-NaN depth one time in 50); 1 if its result came back within 0.5 s."""
        pubs["info"].publish(info)
        if i % 50 == 24:
            nan_depth.header.stamp = stamp
            pubs["depth"].publish(nan_depth)
            bad_sent["all-NaN depth"] = bad_sent.get("all-NaN depth", 0) + 1
        else:
            pubs["depth"].publish(depth)
        pubs["rgb"].publish(rgb)
        n = len(got["grounding"])
        deadline = time.monotonic() + 0.5
        key = stamp.sec + stamp.nanosec * 1e-9
        while not any(abs(s.get("stamp", -1) - key) < 1e-6 for _, s in got["grounding"][n:]):
            if time.monotonic() > deadline:
                waits_timed_out[0] += 1
                return 0
            rclpy.spin_once(node, timeout_sec=0.005)
        return 1

    for i in range(frames):
        rgb, depth, info = frames_rec[i % len(frames_rec)]
        stamp = node.get_clock().now().to_msg()
        for m in (rgb, depth, info):
            m.header.stamp = stamp
        if i % 50 == 49:
            kind, bad = malformed(i, rgb)
            if kind == "4K":
                big = big or bad
                bad = big
            bad.header.stamp = stamp
            bad_sent[kind] = bad_sent.get(kind, 0) + 1
            n = len(got["grounding"])
            pubs["rgb"].publish(bad)
            deadline = time.monotonic() + 1.0  # a 4K frame takes a while to cross DDS
            while not any("rejected image" in s.get("reason", "") for _, s in got["grounding"][n:]):
                if time.monotonic() > deadline:
                    break
                rclpy.spin_once(node, timeout_sec=0.005)
            else:
                bad_answered[kind] = bad_answered.get(kind, 0) + 1
        else:
            results += publish_and_wait(i, rgb, depth, info, stamp)
        if i % 100 == 0 or i == frames - 1:
            trace.sample(grounding, time.monotonic() - t0, i + 1)
            del got["grounding"][:-200]
            if not grounding.alive():
                raise RuntimeError(f"grounding exited:\n{grounding.log()[-3000:]}")
    took = time.monotonic() - t0
    bench.spin_for(0.5, [grounding])
    for p in pubs.values():
        node.destroy_publisher(p)
    return {"frames_sent": frames, "seconds": round(took, 1), "frames_per_s": round(frames / took, 1),
            "results": results, "no_result_within_0_5_s": waits_timed_out[0], "malformed_sent": bad_sent,
            "malformed_answered_within_1_s": bad_answered,
            "rejected": bench.counts("grounding"), "alive": grounding.alive()}, trace


def phase_policy(bench: Bench, policy: NodeProcess, joint_states: int, joint_hz: float) -> tuple[dict, MemoryTrace]:
    from vla_sim.env import HOME_Q
    from vla_sim.scene import front_camera_pose

    node, got = bench.node, bench.got
    js_pub = node.create_publisher(JointState, TOPICS.joint_states, 50)
    target_pub = node.create_publisher(PointStamped, TOPICS.grounding_target, 10)
    status_pub = node.create_publisher(String, TOPICS.grounding_status, 10)
    spin_until(node, lambda: js_pub.get_subscription_count() > 0 and status_pub.get_subscription_count() > 0, 30,
               "the policy's subscriptions", [policy])
    pos, rot = front_camera_pose()
    p_cam = rot.T @ (np.array([0.5, 0.05, 0.03]) - pos)
    trace = MemoryTrace("policy", "joint states sent")
    n_actions0, nan_sent = len(got["actions"]), 0
    rng = np.random.default_rng(0)
    last_status = last_command = -math.inf
    t0 = time.monotonic()
    period = 1.0 / joint_hz
    for i in range(joint_states):
        now = time.monotonic()
        if now - last_command > 10.0:  # a fresh episode before max_duration_s ends this one
            bench.command.publish(String(data=LAST))
            last_command = now
        stamp = node.get_clock().now().to_msg()
        q = np.asarray(HOME_Q) + rng.normal(0.0, 1e-4, 7)
        position = [*q, 0.04, 0.04]
        if i % 50 == 49:
            position[3], nan_sent = math.nan, nan_sent + 1
        msg = JointState(name=list(ARM + FINGERS), position=[float(v) for v in position], velocity=[0.0] * 9)
        msg.header.stamp = stamp
        js_pub.publish(msg)
        if now - last_status >= 0.05:
            last_status = now
            t = stamp.sec + stamp.nanosec * 1e-9
            pt = PointStamped()
            pt.header.stamp, pt.header.frame_id = stamp, "camera_color_optical_frame"
            pt.point.x, pt.point.y, pt.point.z = (float(v) for v in p_cam)
            target_pub.publish(pt)
            status_pub.publish(String(data=json.dumps({
                "status": "found", "command": LAST, "stamp": t, "frame_id": "camera_color_optical_frame",
                "score": 0.9, "point_camera": [float(v) for v in p_cam], "bbox": [100, 100, 117, 117],
                "image_wh": [224, 224]})))
        rclpy.spin_once(node, timeout_sec=0.0)
        if i % 200 == 0 or i == joint_states - 1:
            trace.sample(policy, time.monotonic() - t0, i + 1)
            del got["policy"][:-200]
            if not policy.alive():
                raise RuntimeError(f"policy exited:\n{policy.log()[-3000:]}")
        lag = t0 + (i + 1) * period - time.monotonic()
        if lag > 0:
            time.sleep(lag)
    took = time.monotonic() - t0
    bench.spin_for(0.5, [policy])
    last = bench.policy_last()
    for p in (js_pub, target_pub, status_pub):
        node.destroy_publisher(p)
    return {"joint_states_sent": joint_states, "seconds": round(took, 1), "rate_hz": round(joint_states / took, 1),
            "nan_joint_states_sent": nan_sent, "actions_published": len(got["actions"]) - n_actions0,
            "ticks": last.get("ticks"), "overruns": last.get("overruns"), "tick_ms": last.get("tick_ms"),
            "errors": last.get("errors"), "rejected": last.get("rejected_inputs"), "alive": policy.alive()}, trace


def phase_sim(bench: Bench, frames: int, rate_hz: float, max_s: float) -> tuple[dict, MemoryTrace]:
    sim = start_node("sim", bench.tmp, node_name="sim_memory",
                     params={"seed": SEED, "control_rate_hz": rate_hz, "camera_rate_hz": rate_hz,
                             "max_episode_steps": 400})
    try:
        spin_until(bench.node, lambda: bench.images_seen > 0, 120, "the sim's first frame", [sim])
        trace = MemoryTrace("sim", "camera frames received")
        start_count, t0 = bench.images_seen, time.monotonic()
        next_sample = 0.0
        while bench.images_seen - start_count < frames and time.monotonic() - t0 < max_s:
            rclpy.spin_once(bench.node, timeout_sec=0.01)
            if time.monotonic() - t0 >= next_sample:
                trace.sample(sim, time.monotonic() - t0, bench.images_seen - start_count)
                next_sample += 1.0
                if not sim.alive():
                    raise RuntimeError(f"sim exited:\n{sim.log()[-3000:]}")
        took = time.monotonic() - t0
        received = bench.images_seen - start_count
        trace.sample(sim, took, received)
        return {"frames_received": received, "seconds": round(took, 1), "frames_per_s": round(received / took, 1),
                "camera_rate_hz_set": rate_hz, "alive": sim.alive()}, trace
    finally:
        sim.stop()


def write_markdown(path: Path, out: dict) -> None:
    f, g, p, s = out["flood"], out["grounding"], out["policy"], out["sim"]
    lines = [
        "# Faults and bad input over time (sim, grounding and policy nodes as processes over DDS)",
        "",
        f"`python benchmarks/fault_bench.py{' --quick' if out['quick'] else ''}` on {out['machine']}, {out['date']}; "
        f"1-minute load average {out['load_start']:.2f} at the start, {out['load_end']:.2f} at the end. "
        "RSS of each node process from /proc/<pid>/status.",
        "",
        "## Command flood",
        "",
        f"{f['commands_sent']:,} commands in {f['flood_s']} s ({f['rate_hz']:,} Hz) on the command topic while the "
        f"policy acted; {len(f['texts'])} texts round-robin: moving commands, not understood, empty, "
        "a 100,000-character word, non-ASCII, a conjunction, stops.",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| every node alive after it | {all(f['alive'].values())} |",
        f"| policy status carries the last command after | {f['policy_status_carries_last_s']} s |",
        f"| grounding result for the last command after | {f['grounding_result_for_last_s']} s |",
        f"| latest command wins (policy) | {f['latest_command_wins']} |",
        f"| a flood that ends in 'stop': policy stopped after | {f['stop_after_flood_s']} s |",
        f"| actions after the stop | {f['actions_after_stop']} |",
        f"| policy control-tick overruns during the flood | {f['policy_overruns']} |",
        f"| policy tick max | {f['policy_tick_ms_max']} ms |",
        f"| policy / grounding commands refused as too long | {f['rejected_policy'].get('command: too long', 0)} / "
        f"{f['rejected_grounding'].get('command: too long', 0)} |",
        "",
        "## Memory",
        "",
        f"Flat = RSS grows by less than {FLAT_MB:g} MB from the end of warm-up (the first {WARMUP:.0%} of the run) "
        "to the end.",
        "",
        "| phase | node | input | count | seconds | RSS start MB | after warm-up | end | max | growth MB "
        "| MB / 1,000 | flat |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in out["memory"]:
        if "rss_end_mb" not in m:
            continue
        lines.append(f"| {m['phase']} | {m['node']} | {m['unit']} | {m['count']:,} | {m['seconds']:.0f} | "
                     f"{m['rss_start_mb']:.0f} | {m['rss_after_warmup_mb']:.0f} | {m['rss_end_mb']:.0f} | "
                     f"{m['rss_max_mb']:.0f} | {m['growth_after_warmup_mb']:+.1f} | {m['slope_mb_per_1000']:+.2f} | "
                     f"{'yes' if m['flat'] else 'NO'} |")
    lines += [
        "",
        "## Per phase",
        "",
        f"- grounding: {g['frames_sent']:,} replayed frames in {g['seconds']} s ({g['frames_per_s']}/s), each sent "
        f"when the last one's result was back; {g['results']:,} results; malformed sent {g['malformed_sent']}, "
        f"answered with a 'rejected image' status within 1 s {g['malformed_answered_within_1_s']}; "
        f"rejections counted {g['rejected']}; alive {g['alive']}.",
        f"- policy: {p['joint_states_sent']:,} joint states at {p['rate_hz']} Hz ({p['nan_joint_states_sent']} with "
        f"NaN) and grounder results at 20 Hz; {p['actions_published']:,} actions, {p['ticks']:,} ticks, "
        f"{p['overruns']} overruns, tick ms {p['tick_ms']}, errors {p['errors']}; rejections {p['rejected']}; "
        f"alive {p['alive']}.",
        f"- sim: {s['frames_received']:,} camera frames received in {s['seconds']} s ({s['frames_per_s']}/s; "
        f"camera rate set to {s['camera_rate_hz_set']:g} Hz); alive {s['alive']}.",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s flood, 500 frames / joint states")
    parser.add_argument("--flood-s", type=float, default=10.0)
    parser.add_argument("--flood-hz", type=float, default=1000.0)
    parser.add_argument("--frames", type=int, default=10_000, help="camera frames (grounding, sim) and joint states")
    parser.add_argument("--joint-hz", type=float, default=200.0)
    parser.add_argument("--sim-hz", type=float, default=50.0, help="the sim's control and camera rate in its phase")
    parser.add_argument("--sim-max-s", type=float, default=600.0, help="stop the sim phase after this long")
    parser.add_argument("--out", type=Path, default=RESULTS / "faults.json")
    args = parser.parse_args()
    if args.quick:
        args.flood_s, args.frames = 2.0, 500
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    tmp = Path(tempfile.mkdtemp(prefix="vla_fault_bench_"))
    load_start = os.getloadavg()[0]
    rclpy.init()
    bench = Bench(tmp)
    procs = {p.name: p for p in start_policy_graph(tmp, SEED, COMMAND)}
    memory: list[dict] = []
    try:
        print(f"flood: {args.flood_s:g} s at {args.flood_hz:g} Hz", flush=True)
        flood_result, traces = phase_flood(bench, procs, args)
        memory += [{"phase": "flood", **t.summary()} for t in traces]
        recorded = bench.recorded()
        if not recorded:
            raise RuntimeError("no matching colour/depth/CameraInfo frames recorded from the sim")
        assert procs["sim"].stop() == 0
        del procs["sim"]
        print(f"grounding: {args.frames} replayed frames ({len(recorded)} distinct)", flush=True)
        g_result, g_trace = phase_grounding(bench, procs["grounding"], args.frames, recorded)
        memory.append({"phase": "grounding frames", **g_trace.summary()})
        assert procs["grounding"].stop() == 0
        del procs["grounding"]
        print(f"policy: {args.frames} joint states at {args.joint_hz:g} Hz", flush=True)
        p_result, p_trace = phase_policy(bench, procs["policy"], args.frames, args.joint_hz)
        memory.append({"phase": "policy inputs", **p_trace.summary()})
        assert procs["policy"].stop() == 0
        del procs["policy"]
        print(f"sim: {args.frames} camera frames at up to {args.sim_hz:g} Hz", flush=True)
        s_result, s_trace = phase_sim(bench, args.frames, args.sim_hz, args.sim_max_s)
        memory.append({"phase": "sim camera", **s_trace.summary()})
    finally:
        for p in procs.values():
            p.stop()
        bench.node.destroy_node()
        rclpy.shutdown()
    out = {"quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, "
           f"{os.cpu_count()} CPUs", "load_start": load_start, "load_end": os.getloadavg()[0],
           "flood": flood_result, "grounding": g_result, "policy": p_result, "sim": s_result, "memory": memory,
           "traces": {t.node + ":" + t.unit: t.samples for t in [*traces, g_trace, p_trace, s_trace]}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    write_markdown(args.out.with_suffix(".md"), out)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
