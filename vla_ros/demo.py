"""`make demo`: the simulated graph end to end, with the same processes a sim launch starts.

Starts the sim node and the grounding node, takes the task the sim draws (or --command), sends it on the
command topic like a user would, waits for the grounding result, and saves what the robot "sees"
(camera frame, overlay with mask / box / score) under runs/demo/. Prints a JSON line per episode.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from vla_ros.image_conversion import image_to_numpy
from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.process_graph import spin_until, start_node
from vla_ros.topics import TOPICS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--command", default="", help="fixed command (default: the sim's instruction)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="vla_demo_"))

    rclpy.init()
    node = rclpy.create_node("vla_demo")
    got: dict[str, list] = {"instruction": [], "status": [], "overlay": []}
    node.create_subscription(String, TOPICS.sim_instruction, got["instruction"].append, LATCHED_QOS)
    node.create_subscription(String, TOPICS.grounding_status, got["status"].append, 10)
    node.create_subscription(Image, TOPICS.grounding_overlay, got["overlay"].append, qos_profile_sensor_data)
    command_pub = node.create_publisher(String, TOPICS.command, 10)
    reset_pub = node.create_publisher(String, "/sim/reset_to", 10)
    procs = [start_node("sim", tmp, params={"seed": args.seed, "max_episode_steps": 100000}),
             start_node("grounding", tmp)]
    print(f"[demo] started {', '.join(p.name for p in procs)} (logs in {tmp})", flush=True)
    code = 0
    try:
        spin_until(node, lambda: got["instruction"] and command_pub.get_subscription_count() > 0, 120,
                   "the sim's first instruction and the grounding node's command subscription", procs)
        for episode in range(args.episodes):
            if episode > 0:
                n = len(got["instruction"])
                reset_pub.publish(String(data=json.dumps({"seed": args.seed + episode})))
                spin_until(node, lambda: len(got["instruction"]) > n, 30, "the next episode", procs)
            command = args.command or got["instruction"][-1].data
            got["status"].clear(), got["overlay"].clear()
            t0 = time.monotonic()
            command_pub.publish(String(data=command))
            spin_until(node, lambda: any(json.loads(s.data)["status"] in ("found", "not_found", "not_understood")
                                         for s in got["status"]) and got["overlay"], 60,
                       f"a grounding result for {command!r}", procs)
            status = next(json.loads(s.data) for s in reversed(got["status"])
                          if json.loads(s.data)["status"] in ("found", "not_found", "not_understood"))
            overlay = image_to_numpy(got["overlay"][-1])
            picture = args.out / f"episode{episode}_overlay.png"
            _save_png(picture, overlay)
            print(json.dumps({"episode": episode, "seed": args.seed + episode, "command": command,
                              "status": status["status"], "reason": status["reason"], "score": status["score"],
                              "pixel": status["pixel"], "point_camera": status["point_camera"],
                              "first_result_s": round(time.monotonic() - t0, 2), "overlay": str(picture)}), flush=True)
    except AssertionError as exc:
        print(f"[demo] failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        for p in procs:
            p.stop()
        node.destroy_node()
        rclpy.shutdown()
    return code


def _save_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


if __name__ == "__main__":
    raise SystemExit(main())
