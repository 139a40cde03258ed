"""`make demo`: the simulated graph end to end, with the same processes a sim launch starts.

Starts the sim node and the grounding node, takes the task the sim draws (or --command), sends it on the
command topic like a user would, waits for the grounding result, and saves what the robot "sees"
(overlay with mask / box / score) under runs/demo/. Prints a JSON line per episode.
With --speak the command is not typed: espeak-ng says it, the audio streams over the audio topic into
the speech node, the node reads it back (the default) and the demo answers "yes" if that is what it said, and the
speech node's command is what grounding acts on.
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
from std_msgs.msg import Int16MultiArray, String

from vla_ros.image_conversion import image_to_numpy
from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.process_graph import spin_until, start_node
from vla_ros.topics import TOPICS
from vla_ros.vocabulary import load_vocabulary


FINAL = ("found", "not_found", "not_understood")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--command", default="", help="fixed command (default: the sim's instruction)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--speak", action="store_true", help="say the command (espeak-ng -> speech node)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="vla_demo_"))
    vocab = load_vocabulary()

    rclpy.init()
    node = rclpy.create_node("vla_demo")
    got: dict[str, list] = {"instruction": [], "status": [], "overlay": [], "speech": []}
    node.create_subscription(String, TOPICS.sim_instruction, got["instruction"].append, LATCHED_QOS)
    node.create_subscription(String, TOPICS.grounding_status, got["status"].append, 10)
    node.create_subscription(Image, TOPICS.grounding_overlay, got["overlay"].append, qos_profile_sensor_data)
    node.create_subscription(String, TOPICS.speech_status, got["speech"].append, 10)
    command_pub = node.create_publisher(String, TOPICS.command, 10)
    reset_pub = node.create_publisher(String, "/sim/reset_to", 10)
    audio_pub = node.create_publisher(Int16MultiArray, TOPICS.speech_audio, 100)
    heard: list[String] = []
    if args.speak:  # the speech node's command, as grounding receives it
        node.create_subscription(String, TOPICS.command, heard.append, 10)
    own_command_subs = 1 if args.speak else 0
    procs = [start_node("sim", tmp, params={"seed": args.seed, "max_episode_steps": 100000}),
             start_node("grounding", tmp)]
    if args.speak:
        procs.append(start_node("speech", tmp))
    print(f"[demo] started {', '.join(p.name for p in procs)} (logs in {tmp})", flush=True)
    code = 0
    try:
        spin_until(node, lambda: got["instruction"] and command_pub.get_subscription_count() > own_command_subs
                   and (not args.speak or audio_pub.get_subscription_count() > 0), 120,
                   "the sim's instruction and active grounding (and speech) nodes", procs)
        for episode in range(args.episodes):
            if episode > 0:
                n = len(got["instruction"])
                reset_pub.publish(String(data=json.dumps({"seed": args.seed + episode})))
                spin_until(node, lambda: len(got["instruction"]) > n, 30, "the next episode", procs)
            command = args.command or got["instruction"][-1].data
            got["status"].clear(), got["overlay"].clear()
            t0 = time.monotonic()
            if args.speak:
                heard.clear(), got["speech"].clear()
                say(node, audio_pub, command)
                spin_until(node, lambda: heard or got["speech"], 30, f"the speech node's answer to {command!r}", procs)
                spin_until(node, lambda: got["speech"], 5, "the speech status", procs)
                speech = json.loads(got["speech"][-1].data)
                if speech["event"] == "asked":  # read back (the default): answer the question like a user would
                    print(json.dumps({"episode": episode, "said": command, "asked": speech["question"]}), flush=True)
                    got["speech"].clear()
                    meant = vocab.render(vocab.parse(command))  # the question reads the command back in canonical words
                    say(node, audio_pub, "yes" if speech["question"] == meant else "no")
                    spin_until(node, lambda: heard or got["speech"], 30, "the speech node's answer to the yes", procs)
                    spin_until(node, lambda: got["speech"], 5, "the speech status", procs)
                    speech = json.loads(got["speech"][-1].data)
                if not heard:
                    print(json.dumps({"episode": episode, "said": command, "speech": speech["reason"]}), flush=True)
                    continue
                command = heard[-1].data
            else:
                command_pub.publish(String(data=command))
            def result() -> dict | None:
                """The newest final status for this command (frames of the previous one may still arrive)."""
                for msg in reversed(got["status"]):
                    st = json.loads(msg.data)
                    if st["status"] in FINAL and st.get("command") == command:
                        return st
                return None

            def overlay_of(status: dict) -> Image | None:
                return next((m for m in got["overlay"] if abs(_seconds(m.header.stamp) - status["stamp"]) < 1e-6), None)

            spin_until(node, lambda: result() is not None and overlay_of(result()) is not None, 60,
                       f"a grounding result for {command!r}", procs)
            status = result()
            overlay = image_to_numpy(overlay_of(status))
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


def say(node, audio_pub, text: str, rate: int = 16000, chunk: int = 800) -> None:
    """Speak `text` with espeak-ng and stream it at real time as 16-bit PCM chunks, like a microphone driver."""
    from vla_ros.speech.audio import resample
    from vla_ros.speech.synth import pad_silence, synthesize

    audio, src_rate = synthesize(text)
    samples = pad_silence(resample(audio, src_rate, rate), rate, 0.3, 1.0)
    for i in range(0, samples.size, chunk):
        audio_pub.publish(Int16MultiArray(data=samples[i:i + chunk].tolist()))
        rclpy.spin_once(node, timeout_sec=chunk / rate)


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _save_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


if __name__ == "__main__":
    raise SystemExit(main())
