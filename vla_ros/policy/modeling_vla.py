"""The VLA network: language, command, target and proprioception tokens -> TransformerEncoder -> MLP heads.

`VLATokenExtractor` is a stable-baselines3 `BaseFeaturesExtractor` (SB3 builds the actor and critic MLP
heads on top of it from `net_arch`), so PPO trains the very module the ROS node runs. Observation
normalisation (mean/std of the continuous entries, from the demonstrations) lives inside it as buffers,
so it travels with the weights.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from vla_ros.policy.configuration_vla import VLAConfig
from vla_ros.policy.observation import ObservationLayout

TOKENS = ("cls", "text", "command", "target", "proprio")


class VLATokenExtractor(BaseFeaturesExtractor):
    """The policy's shared body: observation -> language, command, target and proprioception tokens -> transformer
    features, with the observation normalisation stored as buffers."""

    def __init__(self, observation_space: gym.spaces.Box, layout: dict, config: dict) -> None:
        cfg = VLAConfig(**{**config, "pi_layers": tuple(config.get("pi_layers", ())),
                           "vf_layers": tuple(config.get("vf_layers", ()))})
        lay = ObservationLayout(**{k: layout[k] for k in ("text_dim", "n_verbs", "n_directions", "target_dim",
                                                           "proprio_dim")})
        super().__init__(observation_space, features_dim=cfg.d_model * len(TOKENS))
        d = cfg.d_model
        self.layout = lay
        self.slices = lay.slices
        self.register_buffer("obs_mean", torch.zeros(lay.size))
        self.register_buffer("obs_std", torch.ones(lay.size))
        self.text = nn.Linear(lay.text_dim, d)
        self.verb = nn.Embedding(lay.n_verbs, d)
        self.direction = nn.Embedding(lay.n_directions + 1, d)
        self.target = nn.Sequential(nn.Linear(lay.target_dim, d), nn.GELU(), nn.Linear(d, d))
        self.proprio = nn.Sequential(nn.Linear(lay.proprio_dim, d), nn.GELU(), nn.Linear(d, d))
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.kind = nn.Parameter(torch.randn(1, len(TOKENS), d) * 0.02)  # which token is which
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.ff_dim, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def set_normalisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        mask = torch.as_tensor(self.layout.continuous_mask())
        m = torch.as_tensor(mean, dtype=torch.float32)
        s = torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3)
        self.obs_mean.copy_(torch.where(mask, m, torch.zeros_like(m)))
        self.obs_std.copy_(torch.where(mask, s, torch.ones_like(s)))

    def tokens(self, obs: torch.Tensor) -> torch.Tensor:
        x = (obs - self.obs_mean) / self.obs_std
        s = self.slices
        ids = obs[:, s["command"]].round().long()
        b = obs.shape[0]
        toks = torch.stack([
            self.cls.expand(b, 1, -1)[:, 0],
            self.text(x[:, s["text"]]),
            self.verb(ids[:, 0]) + self.direction(ids[:, 1]),
            self.target(x[:, s["target"]]),
            self.proprio(x[:, s["proprio"]]),
        ], dim=1)
        return toks + self.kind

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.norm(self.encoder(self.tokens(obs))).flatten(1)


def policy_kwargs(layout: ObservationLayout, config: VLAConfig) -> dict:
    """What SB3's PPO takes as `policy_kwargs` to build this actor-critic."""
    cfg = {**config.__dict__, "pi_layers": list(config.pi_layers), "vf_layers": list(config.vf_layers)}
    lay = {k: v for k, v in layout.as_dict().items() if not k.endswith("_fields")}
    return {
        "features_extractor_class": VLATokenExtractor,
        "features_extractor_kwargs": {"layout": lay, "config": cfg},
        "net_arch": {"pi": list(config.pi_layers), "vf": list(config.vf_layers)},
        "activation_fn": nn.GELU,
        "log_std_init": config.log_std_init,
        "ortho_init": False,  # keep the transformer's own init
        "share_features_extractor": config.share_extractor,
    }


def build_policy(layout: ObservationLayout, config: VLAConfig) -> ActorCriticPolicy:
    """A stand-alone actor-critic (what the node and evaluation load weights into)."""
    obs_space = gym.spaces.Box(-np.inf, np.inf, (layout.size,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    return ActorCriticPolicy(obs_space, act_space, lambda _: 0.0, **policy_kwargs(layout, config))


def actor_mean(policy: ActorCriticPolicy, obs: torch.Tensor) -> torch.Tensor:
    """The Gaussian's mean (what behaviour cloning fits and the deployed policy executes)."""
    features = policy.pi_features_extractor(obs.float())  # a Box observation needs no SB3 preprocessing
    latent_pi = policy.mlp_extractor.forward_actor(features)
    return policy.action_net(latent_pi)


def policy_act_fn(policy: ActorCriticPolicy) -> Callable[[np.ndarray], np.ndarray]:
    """The act function obs (D,) -> the deterministic action (the Gaussian's mean) clipped to [-1, 1]: what
    evaluation and the node execute."""

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            a = actor_mean(policy, torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
        return np.clip(a, -1.0, 1.0)

    return act


def set_normalisation(policy: ActorCriticPolicy, mean: np.ndarray, std: np.ndarray) -> None:
    """Observation statistics into every extractor (one if shared, actor's and critic's otherwise)."""
    for ext in {id(e): e for e in (policy.pi_features_extractor, policy.vf_features_extractor)}.values():
        ext.set_normalisation(mean, std)


def critic_from_actor(policy: ActorCriticPolicy) -> None:
    """Start an unshared critic extractor from the (behaviour-cloned) actor's: a better start than random."""
    if policy.vf_features_extractor is not policy.pi_features_extractor:
        policy.vf_features_extractor.load_state_dict(policy.pi_features_extractor.state_dict())


def actor_parameters(policy: ActorCriticPolicy) -> list[nn.Parameter]:
    """The parameters that shape the action (actor extractor, actor MLP, action head, log std), not the critic's."""
    return [*policy.pi_features_extractor.parameters(), *policy.mlp_extractor.policy_net.parameters(),
            *policy.action_net.parameters(), policy.log_std]
