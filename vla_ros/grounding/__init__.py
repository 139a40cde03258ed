"""Language grounding: command text + image -> the object it names, its mask, pixel and 3-D point.

No rclpy here: the ROS node (vla_ros.nodes) is a thin adapter over `Grounder`.
"""
from vla_ros.grounding.grounder import Grounder, GrounderConfig
from vla_ros.grounding.result import GroundingResult, Status

__all__ = ["Grounder", "GrounderConfig", "GroundingResult", "Status"]
