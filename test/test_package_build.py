"""The package is a real ament_python package: package.xml parses, colcon sees ros.ament_python, and a
colcon build in a fresh workspace installs executables, launch files, config, models and sim assets."""
import shutil
import subprocess
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

from vla_ros.graph import NODES

REPO = Path(__file__).resolve().parents[1]
RUN_DEPENDS = {"rclpy", "std_msgs", "std_srvs", "sensor_msgs", "geometry_msgs", "trajectory_msgs",
               "visualization_msgs", "lifecycle_msgs", "cv_bridge", "python3-numpy", "python3-opencv",
               "python3-torch", "python3-transformers-pip", "python3-gymnasium-pip",
               "python3-stable-baselines3-pip", "python3-mujoco-pip", "python3-pocketsphinx-pip"}


def test_package_xml_is_format_3_with_every_run_dependency():
    pkg = parse_package(str(REPO / "package.xml"))
    assert pkg.package_format == 3 and pkg.name == "vla_ros"
    assert pkg.get_build_type() == "ament_python"
    missing = RUN_DEPENDS - {d.name for d in pkg.exec_depends}
    assert not missing, f"package.xml lacks exec_depend {missing}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    src = ws / "src" / "vla_ros"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    return ws


def test_colcon_lists_it_as_ament_python(workspace):
    out = subprocess.run(["colcon", "list", "--base-paths", "src"], cwd=workspace, capture_output=True, text=True,
                         check=True).stdout
    assert "vla_ros" in out and "(ros.ament_python)" in out, out


def test_colcon_build_installs_everything_in_place(workspace):
    build = subprocess.run(["colcon", "build", "--base-paths", "src", "--packages-select", "vla_ros"], cwd=workspace,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    prefix = workspace / "install" / "vla_ros"
    for spec in NODES:
        assert (prefix / "lib" / "vla_ros" / spec.executable).is_file(), spec.executable
    share = prefix / "share" / "vla_ros"
    for rel in ("package.xml", "launch/bringup.launch.py", "launch/sim.launch.py", "config/vla_ros.yaml",
                "config/vocabulary.yaml"):
        assert (share / rel).is_file(), rel
    assert (share / "models").is_dir() and (share / "sim" / "assets").is_dir()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "vla_ros").is_file()
    site = next((prefix / "lib").glob("python3*/site-packages"))
    assert (site / "vla_ros" / "vocabulary.py").is_file() and (site / "vla_sim" / "env.py").is_file()
