"""Train the VLA policy: `python -m vla_ros.policy.train --out runs/policy [--resume]`.

Stages (each skipped when its output exists, so an interrupted run continues where it stopped):
  1. demonstrations: the scripted expert on training seeds (< 900,000), observations through the fitted
     perception model, DART noise on a share of episodes            -> OUT/demos.npz
  2. behaviour cloning of the actor (MSE on the expert's action); std set to the clone's residual
                                                                     -> OUT/bc/ (a loadable checkpoint)
  3. critic warm-up: PPO updates with the actor frozen, so the first advantages are not noise
  4. PPO (stable-baselines3, SubprocVecEnv over the cores) in envs with the node graph's timing (fix latency
     and action delay drawn per episode, `timing.py`), with a behaviour-cloning term after every
     update whose weight decays geometrically (DAPG-style)          -> OUT/checkpoints/last.zip (resume),
                                                                        OUT/best/ (best validation success),
                                                                        OUT/snapshots/STEPS/ (each validated one)
Progress bar, TensorBoard in OUT/tb (return, success per verb, losses, entropy, KL, explained variance),
validation on seeds 900,000-999,999 every --eval-every steps (OUT/eval.csv and OUT/success.png).
`--from-scratch` skips 1-3 and the BC term (the benchmark's "PPO from scratch" baseline).
"""
from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

from vla_ros.paths import models_dir
from vla_ros.policy.behaviour_cloning import Demonstrations, collect_demonstrations, train_bc
from vla_ros.policy.checkpoint import PolicyContract, make_contract, save_checkpoint
from vla_ros.policy.configuration_vla import TrainConfig
from vla_ros.policy.language import model_fingerprint, vocabulary_hash
from vla_ros.policy.modeling_vla import (
    actor_mean,
    actor_parameters,
    critic_from_actor,
    policy_kwargs,
    set_normalisation,
)
from vla_ros.policy.perception import PerceptionModelParams
from vla_ros.policy.policy_env import TRAIN_SEEDS, VALIDATION_SEEDS, PolicyEnv
from vla_ros.policy.rollout import policy_act_fn, run_episode, score, verb_commands
from vla_ros.policy.timing import TimingRange

DEFAULT_PERCEPTION = models_dir() / "policy" / "perception_model.json"


def make_env(rank: int, cfg: TrainConfig, perception: dict) -> Callable[[], PolicyEnv]:
    """The constructor of training env `rank` (with its own noise seed), in the form SB3's vector envs take."""

    def thunk() -> PolicyEnv:
        torch.set_num_threads(1)
        return PolicyEnv("model", PerceptionModelParams.from_json(perception), max_episode_steps=cfg.max_episode_steps,
                         seed_range=TRAIN_SEEDS, noise_seed=cfg.seed * 1000 + rank, timing=cfg.timing(),
                         shaping_gamma=cfg.gamma if cfg.potential_shaping else None)
    return thunk


class BCRegularisedPPO(PPO):
    """PPO whose every update is followed by a few behaviour-cloning steps on the demonstrations, weighted by
    `bc_weight * bc_decay ** iteration` (policy gradient plus demonstrations, as in DAPG)."""

    demos: Demonstrations | None = None
    bc_weight: float = 0.0
    bc_decay: float = 1.0
    bc_steps: int = 0
    bc_batch: int = 256
    actor_frozen: bool = False

    def train(self) -> None:
        super().train()
        w = self.bc_weight * self.bc_decay ** self._n_updates_bc() if self.demos is not None else 0.0
        self.logger.record("train/bc_weight", w)
        if w < 1e-3 or self.actor_frozen:
            return
        obs, act = torch.as_tensor(self.demos.obs), torch.as_tensor(self.demos.actions)
        params = [p for p in actor_parameters(self.policy) if p is not self.policy.log_std]
        if not hasattr(self, "_bc_opt"):
            lr = self.learning_rate if isinstance(self.learning_rate, float) else 1e-4
            self._bc_opt = torch.optim.Adam(params, lr=lr)
        losses = []
        for _ in range(self.bc_steps):
            idx = torch.randint(len(obs), (self.bc_batch,))
            loss = w * ((actor_mean(self.policy, obs[idx]) - act[idx]) ** 2).mean()
            self._bc_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
            self._bc_opt.step()
            losses.append(loss.item() / w)
        self.logger.record("train/bc_mse", float(np.mean(losses)))

    def _n_updates_bc(self) -> int:
        return self._n_updates // max(1, self.n_epochs)


def set_actor_frozen(model: BCRegularisedPPO, frozen: bool) -> None:
    """Freeze or unfreeze the actor's weights (the critic warm-up trains the critic alone)."""
    for p in actor_parameters(model.policy):
        p.requires_grad_(not frozen)
    model.actor_frozen = frozen


class TrainingMonitor(BaseCallback):
    """Per-verb success of finished training episodes, periodic validation, checkpoints, the success plot."""

    def __init__(self, out: Path, cfg: TrainConfig, eval_env: PolicyEnv, contract_fn: Callable[[dict], PolicyContract],
                 t0_offset: float, max_wall_s: float) -> None:
        super().__init__()
        self.out, self.cfg, self.eval_env, self.contract_fn = out, cfg, eval_env, contract_fn
        self.t_start = time.monotonic() - t0_offset
        self.max_wall_s = max_wall_s
        self.recent: dict[str, list[float]] = {}
        self.last_eval = -1
        self.last_ckpt = 0
        self.best = -1.0
        self.bar = None

    def wall(self) -> float:
        return time.monotonic() - self.t_start

    def _on_training_start(self) -> None:
        from tqdm import tqdm

        total = self.locals["total_timesteps"]
        self.bar = tqdm(total=total, initial=self.model.num_timesteps, desc="PPO", unit="step", mininterval=10,
                        smoothing=0.05)
        state = self.out / "checkpoints" / "state.json"
        if state.is_file():
            s = json.loads(state.read_text())
            self.best, self.last_eval = s.get("best", -1.0), s.get("last_eval", -1)
        if self.last_eval < 0:
            self.evaluate()

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        for info, done in zip(self.locals["infos"], self.locals["dones"]):
            if done:
                self.recent.setdefault(info["verb"], []).append(float(info.get("is_success", False)))
        n = self.model.num_timesteps
        if n - max(self.last_eval, 0) >= self.cfg.eval_every_steps:
            self.evaluate()
        if n - self.last_ckpt >= self.cfg.checkpoint_every_steps:
            self.checkpoint()
        return self.wall() < self.max_wall_s

    def _on_rollout_end(self) -> None:
        for verb, xs in self.recent.items():
            self.logger.record(f"rollout/success_{verb}", float(np.mean(xs[-100:])))
        self.logger.record("time/wall_s", self.wall())

    def evaluate(self) -> None:
        n = self.model.num_timesteps
        act = policy_act_fn(self.model.policy)
        outcomes = []
        lo = VALIDATION_SEEDS[0]
        for verb in self.eval_env.vocab.verb_names:
            for k in range(self.cfg.eval_episodes_per_verb):
                seed = lo + k
                outcomes.append(run_episode(self.eval_env, act, seed, verb_commands(self.eval_env, verb, seed)))
        scores = score(outcomes)
        row = {"steps": n, "wall_s": round(self.wall(), 1)}
        for verb, s in scores.items():
            row[verb] = round(s.rate, 4)
            self.logger.record(f"eval/success_{verb}", s.rate)
        self.logger.dump(n)
        path = self.out / "eval.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        print(f"[train] validation at {n} steps, {row['wall_s']} s: " +
              ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in ("steps", "wall_s")), flush=True)
        plot_success(path, self.out / "success.png")
        record = self.contract_fn({"steps": n, "wall_s": row["wall_s"], "validation": row})
        # every validated checkpoint stays loadable, so a later, larger validation can choose among them
        save_checkpoint(self.model.policy, record, self.out / "snapshots" / f"{n:08d}")
        if row["all"] > self.best:
            self.best = row["all"]
            save_checkpoint(self.model.policy, record, self.out / "best")
        self.last_eval = n
        self.checkpoint()

    def checkpoint(self) -> None:
        d = self.out / "checkpoints"
        d.mkdir(parents=True, exist_ok=True)
        self.model.save(d / "last.zip")
        (d / "state.json").write_text(json.dumps({"steps": self.model.num_timesteps, "wall_s": self.wall(),
                                                  "best": self.best, "last_eval": self.last_eval}))
        self.last_ckpt = self.model.num_timesteps

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


def plot_success(csv_path: Path, png: Path) -> None:
    """Plot validation success per verb from eval.csv against steps and against wall time, into `png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(csv_path.open()))
    if not rows:
        return
    verbs = [k for k in rows[0] if k not in ("steps", "wall_s")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, x, label in ((axes[0], "steps", "environment steps"), (axes[1], "wall_s", "wall time (s)")):
        for v in verbs:
            ax.plot([float(r[x]) for r in rows], [float(r[v]) for r in rows], marker="o", label=v)
        ax.set_xlabel(label)
        ax.set_ylabel("validation success")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{csv_path.parent.name}: success per verb (validation seeds {VALIDATION_SEEDS[0]}+)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, argparse.Namespace]:
    """The command line as a validated `TrainConfig`, plus the flags that are not part of it (out, resume, ...)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    d = TrainConfig()
    ap.add_argument("--out", default=d.out)
    ap.add_argument("--perception", type=Path, default=DEFAULT_PERCEPTION, help="fitted perception model JSON")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.zip")
    ap.add_argument("--from-scratch", action="store_true", help="no demonstrations, no BC (baseline)")
    ap.add_argument("--max-wall-s", type=float, default=float("inf"), help="stop PPO after this much wall time")
    ap.add_argument("--log-std-init", type=float, default=d.model.log_std_init,
                    help="initial log std of the actions (BC overwrites it with the clone's residual)")
    for name in ("seed", "demo_episodes", "bc_epochs", "total_steps", "critic_warmup_steps", "n_envs", "n_steps",
                 "batch_size", "n_epochs", "eval_every_steps", "eval_episodes_per_verb", "bc_steps_per_update"):
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "clip_range", "ent_coef", "bc_weight", "bc_decay", "dart_noise", "dart_fraction", "bc_lr",
                 "target_kl", "gamma"):
        ap.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    ap.add_argument("--sim-reward", action="store_true", help="PPO on the sim's own per-step shaped reward instead of "
                    "its outcome + potential-based shaping")
    ap.add_argument("--fix-latency-steps", default="{}:{}".format(*d.fix_latency_steps),
                    help="range LO:HI (or N) of grounder-fix latency, control steps, per PPO episode")
    ap.add_argument("--action-delay-steps", default="{}:{}".format(*d.action_delay_steps),
                    help="range LO:HI (or N) of action delay, control steps, per PPO episode")
    args = ap.parse_args(argv)
    timing = TimingRange.parse(args.fix_latency_steps, args.action_delay_steps)
    cfg = replace(d, **{k: getattr(args, k) for k in d.as_dict()
                        if k not in ("model", "fix_latency_steps", "action_delay_steps") and hasattr(args, k)},
                  fix_latency_steps=timing.fix_latency_steps, action_delay_steps=timing.action_delay_steps,
                  potential_shaping=not args.sim_reward,
                  model=replace(d.model, log_std_init=args.log_std_init))
    cfg.validate()
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    """Run the training stages of the module docstring, skipping those whose output exists."""
    cfg, args = parse_args(argv)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    given = argv if argv is not None else sys.argv[1:]
    command = "python -m vla_ros.policy.train " + " ".join(shlex.quote(a) for a in given)
    (out / "command.txt").write_text(command + "\n")
    perception = PerceptionModelParams.load(args.perception)
    eval_env = PolicyEnv("model", perception, max_episode_steps=cfg.max_episode_steps, seed_range=VALIDATION_SEEDS,
                         timing=cfg.timing())
    layout, vocab = eval_env.layout, eval_env.vocab
    timings: dict[str, float] = {}
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}

    def contract(training: dict) -> PolicyContract:
        return make_contract(layout, cfg.model, vocabulary_hash(vocab), model_fingerprint(""), perception.to_json(),
                             {"command": command, "config": cfg.as_dict(), "train_seeds": list(TRAIN_SEEDS),
                              "validation_seeds": list(VALIDATION_SEEDS), **meta, **training})

    demos = None
    if not args.from_scratch:
        demo_path = out / "demos.npz"
        if demo_path.is_file():
            demos = Demonstrations.load(str(demo_path))
        else:
            t0 = time.monotonic()
            seeds = list(range(cfg.seed * 100_000, cfg.seed * 100_000 + cfg.demo_episodes))
            demos = collect_demonstrations(seeds, perception, cfg.dart_noise, cfg.dart_fraction, cfg.max_episode_steps,
                                           workers=cfg.n_envs)
            demos.save(str(demo_path))
            meta["demonstrations"] = {"episodes": demos.episodes, "expert_successes": demos.successes,
                                      "samples": len(demos.obs), "seeds": [seeds[0], seeds[-1]],
                                      "wall_s": round(time.monotonic() - t0, 1)}
            meta_path.write_text(json.dumps(meta, indent=2))
        print(f"[train] demonstrations: {json.dumps(meta.get('demonstrations', {}))}", flush=True)

    kwargs = policy_kwargs(layout, cfg.model)
    venv_cls = SubprocVecEnv if cfg.n_envs > 1 else DummyVecEnv
    venv = VecMonitor(venv_cls([make_env(i, cfg, perception.to_json()) for i in range(cfg.n_envs)]))
    last = out / "checkpoints" / "last.zip"
    ppo_args = dict(learning_rate=cfg.lr, n_steps=cfg.n_steps, batch_size=cfg.batch_size, n_epochs=cfg.n_epochs,
                    gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range, ent_coef=cfg.ent_coef,
                    vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm,
                    target_kl=cfg.target_kl if cfg.target_kl > 0 else None,
                    tensorboard_log=str(out / "tb"), seed=cfg.seed, device="cpu", verbose=0)
    wall_offset = 0.0
    if args.resume and last.is_file():
        model = BCRegularisedPPO.load(last, env=venv, device="cpu", **{k: v for k, v in ppo_args.items()
                                                                        if k not in ("seed", "device")})
        state = json.loads((out / "checkpoints" / "state.json").read_text())
        wall_offset = state.get("wall_s", 0.0)
        print(f"[train] resumed from {last} at {model.num_timesteps} steps", flush=True)
    else:
        model = BCRegularisedPPO("MlpPolicy", venv, policy_kwargs=kwargs, **ppo_args)
        if demos is not None:
            bc_dir = out / "bc"
            if (bc_dir / "policy.pt").is_file():
                model.policy.load_state_dict(torch.load(bc_dir / "policy.pt", weights_only=True))
            else:
                t0 = time.monotonic()
                set_normalisation(model.policy, demos.obs.mean(0), demos.obs.std(0))
                bc = train_bc(model.policy, demos, cfg.bc_epochs, cfg.bc_lr, cfg.bc_batch, cfg.seed)
                meta["bc"] = {**{k: v for k, v in bc.items() if k != "val_mse_history"},
                              "wall_s": round(time.monotonic() - t0, 1)}
                meta_path.write_text(json.dumps(meta, indent=2))
                critic_from_actor(model.policy)
                save_checkpoint(model.policy, contract({"stage": "behaviour cloning only"}), bc_dir)
            print(f"[train] behaviour cloning: {json.dumps(meta.get('bc', {}))}", flush=True)
        else:  # normalisation from random rollouts of the scratch policy's own env
            obs = np.array([eval_env.reset(seed=VALIDATION_SEEDS[0] + i)[0] for i in range(200)])
            set_normalisation(model.policy, obs.mean(0), obs.std(0))
    model.demos = demos
    model.bc_weight = 0.0 if demos is None else cfg.bc_weight
    model.bc_decay, model.bc_steps, model.bc_batch = cfg.bc_decay, cfg.bc_steps_per_update, cfg.bc_batch

    monitor = TrainingMonitor(out, cfg, eval_env, contract, wall_offset, args.max_wall_s)
    t_ppo = time.monotonic()
    if demos is not None and model.num_timesteps < cfg.critic_warmup_steps:
        set_actor_frozen(model, True)
        model.learn(cfg.critic_warmup_steps - model.num_timesteps, callback=monitor, reset_num_timesteps=False,
                    tb_log_name="ppo")
        set_actor_frozen(model, False)
    remaining = cfg.total_steps - model.num_timesteps
    if remaining > 0 and monitor.wall() < args.max_wall_s:
        model.learn(remaining, callback=monitor, reset_num_timesteps=False, tb_log_name="ppo")
    monitor.evaluate()
    timings["ppo_wall_s"] = round(time.monotonic() - t_ppo, 1)
    save_checkpoint(model.policy, contract({"steps": model.num_timesteps, "wall_s": round(monitor.wall(), 1),
                                            "stage": "final"}), out / "final")
    print(f"[train] done: {model.num_timesteps} steps, {monitor.wall():.0f} s; best validation {monitor.best:.3f} "
          f"in {out / 'best'}", flush=True)
    venv.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
