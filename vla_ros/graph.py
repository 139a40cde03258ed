"""The node graph as data: which executables run, with which parameter file and which launch arguments.

`launch/*.launch.py` build their actions from this, and the CI graph tests start the very same
executables with the very same parameter files and overrides, so what CI proves is what `ros2 launch`
runs. Launch arguments are declared once here: name, default, description, and the node parameters
each one sets.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from vla_ros.topics import FRAMES, TOPICS

PARAMS_FILE = "vla_ros.yaml"
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph: its executable, whether it is a lifecycle node, and where its parameters are declared."""

    name: str
    executable: str
    lifecycle: bool
    description: str
    enable_arg: str  # launch argument that turns the node on/off
    params_class: str  # "module:Class" of the node's parameter dataclass
    sim_only: bool = False

    def load_params_class(self) -> type:
        module, cls = self.params_class.split(":")
        return getattr(importlib.import_module(module), cls)


@dataclass(frozen=True)
class LaunchArg:
    """One launch argument: its default, what it means, and which node parameters it sets."""

    name: str
    default: str
    description: str
    sets: dict[str, str] = field(default_factory=dict)  # node name -> parameter name


NODES: tuple[NodeSpec, ...] = (
    NodeSpec("sim", "sim_node", False, "MuJoCo arm + RGB-D camera publishing what a real robot would",
             "sim", "vla_ros.nodes.sim_node:SimParams", sim_only=True),
    NodeSpec("grounding", "grounding_node", True, "CLIPSeg/CLIP: command -> target mask, point, score", "grounding",
             "vla_ros.nodes.grounding_node:GroundingParams"),
    NodeSpec("speech", "speech_node", True, "offline speech -> command topic", "speech",
             "vla_ros.nodes.speech_node:SpeechParams"),
    NodeSpec("policy", "policy_node", True, "VLA policy: command + target + joint states -> arm joint targets",
             "policy", "vla_ros.nodes.policy_node:PolicyParams"),
)

LAUNCH_ARGS: tuple[LaunchArg, ...] = (
    LaunchArg("params_file", "", "ROS parameter YAML (default: the package's config/vla_ros.yaml)"),
    LaunchArg("camera_topic", TOPICS.image, "sensor_msgs/Image colour stream",
              {"grounding": "image_topic", "sim": "image_topic"}),
    LaunchArg("depth_topic", TOPICS.depth, "sensor_msgs/Image depth aligned to colour (16UC1 mm or 32FC1 m)",
              {"grounding": "depth_topic", "sim": "depth_topic"}),
    LaunchArg("camera_info_topic", TOPICS.camera_info, "sensor_msgs/CameraInfo of the colour camera",
              {"grounding": "camera_info_topic", "sim": "camera_info_topic"}),
    LaunchArg("joint_states_topic", TOPICS.joint_states, "sensor_msgs/JointState of the arm",
              {"sim": "joint_states_topic", "policy": "joint_states_topic"}),
    LaunchArg("command_topic", TOPICS.command, "std_msgs/String commands",
              {"grounding": "command_topic", "speech": "command_topic", "policy": "command_topic"}),
    LaunchArg("device", "auto", "model device: auto (cuda when available), cpu or cuda", {"grounding": "device"}),
    LaunchArg("grounding_model", "",
              "grounding model: hub id or local directory (default: the shipped offline model)",
              {"grounding": "model", "policy": "grounding_model"}),
    LaunchArg("grounding_backend", "clipseg", "clipseg (masks) or clip (zero-shot scores)", {"grounding": "backend"}),
    LaunchArg("audio_source", "topic", "speech audio: topic, microphone or a WAV file path", {"speech": "source"}),
    LaunchArg("speech_whisper_check", "",
              "speech: CTranslate2 Whisper directory that double-checks each spoken command ('' = none)",
              {"speech": "whisper_check_model"}),
    LaunchArg("speech_confirm_always", "", "speech: true = read back every moving command and act on a spoken 'yes' "
              "(the params file's default), false = hands-free ('' = the params file)", {"speech": "confirm_always"}),
    LaunchArg("policy_checkpoint", "", "policy checkpoint directory (default: the shipped models/policy)",
              {"policy": "checkpoint"}),
    LaunchArg("policy_output", "joint_trajectory", "policy output: joint_trajectory (ros2_control), forward_command "
              "(Float64MultiArray) or twist (MoveIt Servo)", {"policy": "output"}),
    LaunchArg("policy_gripper_in_command", "", "true: the gripper rides in the arm command; false: arm joints only and "
              "the opening on the gripper topic, for a hand with its own controller ('' = the params file)",
              {"policy": "gripper_in_command"}),
    LaunchArg("joint_trajectory_topic", TOPICS.joint_trajectory, "trajectory_msgs/JointTrajectory arm command",
              {"policy": "joint_trajectory_topic", "sim": "joint_trajectory_topic"}),
    LaunchArg("joint_command_topic", TOPICS.joint_command, "std_msgs/Float64MultiArray arm command",
              {"policy": "joint_command_topic", "sim": "joint_command_topic"}),
    LaunchArg("twist_topic", TOPICS.servo_twist, "geometry_msgs/TwistStamped for MoveIt Servo (policy_output:=twist)",
              {"policy": "twist_topic"}),
    LaunchArg("base_frame", FRAMES.base, "robot base frame (the policy's frame; tf2 looks up the camera in it)",
              {"policy": "base_frame"}),
    LaunchArg("grounding", "true", "start the grounding node"),
    LaunchArg("policy", "true", "start the policy node (moves the arm)"),
    LaunchArg("speech", "false", "start the speech node"),
    LaunchArg("sim", "true", "start the simulated robot (sim launch only)"),
)


def node_spec(name: str) -> NodeSpec:
    """The `NodeSpec` of the node called `name` (StopIteration if there is none)."""
    return next(n for n in NODES if n.name == name)


def sim_overrides(node: str) -> dict[str, object]:
    """Parameters the sim graph gives a node from the simulation itself, so nothing is copied by hand: the policy
    node gets the sim camera's optical frame pose in the base frame as its static camera pose."""
    if node != "policy":
        return {}
    from vla_sim.scene import front_camera_pose

    position, rotation = front_camera_pose()
    return {"camera_position": [float(v) for v in position],
            "camera_rotation": [float(v) for v in rotation.reshape(-1)]}


def write_overrides(node: str, overrides: dict[str, object], directory: Path) -> Path:
    """A parameter file with a section for `node` only. Node-specific entries beat `/**` ones in ROS 2,
    so overrides must be node-specific too, and passed after the package's parameter file, to win."""
    path = Path(directory) / f"{node}_overrides.yaml"
    path.write_text(yaml.safe_dump({node: {"ros__parameters": dict(overrides)}}))
    return path


def parameter_overrides(node: str, values: dict[str, str]) -> dict[str, object]:
    """Node parameters set by launch-argument values (only those the caller gave), typed like the parameter: a launch
    argument is always a string, and ROS refuses "false" for a bool parameter."""
    out: dict[str, object] = {}
    for arg in LAUNCH_ARGS:
        if node in arg.sets and arg.name in values and values[arg.name] != "":
            out[arg.sets[node]] = typed_value(node, arg.sets[node], values[arg.name])
    return out


def typed_value(node: str, parameter: str, value: str) -> object:
    """`value` as the type of `parameter`'s default in the node's parameter dataclass; a clear error if it is
    not one."""
    default = next(f.default for f in fields(node_spec(node).load_params_class()) if f.name == parameter)
    if isinstance(default, bool):
        word = value.strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(f"{parameter}:={value!r} is not a bool (true/false)")
        return word in TRUE_WORDS
    try:
        return type(default)(value)
    except ValueError as exc:
        raise ValueError(f"{parameter}:={value!r} is not a {type(default).__name__}") from exc
