"""vla_ros: language-grounded manipulation for ROS 2 (CLIP/CLIPSeg grounding, a VLA policy, a MuJoCo sim)."""

__version__ = "0.1.0"
