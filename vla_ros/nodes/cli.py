"""`vla-ros`: send a command and watch results on machines without the ros2 CLI.

    vla-ros command "pick up the blue block"      # like: ros2 topic pub --once /vla/command std_msgs/msg/String
    vla-ros watch --count 5                        # prints status/outcome JSON as it arrives

`command` publishes with the same QoS as `ros2 topic pub` (the 'default' profile: reliable, volatile,
depth 10) and, like `--once`, waits for a subscriber first so the message is not lost.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_system_default
from std_msgs.msg import String

from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.topics import TOPICS
from vla_ros.vocabulary import ParseError, load_vocabulary

LATCHED_STREAMS = {"instruction"}
WATCHED = {
    "command": TOPICS.command,
    "grounding": TOPICS.grounding_status,
    "speech": TOPICS.speech_status,
    "instruction": TOPICS.sim_instruction,
    "outcome": TOPICS.sim_outcome,
}


def send_command(node: Node, text: str, topic: str, timeout_s: float) -> int:
    """Publish `text` once on `topic` after a subscriber appears (warn if it does not parse); exit code."""
    parsed = load_vocabulary().parse(text)
    if isinstance(parsed, ParseError):
        print(f"note: the vocabulary does not parse this ({parsed.reason}); sending it anyway", file=sys.stderr)
    pub = node.create_publisher(String, topic, qos_profile_system_default)
    deadline = time.monotonic() + timeout_s
    while pub.get_subscription_count() == 0:
        if time.monotonic() > deadline:
            print(f"error: no subscriber on {topic} after {timeout_s:.0f} s (is the graph running? "
                  f"same ROS_DOMAIN_ID?)", file=sys.stderr)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    pub.publish(String(data=text))
    pub.wait_for_all_acked(rclpy.duration.Duration(seconds=min(2.0, timeout_s)))
    print(f"sent {text!r} on {topic}")
    return 0


def watch(node: Node, topics: dict[str, str], count: int, timeout_s: float) -> int:
    """Print each message on `topics` as one JSON line until `count` arrived or `timeout_s` passed; exit code."""
    seen = 0

    def printer(label: str):
        def callback(msg: String) -> None:
            nonlocal seen
            seen += 1
            try:
                payload = json.loads(msg.data)
            except json.JSONDecodeError:
                payload = msg.data
            print(json.dumps({"topic": label, "data": payload}), flush=True)
        return callback

    for label, topic in topics.items():
        qos = LATCHED_QOS if label in LATCHED_STREAMS else 10
        node.create_subscription(String, topic, printer(label), qos)
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else float("inf")
    while (count <= 0 or seen < count) and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    return 0 if count <= 0 or seen >= count else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vla-ros` command: `command` or `watch`, as in the module docstring."""
    parser = argparse.ArgumentParser(prog="vla-ros", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p_cmd = sub.add_parser("command", help="publish one command")
    p_cmd.add_argument("text")
    p_cmd.add_argument("--topic", default=TOPICS.command)
    p_cmd.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a subscriber")
    p_watch = sub.add_parser("watch", help="print status, outcome and instruction messages")
    p_watch.add_argument("--only", nargs="*", choices=sorted(WATCHED), help="which streams (default all)")
    p_watch.add_argument("--count", type=int, default=0, help="exit after this many messages (0: never)")
    p_watch.add_argument("--timeout", type=float, default=0.0, help="exit after this many seconds (0: never)")
    args = parser.parse_args(argv)

    rclpy.init()
    node = rclpy.create_node("vla_ros_cli")
    try:
        if args.verb == "command":
            return send_command(node, args.text, args.topic, args.timeout)
        chosen = {k: WATCHED[k] for k in (args.only or WATCHED)}
        return watch(node, chosen, args.count, args.timeout)
    except KeyboardInterrupt:
        return 130
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    sys.exit(main())
