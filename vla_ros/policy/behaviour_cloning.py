"""Demonstrations from the scripted expert and behaviour cloning of the actor on them.

The expert acts on privileged state; the recorded observation is what the policy sees (perception model,
no privileged pose). DART (Laskey et al., 2017): in a share of the episodes the executed action is the
expert's plus Gaussian noise while the label stays the expert's clean action, so the demonstrations cover
the states a slightly-off clone drifts into and show the way back. In some of those episodes the gripper is
also forced open for a few ticks once it has closed, so an object drops and the expert's re-grasp is shown.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from vla_ros.policy.perception import PerceptionModelParams

if TYPE_CHECKING:  # typing only: modeling_vla (and stable-baselines3) are imported inside the functions using them
    from stable_baselines3.common.policies import ActorCriticPolicy


@dataclass
class Demonstrations:
    """Recorded expert episodes as (observation, clean expert action, verb) samples, saved as one .npz."""

    obs: np.ndarray  # (N, obs_dim) float32
    actions: np.ndarray  # (N, 4) float32, the expert's clean action in the policy's action space
    verbs: np.ndarray  # (N,) verb index
    episodes: int
    successes: int

    def save(self, path: str) -> None:
        np.savez_compressed(path, obs=self.obs, actions=self.actions, verbs=self.verbs,
                            meta=np.array([self.episodes, self.successes]))

    @classmethod
    def load(cls, path: str) -> "Demonstrations":
        d = np.load(path)
        return cls(d["obs"], d["actions"], d["verbs"], int(d["meta"][0]), int(d["meta"][1]))


DROP_PROBABILITY = 0.3  # of a noisy episode: force the gripper open for DROP_TICKS once it has closed
DROP_TICKS = 4


def _collect(args: tuple[list[int], dict, float, float, int, int]) -> tuple[list, list, list, int, int]:
    seeds, perception, dart_noise, dart_fraction, max_steps, worker = args
    torch.set_num_threads(1)
    from vla_ros.policy.policy_env import PolicyEnv
    from vla_sim.expert import ScriptedExpert

    env = PolicyEnv("model", PerceptionModelParams.from_json(perception), max_episode_steps=max_steps)
    expert = ScriptedExpert(env.env)
    rng = np.random.default_rng(10_007 + worker)
    obs_l, act_l, verb_l, ok = [], [], [], 0
    verbs = env.vocab.verb_names
    for seed in tqdm(seeds, desc=f"demonstrations[{worker}]", position=worker, leave=False, mininterval=5):
        obs, info = env.reset(seed=seed)
        expert.reset()
        noisy = rng.random() < dart_fraction
        drop_at = int(rng.integers(8, 30)) if noisy and rng.random() < DROP_PROBABILITY else -1
        closed_for, done = 0, False
        while not done:
            a8 = expert.act(env.info)
            label = np.array([*a8[:3], a8[7]], dtype=np.float32)
            executed = label.copy()
            if noisy:
                executed[:3] += rng.normal(0.0, dart_noise, 3)
            closed_for = closed_for + 1 if label[3] < 0 else 0
            if drop_at > 0 and drop_at <= closed_for < drop_at + DROP_TICKS:
                executed[3] = 1.0
                if closed_for == drop_at + DROP_TICKS - 1:
                    drop_at = -1  # once per episode
            obs_l.append(obs)
            act_l.append(label)
            verb_l.append(verbs.index(info["verb"]))
            obs, _, term, trunc, info = env.step(np.clip(executed, -1, 1))
            done = term or trunc
        ok += int(info["is_success"])
    env.close()
    return obs_l, act_l, verb_l, len(seeds), ok


def collect_demonstrations(seeds: list[int], perception: PerceptionModelParams, dart_noise: float,
                           dart_fraction: float, max_steps: int, workers: int = 2) -> Demonstrations:
    """Run the expert on `seeds` in `workers` processes (DART noise on `dart_fraction` of the episodes)."""
    chunks = [seeds[i::workers] for i in range(workers)]
    jobs = [(c, perception.to_json(), dart_noise, dart_fraction, max_steps, i) for i, c in enumerate(chunks)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_collect, jobs))
    obs = np.array([o for p in parts for o in p[0]], dtype=np.float32)
    acts = np.array([a for p in parts for a in p[1]], dtype=np.float32)
    verbs = np.array([v for p in parts for v in p[2]], dtype=np.int64)
    return Demonstrations(obs, acts, verbs, sum(p[3] for p in parts), sum(p[4] for p in parts))


def bc_loss(policy: ActorCriticPolicy, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the actor's mean action and the expert's."""
    from vla_ros.policy.modeling_vla import actor_mean

    return ((actor_mean(policy, obs) - actions) ** 2).mean()


def train_bc(policy: ActorCriticPolicy, demos: Demonstrations, epochs: int, lr: float, batch: int,
             seed: int) -> dict:
    """Fit the actor's mean to the expert's actions (MSE); set the action std to the clone's residual."""
    from vla_ros.policy.modeling_vla import actor_mean, actor_parameters

    g = torch.Generator().manual_seed(seed)
    obs = torch.as_tensor(demos.obs)
    act = torch.as_tensor(demos.actions)
    n = len(obs)
    val = torch.randperm(n, generator=g)[: max(1, n // 20)]
    train_mask = torch.ones(n, dtype=torch.bool)
    train_mask[val] = False
    tr = torch.nonzero(train_mask).squeeze(1)
    params = [p for p in actor_parameters(policy) if p is not policy.log_std]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * (len(tr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
    policy.train()
    history = []
    bar = tqdm(range(epochs), desc="behaviour cloning", unit="epoch")
    for _ in bar:
        perm = tr[torch.randperm(len(tr), generator=g)]
        for i in range(len(tr) // batch):
            idx = perm[i * batch:(i + 1) * batch]
            loss = bc_loss(policy, obs[idx], act[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
        with torch.no_grad():
            vloss = float(bc_loss(policy, obs[val], act[val]))
        history.append(vloss)
        bar.set_postfix(val_mse=f"{vloss:.4f}")
    policy.eval()
    with torch.no_grad():
        residual = torch.cat([actor_mean(policy, obs[i:i + 4096]) - act[i:i + 4096] for i in range(0, n, 4096)])
        std = residual.std(0).clamp(0.05, 0.5)
        policy.log_std.copy_(torch.log(std))
    return {"val_mse": history[-1], "val_mse_history": history, "action_std": std.tolist(), "samples": n}
