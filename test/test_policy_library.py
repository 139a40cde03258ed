"""The policy library without ROS: observation layout, perception model and tracker, checkpoint contract,
the policy env, behaviour cloning and a short end-to-end training run."""
import json

import numpy as np
import pytest
import torch

from vla_ros.policy.checkpoint import ContractMismatch, load_checkpoint, make_contract, robot_contract, save_checkpoint
from vla_ros.policy.configuration_vla import TrainConfig, VLAConfig
from vla_ros.policy.observation import (
    MAX_AGE_S,
    TARGET_FIELDS,
    ObservationLayout,
    Proprio,
    TargetFix,
    build_observation,
    command_ids,
)
from vla_ros.policy.perception import (
    ErrorBin,
    Fix,
    PerceptionModelParams,
    SimulatedGrounder,
    TargetTracker,
    found_probability,
)
from vla_ros.vocabulary import load_vocabulary


def _proprio(ee=(0.4, 0.0, 0.2)):
    return Proprio(np.zeros(7), np.zeros(7), 0.08, 0.0, np.array(ee))


def test_observation_layout_and_values():
    vocab = load_vocabulary()
    layout = ObservationLayout.for_vocabulary(vocab, 64)
    ids = command_ids(vocab, vocab.parse("push the red block to the left"))
    assert ids == (vocab.verb_names.index("push"), list(vocab.directions).index("left"))
    assert command_ids(vocab, vocab.parse("pick up the red block"))[1] == len(vocab.directions)
    fix = TargetFix(np.array([0.5, 0.1, 0.03]), (0.1, 0.1), 0.9, True, 0.05)
    obs = build_observation(layout, np.ones(64), ids, fix, _proprio())
    t = obs[layout.slices["target"]]
    assert obs.shape == (layout.size,) and obs.dtype == np.float32
    np.testing.assert_allclose(t[3:6], [0.1, 0.1, -0.17], atol=1e-6)  # target minus grasp point
    assert t[TARGET_FIELDS.index("has_fix")] == 1.0
    empty = build_observation(layout, np.ones(64), ids, TargetFix(None), _proprio())
    assert empty[layout.slices["target"]][TARGET_FIELDS.index("has_fix")] == 0.0
    assert empty[layout.slices["target"]][TARGET_FIELDS.index("age_s")] == MAX_AGE_S
    assert not layout.continuous_mask()[layout.slices["command"]].any()


def test_observation_refuses_nan_and_wrong_sizes():
    layout = ObservationLayout(64, 3, 4)
    with pytest.raises(ValueError, match="not finite"):
        build_observation(layout, np.ones(64), (0, 4), TargetFix(None), _proprio(ee=(np.nan, 0, 0)))
    with pytest.raises(ValueError, match="text embedding"):
        build_observation(layout, np.ones(32), (0, 4), TargetFix(None), _proprio())


def test_tracker_averages_consistent_fixes_and_restarts_on_a_jump():
    tr = TargetTracker(window=4, jump_m=0.02)
    for x in (0.500, 0.504, 0.496, 0.500):
        tr.update(Fix(np.array([x, 0.0, 0.0]), 0.9))
    assert abs(tr.fix().position[0] - 0.5) < 1e-9 and tr.fix().age_s == 0.0
    tr.update(Fix(None))
    tr.advance(0.05)
    f = tr.fix()
    assert not f.found and f.position is not None and abs(f.age_s - 0.05) < 1e-9
    tr.update(Fix(np.array([0.6, 0.0, 0.0]), 0.9))  # the object moved: restart, do not average across
    assert tr.fix().position[0] == pytest.approx(0.6)


def test_simulated_grounder_period_latency_bias_and_found_rate():
    p = PerceptionModelParams(far=ErrorBin(0.8, (0.01, 0.0, 0.02), (0.001, 0.001, 0.001)),
                              near=ErrorBin(0.8, (0.01, 0.0, 0.02), (0.001, 0.001, 0.001)),
                              update_period_steps=2, latency_steps=1, miss_after_miss=0.6)
    g = SimulatedGrounder(p, np.random.default_rng(0))
    g.reset()
    obj = np.array([0.5, 0.0, 0.025])
    arrivals, fixes = [], []
    for step in range(4000):
        due = g.step(obj, 0.025, np.array([0.3, 0.2, 0.3]))
        arrivals.append(len(due))
        fixes += due
    assert sum(arrivals) == pytest.approx(2000, abs=1) and max(arrivals) == 1
    found = [f for f in fixes if f.position is not None]
    assert len(found) / len(fixes) == pytest.approx(0.8, abs=0.03)
    np.testing.assert_allclose(np.mean([f.position for f in found], axis=0) - obj, [0.01, 0.0, 0.02], atol=2e-4)
    # long-run rate of the two-state chain is the bin's found rate
    q = 1 - found_probability(0.8, 0.6, False)
    assert (0.2 * (1 - 0.6)) == pytest.approx(0.8 * q)


def test_perception_params_round_trip(tmp_path):
    p = PerceptionModelParams(source={"episodes": 3})
    p.save(tmp_path / "p.json")
    assert PerceptionModelParams.load(tmp_path / "p.json") == p


def test_shipped_perception_model_was_fitted_to_the_real_grounder():
    from vla_ros.paths import models_dir

    p = PerceptionModelParams.load(models_dir() / "policy" / "perception_model.json")
    assert p.source["episodes"] >= 20 and p.far.frames > 100 and p.near.frames > 100
    assert 0.5 < p.far.found_rate <= 1.0 and 0.0 < p.near.found_rate <= 1.0
    assert 0.0 < max(p.far.std) < 0.02  # millimetres, not centimetres


@pytest.fixture(scope="module")
def small_policy():
    from vla_ros.policy.modeling_vla import build_policy

    layout = ObservationLayout(64, 3, 4)
    cfg = VLAConfig(d_model=32, n_heads=2, ff_dim=64, pi_layers=(32,), vf_layers=(32,))
    return build_policy(layout, cfg), layout, cfg


def test_checkpoint_round_trip_and_contract_refusal(tmp_path, small_policy):
    from vla_ros.policy.language import vocabulary_hash

    policy, layout, cfg = small_policy
    contract = make_contract(layout, cfg, vocabulary_hash(load_vocabulary()), {"model": "clipseg-sim"},
                             PerceptionModelParams().to_json(), {"command": "test"})
    save_checkpoint(policy, contract, tmp_path)
    loaded, c = load_checkpoint(tmp_path, expected=robot_contract())
    x = torch.randn(3, layout.size)
    x[:, layout.slices["command"]] = torch.tensor([1.0, 4.0])
    from vla_ros.policy.modeling_vla import actor_mean

    torch.testing.assert_close(actor_mean(loaded, x), actor_mean(policy.eval(), x))
    with pytest.raises(ContractMismatch, match="control_hz: checkpoint has 20.0, this robot/config has 50.0"):
        load_checkpoint(tmp_path, expected={**robot_contract(), "control_hz": 50.0})
    with pytest.raises(ContractMismatch, match="joint_names"):
        load_checkpoint(tmp_path, expected={"joint_names": ["a", "b"]})
    data = json.loads((tmp_path / "contract.json").read_text())
    for key in ("joint_names", "action", "control_hz", "layout", "vocabulary_hash", "grounding_model",
                "perception_model"):
        assert key in data
    (tmp_path / "contract.json").unlink()
    with pytest.raises(FileNotFoundError, match="not a policy checkpoint"):
        load_checkpoint(tmp_path)


def test_policy_env_oracle_sees_the_true_target_and_maps_actions():
    from vla_ros.policy.policy_env import PolicyEnv

    env = PolicyEnv("oracle")
    obs, info = env.reset(seed=1_000_123)
    t = obs[env.layout.slices["target"]]
    target = info["objects"][info["target_id"] - 1]
    np.testing.assert_allclose(t[:3], target["pos"], atol=1e-5)
    ee0 = env.env.ee_pos()
    for _ in range(10):
        obs, *_ = env.step(np.array([0.0, 0.0, 1.0, 1.0]))
    assert env.env.ee_pos()[2] > ee0[2] + 0.05  # +dz moves the grasp point up
    with pytest.raises(ValueError):
        env.reset(seed=1, options={"command": "nudge the red block"})
    env.close()


def test_train_config_validation():
    with pytest.raises(ValueError):
        TrainConfig(n_steps=100, n_envs=2, batch_size=64).validate()
    with pytest.raises(ValueError):
        VLAConfig(d_model=30, n_heads=4).validate()


def test_training_command_runs_every_stage_and_resumes(tmp_path):
    """Demonstrations -> BC -> critic warm-up -> PPO -> checkpoints, then --resume continues."""
    from vla_ros.policy import train

    out = tmp_path / "run"
    common = ["--out", str(out), "--demo-episodes", "12", "--bc-epochs", "2", "--critic-warmup-steps", "256",
              "--n-steps", "256", "--batch-size", "128", "--eval-every-steps", "512", "--eval-episodes-per-verb", "1",
              "--n-envs", "1"]
    assert train.main(common + ["--total-steps", "768"]) == 0
    for f in ("demos.npz", "bc/policy.pt", "best/contract.json", "final/policy.pt", "checkpoints/last.zip",
              "eval.csv", "success.png", "snapshots/00000512/policy.pt"):
        assert (out / f).is_file(), f
    assert list((out / "tb").rglob("events.out.tfevents.*"))
    assert train.main(common + ["--total-steps", "1280", "--resume"]) == 0
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["steps"] >= 1280
    policy, contract = load_checkpoint(out / "final", expected=robot_contract())
    assert contract.training["steps"] >= 1280 and contract.training["demonstrations"]["episodes"] == 12
