"""The shipped policy: weights plus a contract that says exactly what they expect, checked at load.

A checkpoint directory holds `policy.pt` (the actor-critic's state dict) and `contract.json`: joint names and
order, action space with units and scale, control rate, observation layout, normalisation statistics (also
inside the weights), vocabulary hash, the grounding model (id + weights hash) the language embeddings and
perception model came from, the fitted perception model, the training command and the measured results.
`load_checkpoint` refuses a checkpoint whose contract disagrees with what the caller runs, and says what
differs, instead of driving an arm with a misread action.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from vla_ros.policy.configuration_vla import VLAConfig
from vla_ros.policy.observation import ObservationLayout

CONTRACT_FILE = "contract.json"
WEIGHTS_FILE = "policy.pt"
CONTRACT_VERSION = 1


class ContractMismatch(RuntimeError):
    """The checkpoint was trained for something other than what it is being run on."""


@dataclass
class PolicyContract:
    """What a checkpoint's weights expect (contract.json): joints, action, rates, observation layout, vocabulary,
    grounding and perception models, and how it was trained."""

    joint_names: list[str]
    action: dict  # {"mode": "ee_delta", "fields": [...], "unit": ..., "scale_per_tick_m": ..., ...}
    control_hz: float
    layout: dict  # ObservationLayout.as_dict()
    vocabulary_hash: str
    grounding_model: dict  # {"model": ..., "weights_sha256_16": ...}
    model_config: dict  # VLAConfig
    perception_model: dict
    training: dict = field(default_factory=dict)  # command, seeds, steps, wall time, results
    version: int = CONTRACT_VERSION

    def observation_layout(self) -> ObservationLayout:
        return ObservationLayout(**{k: self.layout[k] for k in ("text_dim", "n_verbs", "n_directions",
                                                                "target_dim", "proprio_dim")})

    def vla_config(self) -> VLAConfig:
        c = dict(self.model_config)
        return VLAConfig(**{**c, "pi_layers": tuple(c["pi_layers"]), "vf_layers": tuple(c["vf_layers"])})

    def differences(self, expected: dict) -> list[str]:
        """What differs from `expected` (keys: any contract field; dict values compare per key present)."""
        out = []
        mine = asdict(self)
        for key, want in expected.items():
            have = mine.get(key)
            if isinstance(want, dict) and isinstance(have, dict):
                for k, v in want.items():
                    if have.get(k) != v:
                        out.append(f"{key}.{k}: checkpoint has {have.get(k)!r}, this robot/config has {v!r}")
            elif have != want:
                out.append(f"{key}: checkpoint has {have!r}, this robot/config has {want!r}")
        return out


def save_checkpoint(policy, contract: PolicyContract, directory: Path) -> None:
    """Write the policy's weights and its contract into `directory` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(policy.state_dict(), directory / WEIGHTS_FILE)
    (directory / CONTRACT_FILE).write_text(json.dumps(asdict(contract), indent=2) + "\n")


def read_contract(directory: Path) -> PolicyContract:
    """The contract of the checkpoint in `directory`, without loading weights; says what to do if there is none."""
    path = Path(directory) / CONTRACT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a policy checkpoint (train one with "
                                "`python -m vla_ros.policy.train`, or use the shipped models/policy)")
    data = json.loads(path.read_text())
    if data.get("version") != CONTRACT_VERSION:
        raise ContractMismatch(f"{path}: contract version {data.get('version')} is not {CONTRACT_VERSION}")
    return PolicyContract(**data)


def load_checkpoint(directory: Path, expected: dict | None = None):
    """(policy in eval mode, contract); ContractMismatch if `expected` disagrees with the contract."""
    from vla_ros.policy.modeling_vla import build_policy

    contract = read_contract(directory)
    diffs = contract.differences(expected or {})
    if diffs:
        raise ContractMismatch(f"policy {directory} does not fit: " + "; ".join(diffs))
    policy = build_policy(contract.observation_layout(), contract.vla_config())
    weights = Path(directory) / WEIGHTS_FILE
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        policy.load_state_dict(state)
    except (OSError, RuntimeError) as exc:
        raise RuntimeError(f"could not load policy weights {weights}: {exc}") from exc
    return policy.eval(), contract


def robot_contract() -> dict:
    """What this package's sim and kinematics provide: what a checkpoint must have been trained for."""
    from vla_sim.env import ACTION_SPEC, ARM_JOINT_NAMES, CONTROL_HZ

    return {"joint_names": list(ARM_JOINT_NAMES), "control_hz": CONTROL_HZ,
            "action": {"mode": "ee_delta", "scale_per_tick_m": ACTION_SPEC["ee_delta"]["scale_per_tick"],
                       "frame": ACTION_SPEC["ee_delta"]["frame"]}}


def make_contract(layout: ObservationLayout, config: VLAConfig, vocab_hash: str, grounding: dict, perception: dict,
                  training: dict) -> PolicyContract:
    """The contract for weights trained by this package: the sim's action spec and joints plus the given parts."""
    from vla_sim.env import ACTION_SPEC, ARM_JOINT_NAMES, CONTROL_HZ, GRIPPER_MAX_OPENING_M

    action = {"mode": "ee_delta", "fields": ["dx", "dy", "dz", "gripper"], "low": -1.0, "high": 1.0,
              "unit": "m per tick for dx, dy, dz (times scale_per_tick_m); gripper -1 closed .. +1 open",
              "scale_per_tick_m": ACTION_SPEC["ee_delta"]["scale_per_tick"], "frame": ACTION_SPEC["ee_delta"]["frame"],
              "orientation": ACTION_SPEC["ee_delta"]["orientation"], "bounds_m": ACTION_SPEC["ee_delta"]["bounds"],
              "gripper_max_opening_m": GRIPPER_MAX_OPENING_M}
    return PolicyContract(list(ARM_JOINT_NAMES), action, CONTROL_HZ, layout.as_dict(), vocab_hash, grounding,
                          {**asdict(config), "pi_layers": list(config.pi_layers), "vf_layers": list(config.vf_layers)},
                          perception, training)
