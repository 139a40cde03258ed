"""Damped-least-squares IK: round trip through forward kinematics, limits respected."""
import mujoco
import numpy as np

from vla_ros.vocabulary import load_vocabulary
from vla_sim.env import HOME_Q
from vla_sim.kinematics import forward_kinematics, solve_ik, top_down
from vla_sim.scene import build_scene


def test_ik_reaches_random_top_down_poses_within_limits():
    sc = build_scene(load_vocabulary())
    scratch = mujoco.MjData(sc.model)
    rng = np.random.default_rng(0)
    for _ in range(20):
        target = rng.uniform([0.3, -0.3, 0.03], [0.65, 0.3, 0.4])
        yaw = rng.uniform(-0.7, 0.7)
        r = solve_ik(sc.model, scratch, sc.ee_site, sc.arm_qpos_adr, sc.arm_dof_adr, sc.arm_limits, HOME_Q,
                     target, top_down(yaw), iterations=80)
        assert r.converged(), (target, r)
        assert np.all(r.q >= sc.arm_limits[:, 0]) and np.all(r.q <= sc.arm_limits[:, 1])
        pos, rot = forward_kinematics(sc.model, scratch, sc.arm_qpos_adr, r.q, sc.ee_site)
        assert np.linalg.norm(pos - target) < 2e-3
        assert rot[2, 2] < -0.99, "hand must point down"
