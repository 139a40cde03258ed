"""`PolicyEnv`: the tabletop env as the policy sees it, for training (SB3) and evaluation.

Wraps `TabletopEnv` in `ee_delta` mode: a flat Box observation (`observation.build_observation`) instead of
a Dict with a Text space (SB3 cannot build a policy for `Text`), and a 4-D action (dx, dy, dz, gripper) that
maps onto the env's 8-D `ee_delta` action. The target token comes from a `TargetTracker` fed by
  - "model": `SimulatedGrounder` (training; no rendering),
  - "real": the real `Grounder` on rendered RGB-D frames (evaluation with the grounder in the loop),
  - "oracle": the exact object centre every step (a reference, never what a robot has).
Scene seeds: given to reset() (evaluation) or drawn from `seed_range` (training draws below 1,000,000).
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from vla_ros.policy.language import TextEncoder
from vla_ros.policy.observation import ObservationLayout, Proprio, build_observation, command_ids
from vla_ros.policy.perception import Fix, PerceptionModelParams, SimulatedGrounder, TargetTracker, UpdateSchedule
from vla_ros.policy.timing import ActionDelay, TimingRange
from vla_ros.vocabulary import Command

TRAIN_SEEDS = (0, 900_000)
VALIDATION_SEEDS = (900_000, 1_000_000)
GROUNDERS = ("model", "real", "oracle")
# Input ablations for the benchmark: the language inputs of a *different* command (another verb or direction)
# in place of the real one, to measure which of the two the policy acts on.
ABLATIONS = ("", "text", "command_ids")


def env_action(action: np.ndarray) -> np.ndarray:
    """Policy action (dx, dy, dz, gripper) in [-1, 1] -> the env's 8-D ee_delta action."""
    a = np.zeros(8, dtype=np.float32)
    a[:3] = action[:3]
    a[7] = action[3]
    return a


class PolicyEnv(gym.Env):
    """The sim as the policy sees it: `TabletopEnv` in ee_delta mode behind the deployed observation (text
    embedding, command ids, tracked grounder target, proprioception) and a 4-D action."""

    metadata = {"render_modes": []}

    def __init__(self, grounder: str = "model", perception: PerceptionModelParams | None = None,
                 text_encoder: TextEncoder | None = None, grounding_model: str = "", min_objects: int = 2,
                 max_objects: int = 4, max_episode_steps: int = 150, seed_range: tuple[int, int] = TRAIN_SEEDS,
                 image_size: int = 224, noise_seed: int = 0, ablate: str = "",
                 timing: TimingRange | None = None, shaping_gamma: float | None = None) -> None:
        from vla_sim.env import CONTROL_HZ, TabletopEnv

        if ablate not in ABLATIONS:
            raise ValueError(f"ablate must be one of {ABLATIONS}, not {ablate!r}")
        self.ablate = ablate
        if grounder not in GROUNDERS:
            raise ValueError(f"grounder must be one of {GROUNDERS}, not {grounder!r}")
        self.grounder_kind = grounder
        self.env = TabletopEnv(obs_images=False, action_mode="ee_delta", min_objects=min_objects,
                               max_objects=max_objects, max_episode_steps=max_episode_steps, image_size=image_size)
        self.vocab = self.env.vocab
        self.dt = 1.0 / CONTROL_HZ
        self.text = text_encoder or TextEncoder(grounding_model)
        self.layout = ObservationLayout.for_vocabulary(self.vocab, self.text.dim)
        self.perception = perception or PerceptionModelParams()
        self.timing = timing or TimingRange((self.perception.latency_steps,) * 2, (0, 0))
        self.timing.validate()
        self.action_delay = ActionDelay()
        self.shaping_gamma = shaping_gamma
        self._potential = 0.0
        self.fix_latency_steps = self.perception.latency_steps
        self.seed_range = seed_range
        self._seed_rng = np.random.default_rng(noise_seed)
        self.tracker = TargetTracker()
        self.sim_grounder = SimulatedGrounder(self.perception, np.random.default_rng(noise_seed + 7919))
        self.real = (RealGrounderSource(self.env, grounding_model, image_size, self.perception)
                     if grounder == "real" else None)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.layout.size,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._info: dict[str, Any] = {}
        self._gripper_prev = 0.0
        self.episode_seed = -1

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        if seed is None:
            seed = int(self._seed_rng.integers(*self.seed_range))
        self.episode_seed = seed
        _, info = self.env.reset(seed=seed, options=options)
        # Perception noise is seeded by the scene seed too, so an evaluation episode is reproducible alone.
        self.sim_grounder.rng = np.random.default_rng(seed + 104_729)
        self.fix_latency_steps, delay = self.timing.sample(np.random.default_rng(seed + 7_919))
        self.action_delay.reset(delay)
        self.sim_grounder.reset()
        self.sim_grounder.schedule.latency = self.fix_latency_steps
        self.tracker.reset()
        if self.real is not None:
            self.real.reset(info["instruction"])
            self.real.schedule.latency = self.fix_latency_steps
        cmd = info["command"]
        self._ids = command_ids(self.vocab, Command(cmd["verb"], cmd["color"], cmd["shape"], cmd["direction"]))
        self._text = self.text.embed(info["instruction"])
        if self.ablate:
            other = self._other_command(cmd)
            if self.ablate == "text":
                self._text = self.text.embed(self.vocab.render(other))
            else:
                self._ids = command_ids(self.vocab, other)
        self._gripper_prev = self.env.gripper_opening()
        self._perceive(info)
        self._info = info
        self._potential = self.potential(info)
        return self._obs(), self._with_episode(info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = self.action_delay(np.clip(np.asarray(action, dtype=np.float32).reshape(4), -1.0, 1.0))
        self._gripper_prev = self.env.gripper_opening()
        _, reward, terminated, truncated, info = self.env.step(env_action(a))
        self.tracker.advance(self.dt)
        self._perceive(info)
        self._info = info
        if self.shaping_gamma is not None:
            reward = self.shaped_reward(info, terminated)
        return self._obs(), float(reward), terminated, truncated, self._with_episode(info)

    # ------------------------------------------------------------------ reward
    def potential(self, info: dict) -> float:
        """Phi(s): the sim's shaped terms (reach, grasp, progress; each in [0, 1]) with the sim's weights."""
        w, terms = self.env.reward_weights, info.get("reward_terms") or {}
        return w.reach * terms.get("reach", 0.0) + w.grasp * terms.get("grasp", 0.0) + w.progress * terms.get(
            "progress", 0.0)

    def shaped_reward(self, info: dict, terminated: bool) -> float:
        """The sim's sparse outcome plus potential-based shaping, gamma * Phi(s') - Phi(s) (Ng, Harada and Russell,
        1999), with Phi = 0 once the episode has ended. The sim's own reward pays the shaped terms every step, so
        hovering just short of success (an object held below the lift height) earns more than finishing; with a
        potential difference the best policy is the one that succeeds, as fast as the discount asks."""
        w = self.env.reward_weights
        outcome = w.success * float(info.get("is_success", False)) + w.failure * float(
            info.get("failure_reason") is not None)
        phi = 0.0 if terminated else self.potential(info)
        reward = outcome + self.shaping_gamma * phi - self._potential
        self._potential = phi
        return reward

    # ------------------------------------------------------------------ internals
    def _other_command(self, cmd: dict) -> Command:
        """A seeded command with the same object but another verb, or for push another direction."""
        rng = np.random.default_rng(self.episode_seed + 31)
        options = [c for c in self.vocab.all_commands() if c.color == cmd["color"] and c.shape == cmd["shape"]
                   and (c.verb, c.direction) != (cmd["verb"], cmd["direction"])]
        return options[int(rng.integers(len(options)))]

    def _with_episode(self, info: dict) -> dict:
        info = dict(info)
        info["verb"] = info["command"]["verb"]
        info["episode_seed"] = self.episode_seed
        return info

    def _perceive(self, info: dict) -> None:
        target = info["objects"][info["target_id"] - 1]
        if self.grounder_kind == "oracle":
            fixes = [Fix(np.asarray(target["pos"], dtype=np.float64), 1.0, self.perception.bbox_wh)]
        elif self.grounder_kind == "model":
            fixes = self.sim_grounder.step(np.asarray(target["pos"]), target["half_height"], info["ee_pos"])
        else:
            fixes = self.real.step()
        for fix in fixes:
            self.tracker.update(fix)

    def proprio(self) -> Proprio:
        q, dq = self.env.joint_positions(), self.env.joint_velocities()
        g = self.env.gripper_opening()
        return Proprio(q[:7], dq[:7], g, (g - self._gripper_prev) / self.dt, self.env.ee_pos())

    def _obs(self) -> np.ndarray:
        return build_observation(self.layout, self._text, self._ids, self.tracker.fix(), self.proprio())

    @property
    def info(self) -> dict:
        return self._info

    def close(self) -> None:
        self.env.close()


class RealGrounderSource:
    """The real grounder in the loop: renders the front RGB-D camera every `update_period_steps`, grounds the
    instruction's phrase, deprojects with the camera pose into the base frame, and delivers the fix
    `latency_steps` later, as the node graph does."""

    def __init__(self, env: Any, grounding_model: str, image_size: int, perception: PerceptionModelParams) -> None:
        from vla_ros.grounding import Grounder, GrounderConfig

        self.env = env
        self.size = image_size
        self.p = perception
        self.grounder = Grounder(GrounderConfig(model=grounding_model or "clipseg-sim", device="cpu", num_threads=1))
        self.last_result: Any = None
        self.last_rgb: np.ndarray | None = None
        self.schedule = UpdateSchedule(perception.update_period_steps, perception.latency_steps)

    def reset(self, instruction: str) -> None:
        parsed = self.grounder.vocab.parse(instruction)
        self.phrase = parsed.target_phrase
        self.schedule.reset()

    def step(self) -> list[Fix]:
        return self.schedule.step(self.ground)

    def ground(self) -> Fix:
        info = self.env.camera_info("front", self.size)
        rgb = self.env.render_rgb("front", self.size)
        depth = self.env.render_depth("front", self.size)[..., 0]
        result = self.grounder.ground_phrase(rgb, self.phrase, depth, (info.fx, info.fy, info.cx, info.cy))
        self.last_result, self.last_rgb = result, rgb
        if not result.found or result.point_camera is None:
            return Fix(None, float(result.score))
        point = info.position + info.rotation @ np.asarray(result.point_camera)
        u0, v0, u1, v1 = result.bbox
        return Fix(point, float(result.score), ((u1 - u0 + 1) / self.size, (v1 - v0 + 1) / self.size))
