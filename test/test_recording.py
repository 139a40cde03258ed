"""MCAP recording (vla_ros.recording): every message type the demo records is written as raw CDR with a rosbag2
style schema, and reads back field for field with mcap-ros2-support (what Foxglove and `ros2 bag` decode)."""
import pytest
from geometry_msgs.msg import PointStamped
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from vla_ros.recording import McapRecorder, message_definition, type_name

mcap_ros2_reader = pytest.importorskip("mcap_ros2.reader")


def test_definitions_concatenate_dependencies_once():
    text = message_definition("visualization_msgs/msg/MarkerArray")
    assert text.count("MSG: std_msgs/Header") == 1 and "MSG: geometry_msgs/Pose" in text
    assert "MSG: builtin_interfaces/Duration" in text
    assert type_name(JointTrajectory) == "trajectory_msgs/msg/JointTrajectory"


def test_round_trip(tmp_path):
    image = Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))
    image.header.frame_id, image.header.stamp.sec = "camera_color_optical_frame", 12
    point = PointStamped()
    point.point.x = 0.5
    msgs = {
        "/camera/color/image_raw": image,
        "/camera/color/camera_info": CameraInfo(width=3, height=2, k=[1.0] * 9),
        "/joint_states": JointState(name=["panda_joint1"], position=[0.25]),
        "/vla/grounding/target": point,
        "/vla/grounding/markers": MarkerArray(markers=[Marker(ns="vla_grounding", text="blue block 0.97")]),
        "/arm_controller/joint_trajectory": JointTrajectory(
            joint_names=["panda_joint1"], points=[JointTrajectoryPoint(positions=[0.1])]),
        "/vla/sim/outcome": String(data='{"success": true}'),
    }
    recorder = McapRecorder(tmp_path / "t.mcap")
    for topic, msg in msgs.items():
        recorder.add_topic(topic, type_name(type(msg)))
        recorder.write(topic, serialize_message(msg), log_time_ns=1_000)
    recorder.close()
    back = {m.channel.topic: m for m in mcap_ros2_reader.read_ros2_messages(tmp_path / "t.mcap")}
    assert set(back) == set(msgs)
    assert back["/camera/color/image_raw"].schema.name == "sensor_msgs/msg/Image"
    img = back["/camera/color/image_raw"].ros_msg
    assert (img.width, img.encoding, bytes(img.data), img.header.stamp.sec) == (3, "rgb8", bytes(range(18)), 12)
    assert back["/arm_controller/joint_trajectory"].ros_msg.points[0].positions == [0.1]
    assert back["/vla/grounding/markers"].ros_msg.markers[0].text == "blue block 0.97"
    assert back["/vla/grounding/target"].ros_msg.point.x == 0.5
    assert back["/vla/sim/outcome"].ros_msg.data == '{"success": true}'
