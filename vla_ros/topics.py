"""Default topic names and frame ids: defined here once, used as parameter defaults by every node,
by the CLI, the launch files and the tests. Deployments override them with parameters or remaps."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Default topic names with their message types; `TOPICS` is the one instance."""

    command: str = "/vla/command"                 # std_msgs/String: typed or spoken commands
    image: str = "/camera/color/image_raw"       # sensor_msgs/Image (rgb8/bgr8/...)
    depth: str = "/camera/depth/image_raw"       # sensor_msgs/Image (16UC1 mm or 32FC1 m), aligned to color
    camera_info: str = "/camera/color/camera_info"  # sensor_msgs/CameraInfo
    joint_states: str = "/joint_states"          # sensor_msgs/JointState
    joint_trajectory: str = "/arm_controller/joint_trajectory"  # trajectory_msgs/JointTrajectory
    joint_command: str = "/forward_position_controller/commands"  # std_msgs/Float64MultiArray
    grounding_mask: str = "/vla/grounding/mask"      # sensor_msgs/Image mono8
    grounding_overlay: str = "/vla/grounding/overlay"  # sensor_msgs/Image rgb8
    grounding_target: str = "/vla/grounding/target"  # geometry_msgs/PointStamped
    grounding_markers: str = "/vla/grounding/markers"  # visualization_msgs/MarkerArray
    grounding_status: str = "/vla/grounding/status"  # std_msgs/String (JSON)
    speech_audio: str = "/vla/speech/audio"          # std_msgs/Int16MultiArray, mono 16-bit PCM
    speech_status: str = "/vla/speech/status"        # std_msgs/String (JSON)
    sim_instruction: str = "/vla/sim/instruction"    # std_msgs/String: the task the sim just reset to
    sim_outcome: str = "/vla/sim/outcome"            # std_msgs/String (JSON): success/failure + reason
    sim_side_view: str = "/vla/sim/side_view"        # sensor_msgs/Image rgb8: the arm seen from its side (videos)
    policy_status: str = "/vla/policy/status"        # std_msgs/String (JSON): state, reason, target, tick times
    policy_gripper: str = "/vla/policy/gripper"      # std_msgs/Float64: gripper opening (m), with output=twist only
    servo_twist: str = "/servo_node/delta_twist_cmds"  # geometry_msgs/TwistStamped for MoveIt Servo
    clock: str = "/clock"


@dataclass(frozen=True)
class Frames:
    """Default tf frame ids (robot base, colour camera optical frame); `FRAMES` is the one instance."""

    base: str = "panda_link0"
    camera_optical: str = "camera_color_optical_frame"


TOPICS = Topics()
FRAMES = Frames()
