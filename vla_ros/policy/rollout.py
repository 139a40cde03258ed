"""Run episodes of a policy (or the expert, or random actions) in `PolicyEnv` and score them per verb."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from vla_ros.stats import wilson95

ActFn = Callable[[np.ndarray, "object"], np.ndarray]


@dataclass
class EpisodeOutcome:
    """How one evaluation episode ended: its seed and command, success, the reason and its length in steps."""

    seed: int
    verb: str
    instruction: str
    success: bool
    reason: str
    steps: int


@dataclass
class VerbScore:
    """Success count, seeds and failure reasons of the episodes of one verb (or "all"), with its 95% interval."""

    episodes: int = 0
    successes: int = 0
    seeds: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0

    def wilson95(self) -> tuple[float, float]:
        """95% Wilson score interval of the success rate."""
        return wilson95(self.successes, self.episodes)

    def as_dict(self) -> dict:
        lo, hi = self.wilson95()
        return {**asdict(self), "success_rate": round(self.rate, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def policy_act_fn(policy) -> ActFn:
    """Deterministic action (the Gaussian's mean) of an SB3 actor-critic, clipped to the action box."""
    from vla_ros.policy.modeling_vla import policy_act_fn as act_fn

    act = act_fn(policy)
    return lambda obs, env: act(obs)


def expert_act_fn(env) -> ActFn:
    """The scripted expert (privileged state) as an act function for `env`: the reference for the policy."""
    from vla_sim.expert import ScriptedExpert

    expert = ScriptedExpert(env.env)

    def act(obs: np.ndarray, e) -> np.ndarray:
        a8 = expert.act(e.info)
        return np.array([*a8[:3], a8[7]], dtype=np.float32)

    return act


def random_act_fn(seed: int = 0) -> ActFn:
    """Seeded uniform random actions: the chance baseline."""
    rng = np.random.default_rng(seed)
    return lambda obs, env: rng.uniform(-1.0, 1.0, 4).astype(np.float32)


def run_episode(env, act: ActFn, seed: int, command: str | None = None,
                on_step: Callable[[object], None] | None = None) -> EpisodeOutcome:
    """Play one episode of scene `seed` (with `command`, or the sampled one) until it ends; `on_step` sees each step."""
    obs, info = env.reset(seed=seed, options={"command": command} if command else None)
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(act(obs, env))
        done = term or trunc
        if on_step is not None:
            on_step(env)
    reason = "success" if info["is_success"] else (info["failure_reason"] or "time limit")
    return EpisodeOutcome(seed, info["verb"], info["instruction"], bool(info["is_success"]), reason, env.env.steps)


def score(outcomes: list[EpisodeOutcome]) -> dict[str, VerbScore]:
    """Outcomes grouped into a `VerbScore` per verb, plus "all"."""
    out: dict[str, VerbScore] = {}
    for o in outcomes:
        for key in (o.verb, "all"):
            s = out.setdefault(key, VerbScore())
            s.episodes += 1
            s.successes += int(o.success)
            s.seeds.append(o.seed)
            if not o.success:
                s.failures[o.reason] = s.failures.get(o.reason, 0) + 1
    return out


def verb_commands(env, verb: str, seed: int) -> str:
    """A seeded command for `verb` (evaluation balances verbs): the sim's own sampler on that seed, re-drawn
    until it gives the verb, so every verb's scenes are as varied as the sampler makes them."""
    from vla_sim.task_sampler import sample_task

    rng = np.random.default_rng(seed)
    while True:
        task = sample_task(rng, env.vocab, env.env.scene.slots, env.env.config.min_objects,
                           env.env.config.max_objects)
        if task.command.verb == verb:
            return task.instruction
