"""`make demo`'s program (vla_ros.demo) with the first step of its script, as its own process over DDS: it exits 0
(the command was carried out: the sim judged success), prints the table, and its video and MCAP recording read back
with the arm's actions, the grounding and the sim's outcome in them."""
import json
import os
import subprocess
import sys

import pytest

from vla_ros.paths import models_dir
from vla_ros.topics import TOPICS

pytestmark = [pytest.mark.graph, pytest.mark.skipif(not (models_dir() / "policy" / "policy.pt").is_file(),
                                                    reason="no shipped policy checkpoint in models/policy")]


def test_demo_runs_one_command_and_writes_a_video_and_a_recording(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}  # as `make demo`: the sim chooses its backend
    proc = subprocess.run([sys.executable, "-m", "vla_ros.demo", "--steps", "1", "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=400)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "grounded object" in proc.stdout and "success" in proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["results"][0]["success"] and summary["results"][0]["time_to_success_s"] > 0

    import imageio.v2 as imageio

    frames = imageio.get_reader(str(tmp_path / "demo.mp4"))
    first = frames.get_data(0)
    assert first.shape == (304, 576, 3) and frames.count_frames() >= 20

    from mcap_ros2.reader import read_ros2_messages

    counts: dict[str, int] = {}
    outcome = None
    for m in read_ros2_messages(str(tmp_path / "demo.mcap")):
        counts[m.channel.topic] = counts.get(m.channel.topic, 0) + 1
        if m.channel.topic == TOPICS.sim_outcome:
            outcome = json.loads(m.ros_msg.data)
    for topic in (TOPICS.image, TOPICS.joint_states, TOPICS.joint_trajectory, TOPICS.grounding_status,
                  TOPICS.grounding_overlay, TOPICS.policy_status, TOPICS.sim_side_view, TOPICS.command):
        assert counts.get(topic, 0) > 0, f"{topic} not recorded: {counts}"
    assert outcome is not None and outcome["success"], outcome
