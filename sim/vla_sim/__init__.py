"""MuJoCo tabletop world for vla_ros: Gymnasium env, tasks, scripted expert, data sets (no rclpy).

Importing registers "vla_sim/Tabletop-v0"; the env module (and MuJoCo) loads only when an env is made.
Importing also chooses MuJoCo's OpenGL backend for a headless process (`vla_sim.gl`), before any
submodule imports MuJoCo.
"""
import gymnasium

from vla_sim.gl import select_gl_backend

GL = select_gl_backend()

ENV_ID = "vla_sim/Tabletop-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="vla_sim.env:TabletopEnv", max_episode_steps=150)
