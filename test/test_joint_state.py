"""JointState -> named arrays: order from the message, selection by name, rejections with reasons."""
import math

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from vla_ros.joint_state import joint_state_to_sample, sample_to_joint_state
from vla_ros.rejections import RejectedInput, RejectionCounter


def _msg(names, pos, vel=(), eff=()):
    return JointState(name=list(names), position=list(pos), velocity=list(vel), effort=list(eff))


def test_order_comes_from_the_message():
    msg = _msg(["finger", "j2", "j1"], [0.04, 0.2, 0.1], [0.0, 2.0, 1.0])
    sample = joint_state_to_sample(msg).select(["j1", "j2"])
    np.testing.assert_array_equal(sample.position, [0.1, 0.2])
    np.testing.assert_array_equal(sample.velocity, [1.0, 2.0])
    assert sample.effort is None


def test_round_trip_through_message():
    msg = sample_to_joint_state(["a", "b"], np.array([1.0, 2.0]), np.array([0.5, 0.0]))
    s = joint_state_to_sample(msg)
    assert s.names == ("a", "b") and s.position.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "msg, reason",
    [
        (_msg([], []), "empty joint state"),
        (_msg(["a", "a"], [0, 0]), "duplicate joint names"),
        (_msg(["a", "b"], [0.0]), "length mismatch"),
        (_msg(["a", "b"], [0.0, math.nan]), "non-finite position"),
        (_msg(["a"], [0.0], [math.inf]), "non-finite velocity"),
        (_msg(["a"], [0.0], [1.0, 2.0]), "length mismatch"),
    ],
)
def test_rejections(msg, reason):
    with pytest.raises(RejectedInput) as info:
        joint_state_to_sample(msg)
    assert info.value.reason == reason


def test_missing_joint_is_rejected_by_name():
    with pytest.raises(RejectedInput, match="missing joints: j3"):
        joint_state_to_sample(_msg(["j1", "j2"], [0, 0])).select(["j1", "j3"])


def test_rejection_counter_counts_and_throttles_logs():
    logged = []
    counter = RejectionCounter(log=logged.append, remind_every=10)
    for _ in range(25):
        counter.reject("image", RejectedInput("unsupported encoding", "yuv"))
    counter.reject("joint_states", RejectedInput("non-finite position"))
    assert counter.counts["image: unsupported encoding"] == 25 and counter.total == 26
    assert len(logged) == 1 + 2 + 1  # first, 10th, 20th of one reason; first of the other
