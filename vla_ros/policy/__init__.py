"""The VLA policy: language, perception and proprioception tokens -> transformer encoder -> MLP heads,
trained by behaviour cloning from the scripted expert and PPO in the sim (no rclpy here).

Modules: `configuration_vla` (validated configs), `observation` (the token layout, built once for training
and the node), `perception` (grounder model + tracker), `language` (text embedding), `modeling_vla` (the
network as an SB3 features extractor), `policy_env` (the sim as the policy sees it), `behaviour_cloning`,
`train`, `evaluate`, `checkpoint` (weights + contract), `export`, `perception_fit`.
"""
from vla_ros.policy.checkpoint import ContractMismatch, PolicyContract, load_checkpoint
from vla_ros.policy.configuration_vla import TrainConfig, VLAConfig

__all__ = ["ContractMismatch", "PolicyContract", "TrainConfig", "VLAConfig", "load_checkpoint"]
