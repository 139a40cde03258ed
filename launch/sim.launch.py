"""Without a robot: the MuJoCo sim node publishes camera + joint states, and the same graph runs on it.

ros2 launch vla_ros sim.launch.py speech:=true
"""
from vla_ros.launch_description import generate


def generate_launch_description():
    return generate(sim=True)
