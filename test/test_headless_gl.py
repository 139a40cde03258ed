"""MuJoCo's OpenGL backend on a headless machine: the rule (unit), and the sim node started the way the launch
starts it but with MUJOCO_GL, PYOPENGL_PLATFORM and any display removed from its environment, which must choose a
backend itself and publish camera images (and, asked to, the side view)."""
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from vla_ros.image_conversion import image_to_numpy
from vla_ros.process_graph import spin_until, start_node
from vla_ros.topics import TOPICS
from vla_sim.gl import choose_gl_backend, egl_available, osmesa_available

HEADLESS_UNSET = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")


def test_the_rule_keeps_the_users_choice_and_prefers_egl_then_osmesa():
    yes, no = (lambda: True), (lambda: False)
    assert choose_gl_backend({"MUJOCO_GL": "osmesa"}, egl=yes).backend == "osmesa"
    assert choose_gl_backend({"DISPLAY": ":0"}, egl=yes).backend == "glfw"
    assert choose_gl_backend({}, egl=yes, osmesa=yes).backend == "egl"
    assert choose_gl_backend({}, egl=no, osmesa=yes).backend == "osmesa"
    none = choose_gl_backend({}, egl=no, osmesa=no)
    assert none.backend == "" and "libegl1" in none.reason
    # MuJoCo's EGL / OSMesa modules refuse a PYOPENGL_PLATFORM of the other kind: never choose against it.
    assert choose_gl_backend({"PYOPENGL_PLATFORM": "osmesa"}, egl=yes, osmesa=yes).backend == "osmesa"


def test_this_machine_has_a_headless_backend():
    assert egl_available() or osmesa_available(), "setup installs libegl1 and libosmesa6"


def test_sim_node_renders_with_mujoco_gl_unset(tmp_path, monkeypatch):
    for name in HEADLESS_UNSET:
        monkeypatch.delenv(name, raising=False)
    rclpy.init()
    node = rclpy.create_node("headless_gl_test")
    got: dict[str, list] = {"rgb": [], "side": []}
    node.create_subscription(Image, TOPICS.image, got["rgb"].append, qos_profile_sensor_data)
    node.create_subscription(Image, TOPICS.sim_side_view, got["side"].append, qos_profile_sensor_data)
    sim = start_node("sim", tmp_path, params={"image_size": 64, "camera_rate_hz": 5.0, "side_view_rate_hz": 5.0})
    try:
        spin_until(node, lambda: got["rgb"] and got["side"], 60, "a camera image and a side view with MUJOCO_GL unset",
                   [sim])
    finally:
        code = sim.stop()
        node.destroy_node()
        rclpy.shutdown()
    assert code == 0, sim.log()[-2000:]
    rgb, side = image_to_numpy(got["rgb"][-1]), image_to_numpy(got["side"][-1])
    assert rgb.shape == (64, 64, 3) and rgb.std() > 5
    assert side.shape == (240, 320, 3) and side.std() > 5 and got["side"][-1].encoding == "rgb8"
    chosen = "egl" if egl_available() else "osmesa"
    assert f"MuJoCo OpenGL backend: {chosen}" in sim.log(), sim.log()[-2000:]
