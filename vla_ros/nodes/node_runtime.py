"""What every vla_ros node shares: start-up with a clear error, lifecycle autostart, clean shutdown.

Nodes that hold a model are lifecycle nodes: `configure` loads the model (and fails with a clear
message, leaving the node unconfigured so it can be retried), `activate` starts processing,
`deactivate` stops it and frees the accelerator, `cleanup` drops the model. With `autostart` (the
default, what the launch files pass) the node brings itself to active, so a bare `ros2 run` works too;
`ros2 lifecycle set /<node> deactivate|activate` turns it off and on without a restart.
"""
from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any, Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String

from vla_ros.nodes.ros_params import ParameterError
from vla_ros.rejections import RejectionCounter

# For state that a late joiner must still get (the current task's instruction): like a ROS 1 latch.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Camera input for a model slower than the camera: keep only the newest frame (sensor_data keeps 5,
# which adds up to 4 frames of latency when the model falls behind).
LATEST_FRAME_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                              durability=DurabilityPolicy.VOLATILE)


class ModelNode(LifecycleNode):
    """Base for nodes that load a model. Subclasses implement load/start/stop/unload."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.declare_parameter("autostart", True)
        self.rejections = RejectionCounter(log=self.get_logger().warning)

    # -- subclass hooks -------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model and create publishers; raise with a message a user can act on."""

    def start(self) -> None:
        """Create subscriptions/timers; processing begins."""

    def stop(self) -> None:
        """Destroy subscriptions/timers and free accelerator memory."""

    def unload(self) -> None:
        """Drop the model."""

    # -- lifecycle transitions -------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        t0 = time.perf_counter()
        try:
            self.load()
        except Exception as exc:  # any load failure must leave a clear message, not a traceback storm
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured in {time.perf_counter() - t0:.2f} s")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self.start()
        self.get_logger().info("active")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.stop()
        self.get_logger().info("inactive: processing stopped")
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.unload()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        if state.label == "active":
            self.stop()
        self.unload()
        return TransitionCallbackReturn.SUCCESS

    def autostart(self) -> None:
        if not self.get_parameter("autostart").value:
            self.get_logger().info("autostart is off: waiting for lifecycle transitions")
            return
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()


def json_string(payload: dict[str, Any]) -> String:
    """A std_msgs/String carrying `payload` as JSON with sorted keys, the form of every status topic."""
    return String(data=json.dumps(payload, sort_keys=True))


class _Interrupts:
    """SIGINT/SIGTERM handling. While spinning, a signal only sets `requested`, and the spin loop exits between
    callbacks: an exception raised inside a callback can land in a C call (an EGL render, say), where ctypes turns it
    into an ArgumentError that escapes as a crash. Before spinning (model loading) or on a second signal it raises
    KeyboardInterrupt at once, so a node stuck in a long call still exits."""

    def __init__(self) -> None:
        self.spinning = False
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.spinning and not self.requested:
            self.requested = True
            return
        raise KeyboardInterrupt


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Entry point body: init, build the node (parameter errors exit 2 with the message), spin, shut down."""
    # Our own SIGINT/SIGTERM handling: rclpy's would invalidate the context while a callback may still be
    # publishing; the spin loop ends between callbacks, then we shut down.
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    interrupts = _Interrupts()
    signal.signal(signal.SIGINT, interrupts)
    signal.signal(signal.SIGTERM, interrupts)
    node: Node | None = None
    try:
        try:
            node = factory()
        except ParameterError as exc:
            print(f"[vla_ros] {exc}", file=sys.stderr)
            return 2
        if isinstance(node, ModelNode):
            node.autostart()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        interrupts.spinning = True
        while rclpy.ok() and not interrupts.requested:  # a bounded wait, so a signal is seen even when idle
            executor.spin_once(timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        interrupts.spinning = False
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
