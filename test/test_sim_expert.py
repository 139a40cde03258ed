"""The scripted expert solves every verb (the long per-verb rates are in benchmarks/sim_bench.py)."""
import pytest

from vla_sim.env import TabletopEnv
from vla_sim.expert import ScriptedExpert

COMMANDS = {
    "pick": lambda phrase, s: f"pick up the {phrase}",
    "push": lambda phrase, s: f"push the {phrase} {['to the left', 'to the right', 'forward', 'back'][s % 4]}",
    "touch": lambda phrase, s: f"touch the {phrase}",
}


def run_episode(env: TabletopEnv, expert: ScriptedExpert, seed: int, verb: str) -> dict:
    _, info = env.reset(seed=seed)
    phrase = info["objects"][info["target_id"] - 1]["phrase"]
    _, info = env.reset(seed=seed, options={"command": COMMANDS[verb](phrase, seed)})
    for _ in range(env.config.max_episode_steps):
        _, _, terminated, _, info = env.step(expert.act(info))
        if terminated:
            break
    return info


@pytest.mark.parametrize("mode,seeds", [("ee_delta", range(5)), ("joint_delta", range(100, 103))])
@pytest.mark.parametrize("verb", ["pick", "push", "touch"])
def test_expert_solves_each_verb(mode, seeds, verb):
    env = TabletopEnv(obs_images=False, action_mode=mode, max_objects=4)
    expert = ScriptedExpert(env)
    for seed in seeds:
        info = run_episode(env, expert, seed, verb)
        assert info["is_success"], (mode, verb, seed, info["instruction"], info["failure_reason"])
        assert info["failure_reason"] is None
    env.close()


def test_lifting_the_wrong_object_fails_with_a_reason():
    env = TabletopEnv(obs_images=False, action_mode="ee_delta", min_objects=2, max_objects=2)
    expert = ScriptedExpert(env)
    _, info = env.reset(seed=3, options={"command": "pick up the red block"})
    assert len(info["objects"]) == 2
    other = info["objects"][1 - (info["target_id"] - 1)]["phrase"]
    target = "red block"
    info = dict(info, target_id=3 - info["target_id"])  # steer the expert to the distractor
    for _ in range(150):
        _, reward, terminated, _, step_info = env.step(expert.act(info))
        info = dict(step_info, target_id=info["target_id"])
        if terminated:
            break
    assert terminated and not step_info["is_success"]
    assert step_info["failure_reason"] == f"lifted the {other}, not the {target}"
    assert reward < 0
    env.close()
