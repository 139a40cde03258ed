"""The node graph's timing in the policy env: per-episode fix latency and action delay, seeded by the episode."""
import numpy as np
import pytest

from vla_ros.policy.configuration_vla import TrainConfig
from vla_ros.policy.timing import ActionDelay, TimingRange


def test_action_delay_hands_each_action_over_late_and_holds_still_until_then():
    delay = ActionDelay(2)
    a1, a2, a3 = (np.array([0.1 * k, 0.0, -0.1 * k, -1.0], np.float32) for k in (1, 2, 3))
    np.testing.assert_array_equal(delay(a1), [0.0, 0.0, 0.0, -1.0])  # no motion, the first gripper command
    np.testing.assert_array_equal(delay(a2), [0.0, 0.0, 0.0, -1.0])
    np.testing.assert_array_equal(delay(a3), a1)
    delay.reset(0)
    np.testing.assert_array_equal(delay(a2), a2)


def test_timing_range_parses_validates_and_samples_within_its_bounds():
    t = TimingRange.parse("1:3", "2")
    assert (t.fix_latency_steps, t.action_delay_steps) == ((1, 3), (2, 2))
    draws = {t.sample(np.random.default_rng(s)) for s in range(200)}
    assert {d[0] for d in draws} == {1, 2, 3} and {d[1] for d in draws} == {2}
    for bad in (("0", "0"), ("3:1", "0"), ("1", "-1:0"), ("1", "0:11")):
        with pytest.raises(ValueError):
            TimingRange.parse(*bad)
    with pytest.raises(ValueError):
        TrainConfig(action_delay_steps=(2, 1)).validate()


def test_policy_env_draws_the_timing_from_the_episode_seed_and_delays_the_arm():
    from vla_ros.policy.policy_env import PolicyEnv

    env = PolicyEnv("oracle", timing=TimingRange((1, 3), (2, 2)))
    env.reset(seed=1_000_321)
    first = env.fix_latency_steps
    ee0 = env.env.ee_pos()
    env.step(np.array([0.0, 0.0, 1.0, 1.0]))
    env.step(np.array([0.0, 0.0, 1.0, 1.0]))
    assert np.abs(env.env.ee_pos() - ee0).max() < 0.005  # the first action has not reached the arm yet
    for _ in range(8):
        env.step(np.array([0.0, 0.0, 1.0, 1.0]))
    assert env.env.ee_pos()[2] > ee0[2] + 0.03
    env.reset(seed=1_000_321)
    assert env.fix_latency_steps == first and env.action_delay.delay == 2  # replayable from the seed alone
    env.close()
    default = PolicyEnv("oracle")  # without a timing: the library loop's, the perception model's latency
    default.reset(seed=1)
    assert default.action_delay.delay == 0 and default.fix_latency_steps == default.perception.latency_steps
    default.close()
