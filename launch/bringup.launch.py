"""On a robot: grounding (+ speech) against the robot's camera and joint-state topics.

ros2 launch vla_ros bringup.launch.py camera_topic:=/camera/color/image_raw device:=cuda
"""
from vla_ros.launch_description import generate


def generate_launch_description():
    return generate(sim=False)
