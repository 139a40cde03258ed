"""The launch files, the node graph spec and the parameter file agree with what the build installs.

CI has no `ros2 launch`, so this checks statically what a launch would need: every executable the graph
names is installed, the parameter file is installed, every key in it is a declared parameter of the node
it configures, every launch argument sets a real parameter, and the launch files build from the graph.
Where `launch` is importable (a robot, or the dev venv), the launch descriptions are also built for real.
"""
import ast
import dataclasses

import pytest
import yaml

from vla_ros.graph import LAUNCH_ARGS, NODES, PARAMS_FILE, node_spec
from vla_ros.paths import share_dir
from vla_ros.process_graph import executable_path

RUNTIME_PARAMS = {"autostart", "use_sim_time"}


def _fields(spec) -> set[str]:
    return {f.name for f in dataclasses.fields(spec.load_params_class())}


@pytest.mark.parametrize("spec", NODES, ids=lambda s: s.name)
def test_every_graph_executable_is_installed(spec):
    assert executable_path(spec.executable).stat().st_mode & 0o111


def test_parameter_file_keys_are_declared_parameters():
    data = yaml.safe_load((share_dir() / "config" / PARAMS_FILE).read_text())
    all_fields = set().union(*(_fields(s) for s in NODES))
    for section, body in data.items():
        keys = set(body["ros__parameters"])
        if section == "/**":
            assert keys <= all_fields, f"/** sets parameters no node declares: {keys - all_fields}"
        else:
            unknown = keys - _fields(node_spec(section)) - RUNTIME_PARAMS
            assert not unknown, f"{section} has undeclared parameters {unknown}"


def test_launch_arguments_set_declared_parameters():
    for arg in LAUNCH_ARGS:
        for node, parameter in arg.sets.items():
            assert parameter in _fields(node_spec(node)), f"launch arg {arg.name} sets unknown {node}.{parameter}"
    enable_args = {s.enable_arg for s in NODES}
    assert enable_args <= {a.name for a in LAUNCH_ARGS}


def test_parameter_dataclasses_document_every_parameter():
    for spec in NODES:
        for f in dataclasses.fields(spec.load_params_class()):
            assert f.metadata.get("description"), f"{spec.name}.{f.name} has no description"


@pytest.mark.parametrize("name", ["bringup.launch.py", "sim.launch.py"])
def test_launch_files_are_installed_and_built_from_the_graph(name):
    path = share_dir() / "launch" / name
    tree = ast.parse(path.read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert any(n.module == "vla_ros.launch_description" for n in imports)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in ast.walk(tree))


def test_launch_descriptions_build_where_launch_is_installed():
    # launch.actions, not launch: the repository's own launch/ directory imports as an empty namespace package.
    pytest.importorskip("launch.actions", reason="`launch` is not installed here (CI); robots and the dev venv have it")
    import importlib.util

    import launch

    for name, sim in (("bringup.launch.py", False), ("sim.launch.py", True)):
        spec = importlib.util.spec_from_file_location(name, share_dir() / "launch" / name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ld = module.generate_launch_description()
        declared = {a.name for a in ld.entities if isinstance(a, launch.actions.DeclareLaunchArgument)}
        assert {"camera_topic", "device", "params_file"} <= declared


def test_launch_argument_strings_become_the_parameters_type():
    """Launch arguments are strings; a bool parameter set from one must reach the node as a bool, or ROS refuses it."""
    from vla_ros.graph import parameter_overrides

    assert parameter_overrides("speech", {"speech_confirm_always": "false", "audio_source": "microphone"}) == {
        "confirm_always": False, "source": "microphone"}
    assert parameter_overrides("speech", {"speech_confirm_always": "True"}) == {"confirm_always": True}
    assert parameter_overrides("speech", {"speech_confirm_always": ""}) == {}  # '' = the params file decides
    with pytest.raises(ValueError, match="not a bool"):
        parameter_overrides("speech", {"speech_confirm_always": "maybe"})


def test_sim_graph_gives_the_policy_the_sims_camera_pose():
    """Nothing hand-copied: the policy node's static camera pose in the sim graph is the sim camera's own pose."""
    import numpy as np

    from vla_ros.graph import sim_overrides
    from vla_ros.nodes.policy_node import PolicyParams
    from vla_sim.env import TabletopEnv

    overrides = sim_overrides("policy")
    env = TabletopEnv(obs_images=False)
    env.reset(seed=0)
    info = env.camera_info("front")
    env.close()
    assert np.allclose(overrides["camera_position"], info.position)
    assert np.allclose(np.reshape(overrides["camera_rotation"], (3, 3)), info.rotation, atol=1e-9)
    params = PolicyParams(**overrides)
    params.validate()
    position, rotation = params.static_camera()
    assert np.allclose(position, info.position) and np.allclose(rotation, info.rotation, atol=1e-9)
    assert sim_overrides("grounding") == {}
