"""PolicyController (the policy node's logic, no ROS): contract checks, holds and their reasons, stop, limits,
done rules, the camera -> base transform, and an observation identical to the one the policy was trained on."""
import json
from dataclasses import replace

import numpy as np
import pytest

from vla_ros.paths import models_dir
from vla_ros.policy.checkpoint import CONTRACT_FILE, ContractMismatch, make_contract
from vla_ros.policy.configuration_vla import VLAConfig
from vla_ros.policy.controller import (
    PANDA_JOINT_LOWER,
    PANDA_JOINT_UPPER,
    ControllerConfig,
    PolicyController,
    load_policy,
    quaternion_xyzw_to_matrix,
)
from vla_ros.policy.language import model_fingerprint, vocabulary_hash
from vla_ros.policy.observation import ObservationLayout
from vla_ros.vocabulary import load_vocabulary
from vla_sim.ee_control import ArmKinematics, ee_target_to_joints
from vla_sim.env import HOME_Q
from vla_sim.scene import build_scene, front_camera_pose

VOCAB = load_vocabulary()
CAM_POS, CAM_ROT = front_camera_pose()
FINGERS = ("panda_finger_joint1", "panda_finger_joint2")
ARM = tuple(f"panda_joint{i}" for i in range(1, 8))
CMD = "pick up the red block"
DT = 0.05


@pytest.fixture(scope="module")
def arm():
    return ArmKinematics.from_scene(build_scene(VOCAB, max_render_size=64))


class StubPolicy:
    """A fixed action; records every observation it is given."""

    def __init__(self, action=(0.0, 0.0, 0.0, 1.0)):
        self.action = np.asarray(action, dtype=np.float32)
        self.seen = []

    def __call__(self, obs):
        self.seen.append(obs.copy())
        return self.action


def stub_embed(text):
    rng = np.random.default_rng(sum(map(ord, text)))
    return rng.normal(size=64).astype(np.float32)


def make(arm, act=None, **cfg):
    config = ControllerConfig(camera_position=tuple(CAM_POS), camera_rotation=CAM_ROT, **cfg)
    layout = ObservationLayout.for_vocabulary(VOCAB, 64)
    return PolicyController(config, act or StubPolicy(), layout, stub_embed, arm, VOCAB)


def joints(c, now, q=HOME_Q, gripper=0.08, vel=None):
    names = ARM + FINGERS
    pos = [*q, gripper / 2, gripper / 2]
    return c.on_joint_state(names, pos, vel if vel is not None else [0.0] * 9, now, now)


def to_camera(p_base):
    return CAM_ROT.T @ (np.asarray(p_base, dtype=float) - CAM_POS)


def found(c, now, p_base, text=CMD, stamp=None, score=0.9):
    stamp = now if stamp is None else stamp
    c.on_target(to_camera(p_base), stamp, "camera_color_optical_frame")
    c.on_grounding_status({"status": "found", "command": text, "stamp": stamp, "score": score, "bbox": [0, 0, 7, 7],
                           "image_wh": [100, 100], "frame_id": "camera_color_optical_frame"}, now)


def acting(arm, target=(0.5, 0.0, 0.03), **cfg):
    c = make(arm, **cfg)
    c.on_command(CMD, 0.0)
    joints(c, 0.0)
    found(c, 0.0, target)
    d = c.tick(0.0)
    assert d.state == "acting" and d.publish, d
    return c


# ---------------------------------------------------------------------------------------------- contract
def _contract_dir(tmp_path, **changes):
    layout = ObservationLayout.for_vocabulary(VOCAB, 64)
    contract = make_contract(layout, VLAConfig(), vocabulary_hash(VOCAB), model_fingerprint(""), {}, {})
    for key, value in changes.items():
        setattr(contract, key, value)
    from dataclasses import asdict

    (tmp_path / CONTRACT_FILE).write_text(json.dumps(asdict(contract)))
    return tmp_path


@pytest.mark.parametrize("changes, field", [
    ({"control_hz": 10.0}, "control_hz"),
    ({"joint_names": [f"joint{i}" for i in range(7)]}, "joint_names"),
    ({"vocabulary_hash": "0123456789abcdef"}, "vocabulary_hash"),
    ({"grounding_model": {"model": "clipseg-sim", "weights_sha256_16": "ffffffffffffffff"}}, "grounding_model"),
])
def test_contract_mismatch_is_refused_with_a_message_naming_the_field(tmp_path, changes, field):
    with pytest.raises(ContractMismatch, match=field):
        load_policy(_contract_dir(tmp_path, **changes), 20.0)


def test_a_control_rate_other_than_the_trained_one_is_refused(tmp_path):
    with pytest.raises(ContractMismatch, match="control_hz"):
        load_policy(_contract_dir(tmp_path), 30.0)


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a policy checkpoint"):
        load_policy(tmp_path / "nothing", 20.0)


def test_default_limits_are_the_panda_mjcf_limits(arm):
    assert np.allclose(arm.limits[:, 0], PANDA_JOINT_LOWER) and np.allclose(arm.limits[:, 1], PANDA_JOINT_UPPER)


# ---------------------------------------------------------------------------------------------- holds
def test_no_command_is_idle_and_never_moves(arm):
    c = make(arm)
    joints(c, 0.0)
    d = c.tick(0.0)
    assert d.state == "idle" and not d.publish


def test_hold_reasons(arm):
    c = make(arm)
    assert c.on_command(CMD, 0.0) is None
    d = c.tick(0.0)
    assert d.state == "holding" and "no joint states" in d.reason and not d.publish
    joints(c, 0.0)
    d = c.tick(0.3)
    assert d.state == "holding" and "stale" in d.reason and not d.publish
    joints(c, 0.3)
    d = c.tick(0.3)
    assert "waiting for a target fix" in d.reason and not d.publish
    c.on_grounding_status({"status": "not_found", "command": "pick up the blue ball", "reason": "other"}, 0.3)
    d = c.tick(0.3)
    assert "waiting" in d.reason, "a status for another command does not count"
    c.on_grounding_status({"status": "not_found", "command": CMD, "reason": "best score 0.1 < 0.5"}, 0.35)
    d = c.tick(0.35)
    assert d.state == "holding" and "target not found" in d.reason and "0.1" in d.reason and not d.publish
    assert c.holds["not_found"] == 1 and c.holds["no_target"] >= 2 and c.holds["joint_states_stale"] == 1
    assert c.holds["no_joint_states"] == 1
    joints(c, 0.4)
    found(c, 0.4, (0.5, 0.0, 0.03))
    d = c.tick(0.4)
    assert d.state == "acting" and d.publish and d.joint_targets.shape == (7,)


def test_stale_target_holds_once_then_stays_quiet_and_resumes_on_a_new_fix(arm):
    c = acting(arm)
    for k in range(1, 40):  # misses shorter than target_timeout_s (2 s) are the policy's job
        t = k * DT
        joints(c, t)
        d = c.tick(t)
        assert d.state == "acting", (t, d)
    t = 2.0 + DT
    joints(c, t)
    d = c.tick(t)
    assert d.state == "holding" and "target lost" in d.reason
    assert d.publish and np.allclose(d.joint_targets, HOME_Q), "the measured position, once"
    joints(c, t + DT)
    assert not c.tick(t + DT).publish, "no stale re-sends while holding"
    found(c, t + 2 * DT, (0.5, 0.0, 0.03))
    joints(c, t + 2 * DT)
    assert c.tick(t + 2 * DT).state == "acting"


def test_stale_joint_states_hold(arm):
    c = acting(arm)
    d = c.tick(0.3)  # no joint state since t = 0
    assert d.state == "holding" and "joint states stale" in d.reason and d.publish
    assert c.status()["holds"] == {"joint_states_stale": 1}


def test_not_understood_command_is_idle_with_reason_and_never_moves(arm):
    c = make(arm)
    joints(c, 0.0)
    assert not c.on_command("pick up the purple elephant", 0.0).publish
    d = c.tick(0.0)
    assert d.state == "idle" and "not understood" in d.reason and "purple" in d.reason and not d.publish
    found(c, 0.0, (0.5, 0.0, 0.03), text="pick up the purple elephant")
    assert not c.tick(DT).publish


def test_not_understood_while_acting_halts(arm):
    c = acting(arm)
    d = c.on_command("fly to the moon", DT)
    assert d.publish and d.state == "idle" and np.allclose(d.joint_targets, HOME_Q)


def test_bad_joint_states_are_rejected_and_counted(arm):
    c = make(arm)
    assert not c.on_joint_state(ARM + FINGERS, [np.nan] + [0.0] * 8, [], 0.0, 0.0)
    assert not c.on_joint_state(ARM[:6], [0.0] * 6, [], 0.0, 0.0)
    assert not c.on_joint_state(("a", "b"), [0.0, 0.0], [], 0.0, 0.0)
    counts = c.status()["rejected_inputs"]
    assert counts == {"joint_states: non-finite joint state": 1, "joint_states: missing joints": 2}
    # arm and gripper may come in separate messages (a real Panda's driver and franka_gripper)
    assert c.on_joint_state(ARM, HOME_Q, [], 0.0, 0.0) and c.on_joint_state(FINGERS, [0.02, 0.02], [], 0.0, 0.0)
    assert c.joints.gripper == pytest.approx(0.04)


# ---------------------------------------------------------------------------------------------- stop
def test_stop_halts_at_once_and_resumes_only_on_a_new_command(arm):
    c = acting(arm)
    d = c.on_command("stop", DT)
    assert d.state == "stopped" and d.publish and np.allclose(d.joint_targets, HOME_Q)
    for k in range(2, 6):
        joints(c, k * DT)
        found(c, k * DT, (0.5, 0.0, 0.03))
        d = c.tick(k * DT)
        assert d.state == "stopped" and not d.publish
    c.on_command(CMD, 0.3)
    joints(c, 0.3)
    found(c, 0.3, (0.5, 0.0, 0.03))
    assert c.tick(0.3).state == "acting"
    d = c.stop("service")
    assert d.state == "stopped" and d.publish and c.tick(0.35).state == "stopped"


# ---------------------------------------------------------------------------------------------- limits
def test_joint_position_limits_are_clipped(arm):
    upper = tuple(HOME_Q + 0.001)
    c = acting(arm, joint_upper=upper, act=StubPolicy((1.0, 1.0, 1.0, 1.0)))
    for k in range(1, 4):
        joints(c, k * DT)
        found(c, k * DT, (0.5, 0.0, 0.03))
        d = c.tick(k * DT)
        assert np.all(d.joint_targets <= np.asarray(upper) + 1e-12)
    assert c.status()["clipped"]["position_limit"] >= 1


def test_joint_step_is_limited_by_the_velocity_limit(arm):
    v = 0.1
    c = make(arm, act=StubPolicy((1.0, -1.0, -1.0, 1.0)), joint_velocity_limit=(v,) * 7)
    c.on_command(CMD, 0.0)
    prev = HOME_Q
    for k in range(4):
        joints(c, k * DT)
        found(c, k * DT, (0.5, 0.0, 0.03))
        d = c.tick(k * DT)
        assert np.all(np.abs(d.joint_targets - prev) <= v * DT + 1e-12)
        prev = d.joint_targets
    assert c.status()["clipped"]["velocity_limit"] >= 1


# ---------------------------------------------------------------------------------------------- done rules
def test_timed_out(arm):
    c = acting(arm, max_duration_s=0.2)
    joints(c, 0.25)
    found(c, 0.25, (0.5, 0.0, 0.03))
    d = c.tick(0.25)
    assert d.state == "done" and "timed out" in d.reason and d.publish
    assert not c.tick(0.3).publish and c.tick(0.3).state == "done"


def test_push_done_when_the_target_moved_10cm_in_the_commanded_direction(arm):
    c = make(arm)
    text = "push the red block to the left"  # left = +y in the base frame
    c.on_command(text, 0.0)
    for k, y in enumerate([0.0, 0.05, 0.09, 0.11]):
        joints(c, k * DT)
        found(c, k * DT, (0.5, y, 0.03), text=text)
        d = c.tick(k * DT)
        assert d.state == ("done" if y >= 0.10 else "acting"), (y, d)
    assert "pushed" in d.reason and "left" in d.reason


def test_push_in_another_direction_is_not_done(arm):
    c = make(arm)
    text = "push the red block forward"
    c.on_command(text, 0.0)
    for k, y in enumerate([0.0, 0.15, 0.15]):
        joints(c, k * DT)
        found(c, k * DT, (0.5, y, 0.03), text=text)
        assert c.tick(k * DT).state == "acting"


def test_touch_done_when_the_grasp_point_reaches_the_target(arm):
    ee = arm.ee_pos(HOME_Q)
    text = "touch the red block"
    c = make(arm, act=StubPolicy((0.0, 0.0, 0.0, -1.0)))
    c.on_command(text, 0.0)
    states = []
    for k in range(4):
        joints(c, k * DT)
        found(c, k * DT, ee - [0.0, 0.0, 0.02], text=text)
        states.append(c.tick(k * DT).state)
    assert states == ["acting", "acting", "done", "done"], "3 ticks in a row"
    assert "touched" in c.reason

    far = make(arm)
    far.on_command(text, 0.0)
    for k in range(5):
        joints(far, k * DT)
        found(far, k * DT, ee - [0.0, 0.0, 0.10], text=text)  # right below, 10 cm lower: not there yet
        assert far.tick(k * DT).state == "acting"


def test_touch_done_when_stalled_against_the_target_not_while_descending(arm):
    ee0 = arm.ee_pos(HOME_Q)
    text = "touch the red block"
    target = ee0 - [0.0, 0.0, 0.08]  # the grasp point stays > touch_above_m above it: only a stall can end it
    c = make(arm, act=StubPolicy((0.0, 0.0, -1.0, -1.0)))
    c.on_command(text, 0.0)
    q = HOME_Q
    for k in range(4):  # descending 1 cm a tick while the commanded point runs ahead: moving, not stalled
        q = ee_target_to_joints(arm, q, ee0 - [0.0, 0.0, 0.01 * k], iterations=50)
        joints(c, k * DT, q=q)
        found(c, k * DT, target, text=text)
        assert c.tick(k * DT).state == "acting", k
    states = []
    for k in range(4, 8):  # blocked: the same joints, commanded lower
        joints(c, k * DT, q=q)
        found(c, k * DT, target, text=text)
        states.append(c.tick(k * DT).state)
    assert states == ["acting", "acting", "done", "done"] and "stalled" in c.reason


def test_pick_done_when_closed_on_something_and_lifted_7cm(arm):
    ee0 = arm.ee_pos(HOME_Q)
    q_up = ee_target_to_joints(arm, HOME_Q, ee0 + [0, 0, 0.08], iterations=50)
    assert np.allclose(arm.ee_pos(q_up), ee0 + [0, 0, 0.08], atol=1e-3)
    c = make(arm, act=StubPolicy((0.0, 0.0, 1.0, -1.0)))
    c.on_command(CMD, 0.0)
    t = 0.0
    for _ in range(3):  # closed on an object 5 cm wide, at rest
        joints(c, t, gripper=0.05)
        found(c, t, ee0 - [0, 0, 0.05])
        assert c.tick(t).state == "acting"
        t += DT
    states = []
    for _ in range(4):  # lifted 8 cm, still holding it
        joints(c, t, q=q_up, gripper=0.05)
        found(c, t, ee0 - [0, 0, 0.05])
        states.append(c.tick(t).state)
        t += DT
    assert states == ["acting", "acting", "done", "done"] and "picked up" in c.reason

    empty = make(arm, act=StubPolicy((0.0, 0.0, 1.0, -1.0)))  # closed on nothing: not a pick
    empty.on_command(CMD, 0.0)
    for k, q in enumerate([HOME_Q, q_up, q_up, q_up, q_up]):
        joints(empty, k * DT, q=q, gripper=0.002)
        found(empty, k * DT, ee0 - [0, 0, 0.05])
        assert empty.tick(k * DT).state == "acting"


# ---------------------------------------------------------------------------------------------- transform
def test_camera_to_base_matches_the_sims_camera():
    from vla_sim.env import TabletopEnv

    env = TabletopEnv(obs_images=False)
    env.reset(seed=0)
    info = env.camera_info("front")
    assert np.allclose(info.position, CAM_POS) and np.allclose(info.rotation, CAM_ROT, atol=1e-9)
    env.close()


def test_static_pose_hook_and_quaternion(arm):
    c = make(arm)
    p = np.array([0.1, -0.2, 0.9])
    assert np.allclose(c.camera_to_base(p), CAM_POS + CAM_ROT @ p)
    rz90 = quaternion_xyzw_to_matrix([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)])
    assert np.allclose(rz90, [[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    c.transform = lambda frame, stamp: (np.array([1.0, 2.0, 3.0]), rz90) if frame == "cam" else None
    assert np.allclose(c.camera_to_base([1.0, 0.0, 0.0], "cam"), [1.0, 3.0, 3.0]), "tf2 first"
    assert np.allclose(c.camera_to_base(p, "other"), CAM_POS + CAM_ROT @ p), "else the static pose"
    bare = PolicyController(ControllerConfig(), StubPolicy(), ObservationLayout.for_vocabulary(VOCAB, 64),
                            stub_embed, arm, VOCAB)
    assert bare.camera_to_base(p) is None and "target: no camera transform" in bare.status()["rejected_inputs"]
    with pytest.raises(ValueError, match="rotation"):
        replace(ControllerConfig(), camera_position=(0, 0, 1), camera_rotation=np.eye(3) * 2).validate()


# ---------------------------------------------------------------------------------------------- observation
def test_observation_is_what_policy_env_builds_for_the_same_state(arm):
    import mujoco

    from vla_ros.policy.policy_env import PolicyEnv

    class Encoder:
        dim = 64
        embed = staticmethod(stub_embed)

    penv = PolicyEnv(grounder="oracle", text_encoder=Encoder())
    _, info = penv.reset(seed=11)
    act = StubPolicy((0.6, -0.4, -0.5, -0.2))
    c = make(arm, act=act)
    c.on_command(info["instruction"], 0.0)
    env = penv.env
    for k in range(6):
        now = k * DT
        mujoco.mj_forward(env.model, env.data)  # the env's grasp point = FK of its joints, as the node computes it
        expected = penv._obs()
        c.on_joint_state(ARM + FINGERS, env.joint_positions(), env.joint_velocities(), now, now)
        target = penv.info["objects"][penv.info["target_id"] - 1]["pos"]
        found(c, now, target, text=info["instruction"], score=1.0)  # the oracle's fix: score 1, bbox 8% of the image
        d = c.tick(now)
        assert d.state == "acting", d
        np.testing.assert_allclose(act.seen[-1], expected, rtol=0, atol=2e-6)
        penv.step(d.action)
    penv.close()


# ---------------------------------------------------------------------------------------------- closed loop
@pytest.mark.skipif(not (models_dir() / "policy" / "policy.pt").is_file(), reason="no shipped policy checkpoint")
def test_shipped_policy_drives_the_sim_arm_to_the_target(arm):
    """The controller with the shipped checkpoint driving the sim through absolute joint targets (as the sim node
    does), the grounder replaced by the exact object position: the grasp point reaches the target."""
    from vla_ros.policy.controller import policy_act_fn
    from vla_ros.policy.language import TextEncoder
    from vla_sim.env import TabletopEnv

    policy, contract = load_policy(models_dir() / "policy", 20.0)
    encoder = TextEncoder("")
    config = ControllerConfig(camera_position=tuple(CAM_POS), camera_rotation=CAM_ROT)
    c = PolicyController(config, policy_act_fn(policy), contract.observation_layout(), encoder.embed, arm, VOCAB)
    env = TabletopEnv(obs_images=False)
    _, info = env.reset(seed=1_000_003, options={"command": "touch the blue ball"})
    c.on_command(info["instruction"], 0.0)
    start = dist = None
    for k in range(120):
        now = k * DT
        c.on_joint_state(ARM + FINGERS, env.joint_positions(), env.joint_velocities(), now, now)
        target = info["objects"][info["target_id"] - 1]["pos"]
        found(c, now, target, text=info["instruction"])
        d = c.tick(now)
        if d.publish:
            env.set_joint_targets(d.joint_targets, d.gripper_opening)
        _, _, term, _, info = env.step(np.zeros(8, dtype=np.float32))
        dist = float(np.linalg.norm(env.ee_pos()[:2] - np.asarray(target)[:2]))
        start = dist if start is None else start
        if d.state == "done" or term:
            break
    assert dist < 0.03 < start, (start, dist, c.status())
    env.close()
