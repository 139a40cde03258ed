"""Graph test: a spoken stop halts the arm. Installed sim, grounding, policy and speech nodes as separate processes,
over real DDS: a typed command sets the arm moving, "please stop" (espeak-ng) streams over the audio topic, the speech
node's stop spotter publishes the stop command, and the policy stops with nothing sent after it (the criterion of
test_graph_policy's typed stop)."""
import json
import time

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import JointState
from std_msgs.msg import Int16MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from vla_ros.paths import models_dir
from vla_ros.process_graph import json_collector, spin_until, start_node, start_policy_graph
from vla_ros.speech.audio import resample
from vla_ros.speech.synth import pad_silence, synthesize
from vla_ros.topics import TOPICS

pytestmark = [pytest.mark.graph, pytest.mark.skipif(not (models_dir() / "policy" / "policy.pt").is_file(),
                                                    reason="no shipped policy checkpoint in models/policy")]

SEED = 1_000_003
COMMAND = "pick up the blue ball"  # a pick takes seconds: the arm is still moving when the stop is said
RATE = 16000
CHUNK = 800  # 50 ms


def _last_status(got):
    return got["status"][-1][1] if got["status"] else {}


def test_a_spoken_stop_halts_the_arm(tmp_path):
    rclpy.init()
    node = rclpy.create_node("spoken_stop_test")
    procs = [*start_policy_graph(tmp_path, SEED, COMMAND),
             start_node("speech", tmp_path, params={"source": "topic", "audio_sample_rate": RATE})]
    got = {"joints": [], "actions": [], "status": [], "speech": [], "commands": []}
    node.create_subscription(JointState, TOPICS.joint_states, got["joints"].append, 10)
    node.create_subscription(JointTrajectory, TOPICS.joint_trajectory,
                             lambda m: got["actions"].append((time.monotonic(), m)), 50)
    node.create_subscription(String, TOPICS.policy_status, json_collector(got["status"]), 100)
    node.create_subscription(String, TOPICS.speech_status, lambda m: got["speech"].append(json.loads(m.data)), 10)
    node.create_subscription(String, TOPICS.command, lambda m: got["commands"].append((time.monotonic(), m.data)), 10)
    command = node.create_publisher(String, TOPICS.command, 10)
    audio = node.create_publisher(Int16MultiArray, TOPICS.speech_audio, 100)
    clip, rate = synthesize("please stop", voice="en-us")
    speech = resample(clip, rate, RATE)
    samples = pad_silence(speech, RATE, 0.3, 1.0)
    speech_end = int(0.3 * RATE) + speech.size - 1
    try:
        # The speech node subscribes to the audio and publishes commands; grounding and policy take commands.
        spin_until(node, lambda: audio.get_subscription_count() > 0 and command.get_subscription_count() >= 2
                   and any(s["state"] == "idle" for _, s in got["status"]) and got["joints"], 180,
                   "the sim, and active grounding, policy and speech nodes", procs)
        q0 = np.array(got["joints"][-1].position[:7])
        command.publish(String(data=COMMAND))
        spin_until(node, lambda: any(s["state"] == "acting" and s.get("command") == COMMAND
                                     for _, s in got["status"]), 60, f"the policy acting on {COMMAND!r}", procs)
        spin_until(node, lambda: len(got["actions"]) >= 3
                   and np.abs(np.array(got["joints"][-1].position[:7]) - q0).max() > 0.01, 20,
                   "the arm moving", procs)
        assert _last_status(got)["state"] == "acting", _last_status(got)

        ended = None
        for i in range(0, samples.size, CHUNK):  # at about real time, as a microphone driver would
            audio.publish(Int16MultiArray(data=samples[i:i + CHUNK].astype(np.int16).tolist()))
            if i <= speech_end < i + CHUNK:
                ended = time.monotonic()
            rclpy.spin_once(node, timeout_sec=0.02)
            time.sleep(0.01)
        spin_until(node, lambda: _last_status(got).get("state") == "stopped", 5, "the policy stopped", procs)
        stopped_at = next(t for t, s in got["status"] if s["state"] == "stopped")
        status = _last_status(got)
        assert "command 'stop'" in status["reason"], status
        spin_until(node, lambda: any(s.get("event") == "stop_spotted" for s in got["speech"]), 5,
                   "the speech node's stop_spotted status", procs)
        spin_until(node, lambda: "stop" in [c for _, c in got["commands"]], 5, "the stop command", procs)
        assert stopped_at - ended < 1.0, (
            f"stopped {stopped_at - ended:.2f} s after the speech ended; stop command after "
            f"{[round(t - ended, 2) for t, c in got['commands'] if c == 'stop']} s; {got['speech']}")
        print(f"spoken stop: the policy stopped {stopped_at - ended:.2f} s after the end of the speech")  # pytest -s
        end = time.monotonic() + 1.5
        spin_until(node, lambda: time.monotonic() > end, 10, "a quiet period", procs)
        after = [t for t, _ in got["actions"] if t > stopped_at + 0.02]
        assert not after, f"{len(after)} actions after the stop"
        assert _last_status(got)["state"] == "stopped"
    finally:
        codes = [p.stop() for p in procs]
        node.destroy_node()
        rclpy.shutdown()
        assert all(c == 0 for c in codes), "\n".join(p.log()[-1500:] for p in procs)
