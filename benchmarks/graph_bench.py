"""Node-level rates over real DDS: what a ROS user sees, not what the library does in a loop.

`--source sim` (default): starts the installed sim node (camera at --camera-hz) and grounding node as
separate processes, sends the sim's instruction, and measures for --seconds: camera frames/s received,
grounding results/s (the node keeps only the latest frame, so results/s <= frames/s and the gap is frames
dropped), end-to-end latency (image stamp -> status arrival), and the sim's JointState rate against its
20 Hz target. The sim renders on the same cores, as it would on a laptop running the whole demo.
`--source replay`: no sim; this process publishes held-out sim frames (data/grounding/test.npz) at
--camera-hz, as a real camera driver would, so the numbers are the grounding node's own throughput.
Writes benchmarks/results/graph.{json,md} (sim) or graph_replay_threads<N>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from vla_ros.grounding.data import load_split
from vla_ros.image_conversion import numpy_to_image
from vla_ros.nodes.grounding_node import GroundingParams
from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.process_graph import spin_until, start_node
from vla_ros.topics import TOPICS

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--camera-hz", type=float, default=20.0)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--quick", action="store_true", help="10 s instead of 30")
    parser.add_argument("--source", choices=("sim", "replay"), default="sim",
                        help="camera frames from the sim node, or replayed held-out frames (grounding node alone)")
    parser.add_argument("--data", type=Path, default=RESULTS.parents[1] / "data" / "grounding",
                        help="--source replay: directory with test.npz "
                             "(python -m vla_sim.grounding_dataset --split test)")
    parser.add_argument("--threads", type=int, default=GroundingParams.num_threads,
                        help="grounding node's num_threads (torch CPU threads; 0 = torch's default, all cores)")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    replay = args.source == "replay"
    load_at_start = os.getloadavg()[0]  # other work on the cores changes every number here
    tmp = Path(tempfile.mkdtemp(prefix="vla_graph_bench_"))

    rclpy.init()
    node = rclpy.create_node("graph_bench")
    got: dict[str, list] = {"instruction": [], "image": [], "status": [], "joints": []}
    node.create_subscription(String, TOPICS.sim_instruction, got["instruction"].append, LATCHED_QOS)
    node.create_subscription(Image, TOPICS.image, lambda m: got["image"].append(time.time()), qos_profile_sensor_data)
    node.create_subscription(JointState, TOPICS.joint_states, lambda m: got["joints"].append(time.time()), 10)
    node.create_subscription(String, TOPICS.grounding_status,
                             lambda m: got["status"].append((time.time(), json.loads(m.data))), 10)
    command = node.create_publisher(String, TOPICS.command, 10)
    if replay:
        frames = load_split(args.data, "test")
        instruction = f"pick up the {frames.objects[0][0]['phrase']}"
        camera = node.create_publisher(Image, TOPICS.image, qos_profile_sensor_data)
        tick = iter(range(10**9))

        def publish_frame() -> None:
            i = next(tick) % len(frames)
            camera.publish(numpy_to_image(frames.images[i], "rgb8", "camera_color_optical_frame",
                                          node.get_clock().now().to_msg()))

        node.create_timer(1.0 / args.camera_hz, publish_frame)
        procs = [start_node("grounding", tmp, params={"num_threads": args.threads})]
    else:
        procs = [start_node("sim", tmp, params={"camera_rate_hz": args.camera_hz,
                                                "control_rate_hz": max(20.0, args.camera_hz),
                                                "image_size": args.image_size, "max_episode_steps": 1_000_000}),
                 start_node("grounding", tmp, params={"num_threads": args.threads})]
    try:
        spin_until(node, lambda: (replay or got["instruction"]) and command.get_subscription_count() > 0, 120,
                   "sim instruction and active grounding", procs)
        if not replay:
            instruction = got["instruction"][-1].data
        command.publish(String(data=instruction))
        spin_until(node, lambda: any(s["status"] == "found" for _, s in got["status"]), 60, "a first result", procs)
        for k in got:
            if k != "instruction":
                got[k].clear()
        end = time.monotonic() + seconds
        spin_until(node, lambda: time.monotonic() > end, seconds + 10, "the measurement window", procs)
    finally:
        for p in procs:
            p.stop()
        node.destroy_node()
        rclpy.shutdown()

    results = [s for _, s in got["status"] if s["status"] in ("found", "not_found")]
    latency = np.array([t - s["stamp"] for t, s in got["status"] if "stamp" in s]) * 1e3
    out = {
        "seconds": seconds, "camera_hz_set": args.camera_hz, "image_size": args.image_size,
        "camera_frames_per_s": len(got["image"]) / seconds,
        "grounding_results_per_s": len(results) / seconds,
        "found_fraction": float(np.mean([s["status"] == "found" for s in results])) if results else 0.0,
        "latency_ms_median": float(np.median(latency)) if latency.size else None,
        "latency_ms_p95": float(np.percentile(latency, 95)) if latency.size else None,
        "model_latency_ms_median": float(np.median([s["latency_s"] for s in results]) * 1e3) if results else None,
        "joint_states_per_s": len(got["joints"]) / seconds,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "instruction": instruction,
        "source": args.source,
        "grounding_threads": args.threads,
        "load_average_1min_at_start": load_at_start,
    }
    name = f"graph_replay_threads{args.threads}" if replay else "graph"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2))
    if replay:
        md = ["# Grounding node throughput (replayed held-out camera frames, real DDS)", "",
              f"`python benchmarks/graph_bench.py --source replay --camera-hz {args.camera_hz:g} "
              f"--threads {args.threads}` on {out['machine']}; "
              f"{seconds:.0f} s window, 1-min load average {load_at_start:.1f} at the start, 224 px rgb8 frames of the "
              f"held-out test split published at {args.camera_hz:g} Hz "
              f"by the benchmark process, grounding node (offline model, CPU, num_threads {args.threads}) as a "
              f"separate process, command "
              f"{instruction!r} (scenes without that object answer 'not found', which counts as a result).",
              "", "| measure | value |", "| --- | ---: |"]
    else:
        md = ["# Node graph benchmark (sim node + grounding node, separate processes, real DDS)", "",
              f"`python benchmarks/graph_bench.py` on {out['machine']}; {seconds:.0f} s window, 1-min load average "
              f"{load_at_start:.1f} at the start, sim camera set to "
              f"{args.camera_hz:g} Hz at {args.image_size} px, offline grounding model on CPU "
              f"(num_threads {args.threads}), command "
              f"{instruction!r}.", "", "| measure | value |", "| --- | ---: |"]
    for key, label in [("camera_frames_per_s", "camera frames/s received"),
                       ("grounding_results_per_s", "grounding results/s"),
                       ("found_fraction", "fraction of results 'found'"),
                       ("latency_ms_median", "image stamp -> status, median ms"),
                       ("latency_ms_p95", "image stamp -> status, p95 ms"),
                       ("model_latency_ms_median", "grounding call, median ms"),
                       *([] if replay else [("joint_states_per_s", "JointState/s (target 20)")])]:
        value = out[key]
        md.append(f"| {label} | {value:.3g} |" if isinstance(value, float) else f"| {label} | {value} |")
    (RESULTS / f"{name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
