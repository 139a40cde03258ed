"""`make demo`: the simulated graph end to end: a scripted sequence of commands, each carried out by the arm.

Starts sim, grounding and policy (and speech with --speak) as the sim launch does (`process_graph.start_node`
with `sim=True`: the package's parameter file and the sim graph's overrides, e.g. the policy's camera pose). The
demo only adds what a scripted sequence needs: the sim does not auto-reset (each step resets it with
`/sim/reset_to`), its episode time limit fits the policy's `max_duration_s`, and it publishes a side view.
Per step: stop the previous command, reset the sim to the step's seed and command, wait for fresh camera frames,
send the command on the command topic (typed; with --speak espeak-ng says it into the speech node, which reads it
back, and the demo answers "yes" when the question is what it said), and wait for the sim's outcome.
Prints a table (command, grounded object, outcome, time to success) and writes under --out: demo.mp4 (grounding
overlay with instruction, policy state and outcome drawn on, beside the side view), demo.mcap (the topics, CDR as
rosbag2 records them) and summary.json. Exit 0 when every command succeeded, 2 when a command failed, 1 when
the graph broke (a node died, or a wait timed out).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PointStamped
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Int16MultiArray, String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from vla_ros.image_conversion import image_to_numpy
from vla_ros.nodes.node_runtime import LATCHED_QOS
from vla_ros.process_graph import NodeProcess, spin_until, start_node
from vla_ros.topics import TOPICS
from vla_ros.vocabulary import load_vocabulary

RESET_TOPIC = "/sim/reset_to"  # the sim node's ~/reset_to
CONTROL_HZ = 20.0
VIDEO_FPS = 10
SIDE_VIEW_HZ = 5.0
FINAL = ("found", "not_found", "not_understood")


@dataclass(frozen=True)
class Step:
    """One scripted demo step: the scene seed to reset the sim to and the command to send."""

    seed: int
    command: str


# Evaluation seeds (>= 1,000,000: never used in training); each verb, several colours and shapes.
SCRIPT: tuple[Step, ...] = (
    Step(1_000_011, "pick up the blue block"),
    Step(1_000_012, "push the red ball to the left"),
    Step(1_000_013, "touch the green cylinder"),
    Step(1_000_014, "pick up the yellow ball"),
)


@dataclass
class StepResult:
    """What happened in one step, for the printed table and summary.json."""

    seed: int
    command: str  # what grounding and the policy received
    grounded: str = ""  # the grounder's phrase and score, or its status
    outcome: str = ""  # the sim's judgement: "success" or the failure reason
    success: bool = False
    time_to_success_s: float | None = None  # command on the topic -> the sim's success
    policy: str = ""  # the policy's last state and reason for this command
    said: str = ""  # --speak: what was said


@dataclass
class DemoConfig:
    """How to run the demo: output directory, the script, and whether to speak, record and film it."""

    out: Path = Path("runs/demo")
    speak: bool = False
    episode_s: float = 18.0  # the sim's time limit per step (the policy gives up at its max_duration_s, 15 s)
    script: tuple[Step, ...] = SCRIPT
    record: bool = True
    video: bool = True


@dataclass
class Inbox:
    """What the demo hears, newest last."""

    instruction: list = field(default_factory=list)
    grounding: list = field(default_factory=list)  # (time, dict)
    policy: list = field(default_factory=list)  # (time, dict)
    outcome: list = field(default_factory=list)  # (time, dict)
    speech: list = field(default_factory=list)
    heard: list = field(default_factory=list)  # (time, command) on the command topic (--speak)
    camera: list = field(default_factory=list)  # stamps (s)
    latest: dict = field(default_factory=dict)  # "camera" / "overlay" / "side" -> Image


def main(argv: list[str] | None = None) -> int:
    """Command line of `make demo`: parse the flags into a `DemoConfig` and run it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--speak", action="store_true", help="say each command (espeak-ng -> speech node, read back)")
    parser.add_argument("--steps", type=int, default=len(SCRIPT), help="run the first N steps of the script")
    parser.add_argument("--no-record", action="store_true", help="no MCAP file")
    parser.add_argument("--no-video", action="store_true", help="no MP4 file")
    args = parser.parse_args(argv)
    config = DemoConfig(out=args.out, speak=args.speak, script=SCRIPT[:max(1, args.steps)],
                        record=not args.no_record, video=not args.no_video)
    return run(config)


def run(config: DemoConfig) -> int:
    """Start the graph, carry out the script step by step, write the outputs; the exit code of the module docstring."""
    config.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="vla_demo_"))
    vocab = load_vocabulary()
    speech_s = 30.0 if config.speak else 0.0  # read back: the question, the "yes", and the sim's clock runs meanwhile
    rclpy.init()
    node = rclpy.create_node("vla_demo")
    box = Inbox()
    _subscribe(node, box)
    command_pub = node.create_publisher(String, TOPICS.command, 10)
    reset_pub = node.create_publisher(String, RESET_TOPIC, 10)
    audio_pub = node.create_publisher(Int16MultiArray, TOPICS.speech_audio, 100)
    recorder = _recorder(node, config.out / "demo.mcap") if config.record else None
    video = Video(config.out / "demo.mp4", box) if config.video else None
    if video is not None:
        node.create_timer(1.0 / VIDEO_FPS, video.frame)
    sim_params = {"seed": config.script[0].seed, "command": config.script[0].command, "auto_reset": False,
                  "max_episode_steps": int((config.episode_s + speech_s) * CONTROL_HZ),
                  "side_view_rate_hz": SIDE_VIEW_HZ if config.video else 0.0}
    procs = [start_node("sim", tmp, params=sim_params, sim=True), start_node("grounding", tmp, sim=True),
             start_node("policy", tmp, sim=True)]
    if config.speak:
        procs.append(start_node("speech", tmp, sim=True))
    print(f"[demo] started {', '.join(p.name for p in procs)} (logs in {tmp})", flush=True)
    results: list[StepResult] = []
    code = 0
    try:
        own = 1 if config.speak else 0  # with --speak the demo listens on the command topic too
        spin_until(node, lambda: box.instruction and command_pub.get_subscription_count() >= 2 + own
                   and reset_pub.get_subscription_count() > 0 and box.policy
                   and (not config.speak or audio_pub.get_subscription_count() > 0), 180,
                   "the sim, and active grounding and policy nodes (and speech)", procs)
        for i, step in enumerate(config.script):
            result = run_step(node, procs, box, command_pub, reset_pub, audio_pub, step, config, vocab, video)
            results.append(result)
            print(f"[demo] {i + 1}/{len(config.script)} {json.dumps(asdict(result))}", flush=True)
        command_pub.publish(String(data="stop"))
        _wait(node, procs, 1.0)
        if not all(r.success for r in results):
            code = 2
    except AssertionError as exc:
        print(f"[demo] failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        if video is not None:
            video.close()
        if recorder is not None:
            recorder.close()
        codes = [p.stop() for p in procs]
        node.destroy_node()
        rclpy.shutdown()
    if any(c != 0 for c in codes) and code == 0:
        print(f"[demo] a node exited with {codes}", file=sys.stderr)
        code = 1
    print(table(results))
    files = {"video": str(video.path) if video and video.frames else None,
             "mcap": str(recorder.path) if recorder else None}
    (config.out / "summary.json").write_text(json.dumps(
        {"results": [asdict(r) for r in results], "exit_code": code, **files,
         "mcap_messages": recorder.counts if recorder else {}, "logs": str(tmp)}, indent=2))
    print(f"[demo] wrote {', '.join(v for v in files.values() if v)} and {config.out / 'summary.json'}; "
          f"{sum(r.success for r in results)}/{len(results)} succeeded; exit {code}", flush=True)
    return code


def run_step(node: Any, procs: list[NodeProcess], box: Inbox, command_pub: Any, reset_pub: Any, audio_pub: Any,
             step: Step, config: DemoConfig, vocab: Any, video: Video | None) -> StepResult:
    """Stop, reset the sim to the step's scene, send the command, wait for the sim's outcome."""
    result = StepResult(step.seed, step.command)
    n_policy = len(box.policy)
    command_pub.publish(String(data="stop"))  # halt whatever the previous command left moving
    spin_until(node, lambda: any(s["state"] == "stopped" for _, s in box.policy[n_policy:]), 10,
               "the policy to stop", procs)
    n_instr, n_out = len(box.instruction), len(box.outcome)
    reset_at = time.time()
    reset_pub.publish(String(data=json.dumps({"seed": step.seed, "command": step.command})))
    spin_until(node, lambda: len(box.instruction) > n_instr, 15, f"the sim's reset to seed {step.seed}", procs)
    # Two camera frames rendered after the reset: nothing of the previous scene reaches grounding or the policy.
    spin_until(node, lambda: sum(s > reset_at for s in box.camera) >= 2, 10, "camera frames of the new scene", procs)
    if video is not None:
        video.begin(step.command)
    n_ground, n_policy = len(box.grounding), len(box.policy)
    if config.speak:
        heard = speak_command(node, procs, box, audio_pub, step.command, vocab)
        result.said = step.command
        if heard is None:
            result.outcome = "speech: not heard as a command"
            return result
        sent, result.command = heard
    else:
        sent = time.monotonic()
        command_pub.publish(String(data=step.command))
    timeout = config.episode_s + (30.0 if config.speak else 0.0) + 10.0
    spin_until(node, lambda: len(box.outcome) > n_out, timeout, f"the sim's outcome for {step.command!r}", procs)
    at, outcome = box.outcome[-1]
    result.success, result.outcome = bool(outcome["success"]), str(outcome["reason"])
    if result.success:
        result.time_to_success_s = round(at - sent, 2)
    grounded = [g for _, g in box.grounding[n_ground:] if g.get("command") == result.command and g["status"] in FINAL]
    if grounded:
        found = [g for g in grounded if g["status"] == "found"]
        g = found[0] if found else grounded[-1]
        result.grounded = f"{g['phrase']} ({g['score']:.2f})" if found else f"{g['status']}: {g.get('reason', '')}"
    mine = [s for _, s in box.policy[n_policy:] if s.get("command") == result.command]
    if mine:
        result.policy = f"{mine[-1]['state']}: {mine[-1]['reason']}"
    if video is not None:
        video.end("success" if result.success else f"failed: {result.outcome}")
        _wait(node, procs, 1.5)  # the outcome stays on screen a moment
    return result


def speak_command(node: Any, procs: list[NodeProcess], box: Inbox, audio_pub: Any, text: str,
                  vocab: Any) -> tuple[float, str] | None:
    """Say `text`; answer the read-back question "yes" when it is what was said. Returns (time, command) as the
    speech node published it on the command topic, or None when it published nothing."""
    box.heard.clear(), box.speech.clear()
    say(node, audio_pub, text)
    spin_until(node, lambda: box.heard or box.speech, 30, f"the speech node's answer to {text!r}", procs)
    spin_until(node, lambda: box.speech, 5, "the speech status", procs)
    speech = json.loads(box.speech[-1].data)
    if speech.get("event") == "asked":  # read back (the default): answer like a user would
        print(f"[demo] said {text!r}, asked {speech['question']!r}", flush=True)
        box.speech.clear()
        meant = vocab.render(vocab.parse(text))  # the question reads the command back in canonical words
        say(node, audio_pub, "yes" if speech["question"] == meant else "no")
        spin_until(node, lambda: box.heard or box.speech, 30, "the speech node's answer to the yes", procs)
        spin_until(node, lambda: box.speech, 5, "the speech status", procs)
    if not box.heard:
        print(f"[demo] said {text!r}: {json.loads(box.speech[-1].data).get('reason')}", flush=True)
        return None
    return box.heard[-1]


def say(node: Any, audio_pub: Any, text: str, rate: int = 16000, chunk: int = 800) -> None:
    """Speak `text` with espeak-ng and stream it at real time as 16-bit PCM chunks, like a microphone driver."""
    from vla_ros.speech.audio import resample
    from vla_ros.speech.synth import pad_silence, synthesize

    audio, src_rate = synthesize(text)
    samples = pad_silence(resample(audio, src_rate, rate), rate, 0.3, 1.0)
    for i in range(0, samples.size, chunk):
        audio_pub.publish(Int16MultiArray(data=samples[i:i + chunk].tolist()))
        rclpy.spin_once(node, timeout_sec=chunk / rate)


def _subscribe(node: Any, box: Inbox) -> None:
    def stamped(target: list):
        return lambda m: target.append((time.monotonic(), json.loads(m.data)))

    def latest(key: str):
        return lambda m: box.latest.__setitem__(key, m)

    def on_camera(m: Image) -> None:
        box.camera.append(time.time() if m.header.stamp.sec == 0 else _seconds(m.header.stamp))
        del box.camera[:-50]
        box.latest["camera"] = m

    node.create_subscription(String, TOPICS.sim_instruction, box.instruction.append, LATCHED_QOS)
    node.create_subscription(String, TOPICS.grounding_status, stamped(box.grounding), 50)
    node.create_subscription(String, TOPICS.policy_status, stamped(box.policy), 100)
    node.create_subscription(String, TOPICS.sim_outcome, stamped(box.outcome), 10)
    node.create_subscription(String, TOPICS.speech_status, box.speech.append, 10)
    node.create_subscription(String, TOPICS.command, lambda m: box.heard.append((time.monotonic(), m.data)), 10)
    node.create_subscription(Image, TOPICS.image, on_camera, qos_profile_sensor_data)
    node.create_subscription(Image, TOPICS.grounding_overlay, latest("overlay"), qos_profile_sensor_data)
    node.create_subscription(Image, TOPICS.sim_side_view, latest("side"), qos_profile_sensor_data)


def _recorder(node: Any, path: Path) -> Any:
    """Record the graph's topics (not depth or mask: big, and derivable) to MCAP."""
    from vla_ros.recording import McapRecorder

    recorder = McapRecorder(path)
    for topic, cls, qos in ((TOPICS.image, Image, qos_profile_sensor_data),
                            (TOPICS.camera_info, CameraInfo, qos_profile_sensor_data),
                            (TOPICS.joint_states, JointState, 50),
                            (TOPICS.command, String, 10),
                            (TOPICS.grounding_status, String, 50),
                            (TOPICS.grounding_overlay, Image, qos_profile_sensor_data),
                            (TOPICS.grounding_target, PointStamped, 50),
                            (TOPICS.grounding_markers, MarkerArray, 50),
                            (TOPICS.policy_status, String, 100),
                            (TOPICS.joint_trajectory, JointTrajectory, 50),
                            (TOPICS.sim_instruction, String, LATCHED_QOS),
                            (TOPICS.sim_outcome, String, 10),
                            (TOPICS.sim_side_view, Image, qos_profile_sensor_data),
                            (TOPICS.speech_status, String, 10)):
        recorder.subscribe(node, topic, cls, qos)
    return recorder


class Video:
    """MP4 at VIDEO_FPS: the grounding overlay (the camera image until the first overlay of a step) beside the side
    view, a text band with the instruction, the policy's state and the outcome."""

    WIDTH, HEIGHT, PANEL = 576, 304, 240  # multiples of 16 for H.264

    def __init__(self, path: Path, box: Inbox) -> None:
        import imageio.v2 as imageio

        self.path, self.box = path, box
        self.writer = imageio.get_writer(str(path), fps=VIDEO_FPS, codec="libx264", quality=7,
                                         pixelformat="yuv420p", macro_block_size=16)
        self.frames = 0
        self.instruction, self.result, self.step_start = "", "", 0.0

    def begin(self, instruction: str) -> None:
        self.instruction, self.result, self.step_start = instruction, "", time.time()
        self.box.latest.pop("overlay", None)

    def end(self, result: str) -> None:
        self.result = result

    def frame(self) -> None:
        import cv2

        if self.writer is None or not self.instruction:
            return  # nothing before the first command (the nodes are still loading)
        canvas = np.zeros((self.HEIGHT, self.WIDTH, 3), np.uint8)
        left = self.box.latest.get("overlay") or self.box.latest.get("camera")
        if left is not None:
            canvas[:self.PANEL, :self.PANEL] = cv2.resize(image_to_numpy(left), (self.PANEL, self.PANEL))
        side = self.box.latest.get("side")
        if side is not None:
            img = image_to_numpy(side)
            w = self.WIDTH - self.PANEL
            canvas[:self.PANEL, self.PANEL:] = cv2.resize(img, (w, self.PANEL))
        state = self.box.policy[-1][1] if self.box.policy else {}
        lines = [f"command: {self.instruction}",
                 f"policy: {state.get('state', '')} - {state.get('reason', '')}"[:90],
                 f"outcome: {self.result}" if self.result else ""]
        for k, text in enumerate(lines):
            colour = (120, 255, 120) if "success" in text else (255, 120, 120) if "failed" in text else (255, 255, 255)
            cv2.putText(canvas, text, (6, self.PANEL + 18 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                        cv2.LINE_AA)
        self.writer.append_data(canvas)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def table(results: list[StepResult]) -> str:
    """The results as a plain-text table with aligned columns, for the terminal."""
    rows = [("#", "command", "grounded object", "outcome", "time to success")]
    for i, r in enumerate(results):
        rows.append((str(i + 1), r.command, r.grounded or "-", r.outcome,
                     f"{r.time_to_success_s:.1f} s" if r.time_to_success_s is not None else "-"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _wait(node: Any, procs: list[NodeProcess], seconds: float) -> None:
    end = time.monotonic() + seconds
    spin_until(node, lambda: time.monotonic() > end, seconds + 5, "time to pass", procs)


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


if __name__ == "__main__":
    raise SystemExit(main())
