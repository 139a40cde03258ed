"""ament_python package: the `vla_ros` library + nodes, the `vla_sim` simulation, and their data files."""
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "vla_ros"


def tree(src: str, dest_root: str) -> list[tuple[str, list[str]]]:
    """data_files entries that mirror the directory `src` under share/vla_ros/`dest_root`."""
    out: dict[str, list[str]] = {}
    for f in sorted(Path(src).rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            dest = Path("share") / PACKAGE / dest_root / f.parent.relative_to(src)
            out.setdefault(str(dest), []).append(str(f))
    return list(out.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["vla_ros", "vla_ros.*"]) + find_packages("sim", include=["vla_sim", "vla_sim.*"]),
    package_dir={"vla_sim": "sim/vla_sim"},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.py")),
        ("share/" + PACKAGE + "/config", glob("config/*.yaml")),
        *tree("models", "models"),
        *tree("sim/assets", "sim/assets"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="vla_ros maintainers",
    maintainer_email="maintainers@vla-ros.dev",
    description="Language-grounded manipulation for ROS 2: CLIP/CLIPSeg grounding, VLA policy, MuJoCo sim.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "vla-ros = vla_ros.nodes.cli:main",
            "sim_node = vla_ros.nodes.sim_node:main",
            "grounding_node = vla_ros.nodes.grounding_node:main",
            "speech_node = vla_ros.nodes.speech_node:main",
            "policy_node = vla_ros.nodes.policy_node:main",
        ],
    },
)
