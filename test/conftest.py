"""Shared test set-up: every test session gets a DDS domain of its own, confined to this host, so
graph tests never see (or disturb) another ROS graph on the machine."""
import os

os.environ.setdefault("ROS_DOMAIN_ID", str(60 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
