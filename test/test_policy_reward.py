"""PPO's reward: the sim's outcome plus potential-based shaping, so hovering short of success earns nothing."""
import numpy as np

from vla_ros.policy.policy_env import PolicyEnv


def test_potential_shaping_telescopes_and_pays_nothing_for_standing_still():
    env = PolicyEnv("oracle", shaping_gamma=1.0, max_episode_steps=30)
    env.reset(seed=1_000_050)
    total, rewards = 0.0, []
    for k in range(30):
        action = np.array([0.0, 0.0, -0.5, 1.0]) if k < 10 else np.array([0.0, 0.0, 0.0, 1.0])
        _, r, terminated, truncated, info = env.step(action)
        total += r
        rewards.append(r)
        if terminated or truncated:
            break
    assert not terminated  # a time limit, not an outcome: with gamma 1 the sum is the last potential
    assert abs(total - env.potential(info)) < 1e-9
    assert max(abs(r) for r in rewards[-5:]) < 0.05  # standing still: the sim would pay its shaped terms every step
    env.close()
    plain = PolicyEnv("oracle", max_episode_steps=30)  # without shaping_gamma: the sim's own reward, unchanged
    plain.reset(seed=1_000_050)
    _, r, *_ , info = plain.step(np.zeros(4))
    assert r == info["reward_terms"]["reach"] * plain.env.reward_weights.reach + sum(
        info["reward_terms"][k] * getattr(plain.env.reward_weights, k) for k in ("grasp", "progress"))
    plain.close()
