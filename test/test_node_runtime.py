"""run_node's signal handling: while spinning, a first SIGINT/SIGTERM only asks the loop to end between callbacks
(an exception raised inside a ctypes call, such as an EGL render, escapes as a crash); before spinning, or on a
second signal, it interrupts at once."""
import signal

import pytest

from vla_ros.nodes.node_runtime import _Interrupts


def test_a_signal_while_spinning_only_requests_the_loop_to_end():
    interrupts = _Interrupts()
    interrupts.spinning = True
    interrupts(signal.SIGINT, None)
    assert interrupts.requested


def test_a_second_signal_while_spinning_interrupts_at_once():
    interrupts = _Interrupts()
    interrupts.spinning = True
    interrupts(signal.SIGTERM, None)
    with pytest.raises(KeyboardInterrupt):
        interrupts(signal.SIGINT, None)


def test_a_signal_before_spinning_interrupts_model_loading_at_once():
    interrupts = _Interrupts()
    with pytest.raises(KeyboardInterrupt):
        interrupts(signal.SIGINT, None)
    assert not interrupts.requested
