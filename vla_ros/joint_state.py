"""sensor_msgs/JointState -> arrays keyed by joint name.

The order of joints in a JointState is the publisher's, not ours: a real driver may publish fingers
first or split arm and gripper over two messages. Everything downstream therefore asks for joints by
name; a message with NaN, duplicate names or inconsistent lengths is rejected with a reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vla_ros.rejections import RejectedInput


@dataclass(frozen=True)
class JointSample:
    """One validated JointState as arrays in the publisher's joint order; `select` reorders by name."""

    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray | None
    effort: np.ndarray | None
    stamp_s: float

    def select(self, names: Sequence[str]) -> "JointSample":
        """The same sample restricted to, and ordered as, `names`; missing joints are an error."""
        index = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise RejectedInput("missing joints", ", ".join(missing))
        idx = np.array([index[n] for n in names], dtype=int)

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return JointSample(tuple(names), self.position[idx], pick(self.velocity), pick(self.effort), self.stamp_s)


def joint_state_to_sample(msg: Any) -> JointSample:
    """Validate a sensor_msgs/JointState and copy it into a `JointSample`; a bad message is a `RejectedInput`."""
    names = tuple(msg.name)
    n = len(names)
    if n == 0:
        raise RejectedInput("empty joint state")
    if len(set(names)) != n:
        raise RejectedInput("duplicate joint names", ", ".join(names))
    position = np.asarray(msg.position, dtype=np.float64)
    if position.shape != (n,):
        raise RejectedInput("length mismatch", f"{n} names, {position.size} positions")
    if not np.all(np.isfinite(position)):
        bad = [names[i] for i in np.flatnonzero(~np.isfinite(position))]
        raise RejectedInput("non-finite position", ", ".join(bad))
    arrays: list[np.ndarray | None] = []
    for field_name in ("velocity", "effort"):
        values = np.asarray(getattr(msg, field_name), dtype=np.float64)
        if values.size == 0:
            arrays.append(None)
            continue
        if values.shape != (n,):
            raise RejectedInput("length mismatch", f"{n} names, {values.size} {field_name} values")
        if not np.all(np.isfinite(values)):
            raise RejectedInput(f"non-finite {field_name}")
        arrays.append(values)
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    return JointSample(names, position, arrays[0], arrays[1], stamp)


def sample_to_joint_state(names: Sequence[str], position: np.ndarray, velocity: np.ndarray | None = None,
                          stamp: Any = None, frame_id: str = "") -> Any:
    """Build a sensor_msgs/JointState from names and arrays (the reverse of `joint_state_to_sample`)."""
    from sensor_msgs.msg import JointState

    msg = JointState()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.name = list(names)
    msg.position = [float(x) for x in position]
    if velocity is not None:
        msg.velocity = [float(x) for x in velocity]
    return msg
