"""Language grounding: command text + image -> the object it names, its mask, pixel and 3-D point.

No rclpy here: the ROS node (vla_ros.nodes) is a thin adapter over `Grounder`.
"""
from vla_ros.grounding.geometry import Intrinsics
from vla_ros.grounding.grounder import Grounder, GrounderConfig
from vla_ros.grounding.overlay import draw_overlay
from vla_ros.grounding.result import GroundingResult, Status

__all__ = ["Grounder", "GrounderConfig", "GroundingResult", "Intrinsics", "Status", "draw_overlay"]
