"""Grounding node: command text + latest camera frame -> target mask, overlay, point, markers and status.

Thin adapter over `vla_ros.grounding.Grounder`. Keeps only the latest frame (sensor-data QoS, depth 1),
so a slow model drops frames instead of queueing them. Publishes, per processed frame:
  mask (mono8, 255 = target), overlay (rgb8, for RViz/Foxglove), target (PointStamped, metres in the
  camera optical frame, only when depth + CameraInfo give a valid reading), target_pixel (PointStamped
  with x=u, y=v in pixels, z=0, header.frame_id = the image frame), markers (MarkerArray), and status
  (JSON String: found / not_found / not_understood / waiting / idle + reason, score, pixel, point).
Bad input is rejected and counted, never a crash: frames wider or taller than `max_image_size`, unknown encodings,
a data length that does not fit height * step, depth frames with no valid reading, non-finite intrinsics, commands
longer than `max_command_chars`; every status carries the counts (`rejected_inputs`).
Candidate phrases change at run time through the `candidates` parameter
(`ros2 param set /grounding candidates "['red block', 'blue ball']"`), no restart needed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from vla_ros.image_conversion import numpy_to_image, to_depth_m, to_rgb8
from vla_ros.nodes.node_runtime import LATEST_FRAME_QOS, ModelNode, json_string, run_node
from vla_ros.nodes.ros_params import declare_params, param, require_topic
from vla_ros.rejections import RejectedInput
from vla_ros.topics import TOPICS

if TYPE_CHECKING:  # optional or heavy: imported where they are used, typed here
    from rclpy.subscription import Subscription
    from tf2_ros import Buffer

    from vla_ros.grounding.grounder import Grounder
    from vla_ros.grounding.result import GroundingResult


@dataclass
class GroundingParams:
    """The node's ROS parameters, validated once in `validate`; model defaults live in `GrounderConfig`."""

    image_topic: str = param(TOPICS.image, "colour image in (rgb8, bgr8, rgba8, bgra8, mono8)")
    depth_topic: str = param(TOPICS.depth, "depth in, aligned to colour (16UC1 mm or 32FC1 m); '' disables 3-D")
    camera_info_topic: str = param(TOPICS.camera_info, "CameraInfo of the colour camera (intrinsics for 3-D)")
    command_topic: str = param(TOPICS.command, "std_msgs/String commands in")
    mask_topic: str = param(TOPICS.grounding_mask, "mono8 mask out")
    overlay_topic: str = param(TOPICS.grounding_overlay, "rgb8 overlay out")
    target_topic: str = param(TOPICS.grounding_target, "PointStamped 3-D target in the camera frame")
    markers_topic: str = param(TOPICS.grounding_markers, "MarkerArray out")
    status_topic: str = param(TOPICS.grounding_status, "JSON status out")
    backend: str = param("clipseg", "clipseg (masks) or clip (zero-shot region scores)")
    model: str = param("", "hub id or local model dir ('' = the shipped offline model)")
    device: str = param("auto", "auto, cpu or cuda")
    dtype: str = param("fp16", "fp16, bf16 or fp32 on CUDA (CPU always runs fp32)")
    score_threshold: float = param(-1.0, "found/not-found threshold; < 0 uses the model's calibrated one")
    candidates: list = param([""], "candidate phrases ([''] = every 'colour shape' of the vocabulary)")
    rivals: str = param("confusable", "which candidates compete with the target on each frame: confusable (those "
                                      "sharing a word with it; the decoder runs once per phrase) or all "
                                      "(benchmarks/results/grounding.md, grounding.rivals_all.md)")
    depth_max_age_s: float = param(0.2, "use depth only if its stamp is this close to the colour frame")
    max_image_size: int = param(2048, "largest accepted image width or height, px: bigger colour or depth frames "
                                      "(a 4K camera) are rejected and counted; the model sees a few hundred px anyway")
    max_command_chars: int = param(200, "longer commands are refused unparsed (not_understood, counted)")
    publish_overlay: bool = param(True, "publish the overlay image (costs a copy + drawing per frame)")
    num_threads: int = param(1, "torch CPU threads (0 = torch's default, every core). 1 by default: the offline model "
                                "runs ~45 Hz on one thread, and torch's all-core threads stall when other processes "
                                "share the cores (under 4 vs 30 results/s with one other busy process: "
                                "benchmarks/results/graph_replay_threads*.md); "
                                "raise it for a large model on cores of its own")
    target_frame: str = param("", "also publish the 3-D target in this frame via tf2 ('' = camera frame only)")

    def validate(self) -> None:
        for name in ("image_topic", "camera_info_topic", "command_topic", "mask_topic", "overlay_topic",
                     "target_topic", "markers_topic", "status_topic"):
            require_topic(name, getattr(self, name))
        if self.depth_topic:
            require_topic("depth_topic", self.depth_topic)
        if self.backend not in ("clipseg", "clip"):
            raise ValueError(f"backend={self.backend!r}: use clipseg or clip")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device={self.device!r}: use auto, cpu or cuda")
        if self.dtype not in ("fp16", "bf16", "fp32"):
            raise ValueError(f"dtype={self.dtype!r}: use fp16, bf16 or fp32")
        if self.max_image_size < 32:
            raise ValueError(f"max_image_size={self.max_image_size} must be >= 32")
        if self.max_command_chars < 1:
            raise ValueError("max_command_chars must be >= 1")


class GroundingNode(ModelNode):
    """Lifecycle node around `Grounder`: latest frame + command in, target and status out."""

    def __init__(self) -> None:
        super().__init__("grounding")
        self.p = declare_params(self, GroundingParams)
        self.grounder: Grounder | None = None
        self.command: str | None = None
        self.phrase = ""
        self.depth_msg: Image | None = None
        self.info_msg: CameraInfo | None = None
        self.frames = 0
        self.subs: list[Subscription] = []
        self.add_on_set_parameters_callback(self.on_set_parameters)

    # ---------------------------------------------------------------- lifecycle
    def load(self) -> None:
        self.load_model()
        self.get_logger().info(f"grounding model {self.grounder.model_path} on {self.grounder.device} "
                               f"({len(self.grounder.candidates)} candidate phrases, "
                               f"threshold {self.grounder.threshold:.2f})")
        self.pub_mask = self.create_lifecycle_publisher(Image, self.p.mask_topic, 1)
        self.pub_overlay = self.create_lifecycle_publisher(Image, self.p.overlay_topic, 1)
        self.pub_target = self.create_lifecycle_publisher(PointStamped, self.p.target_topic, 10)
        self.pub_pixel = self.create_lifecycle_publisher(PointStamped, self.p.target_topic + "_pixel", 10)
        self.pub_markers = self.create_lifecycle_publisher(MarkerArray, self.p.markers_topic, 10)
        self.pub_status = self.create_lifecycle_publisher(String, self.p.status_topic, 10)
        self.tf = self.make_transformer()

    def make_transformer(self) -> Buffer | None:
        """tf2 where the robot has it (the target is then also given in `target_frame`); else None."""
        if not self.p.target_frame:
            return None
        try:
            import tf2_geometry_msgs  # noqa: F401  (registers PointStamped with tf2)
            from tf2_ros import Buffer, TransformListener
        except ImportError:
            self.get_logger().warning(f"target_frame={self.p.target_frame!r} but tf2_ros is not installed: "
                                      "targets stay in the camera frame (see their header.frame_id)")
            return None
        self.tf_buffer = Buffer()
        self.tf_listener = TransformListener(self.tf_buffer, self)
        self.pub_target_in_frame = self.create_lifecycle_publisher(
            PointStamped, f"{self.p.target_topic}_{self.p.target_frame.strip('/').replace('/', '_')}", 10)
        return self.tf_buffer

    def start(self) -> None:
        if self.grounder is None:  # freed on deactivate when it held an accelerator
            self.load_model()
        self.subs = [
            self.create_subscription(Image, self.p.image_topic, self.on_image, LATEST_FRAME_QOS),
            self.create_subscription(CameraInfo, self.p.camera_info_topic, self.on_info, qos_profile_sensor_data),
            self.create_subscription(String, self.p.command_topic, self.on_command, 10),
        ]
        if self.p.depth_topic:
            self.subs.append(self.create_subscription(Image, self.p.depth_topic, self.on_depth, LATEST_FRAME_QOS))

    def load_model(self) -> None:
        from vla_ros.grounding.grounder import Grounder, GrounderConfig

        self.grounder = Grounder(GrounderConfig(
            backend=self.p.backend, model=self.p.model, device=self.p.device, dtype=self.p.dtype,
            score_threshold=None if self.p.score_threshold < 0 else self.p.score_threshold,
            candidates=tuple(c for c in self.p.candidates if c), num_threads=self.p.num_threads, rivals=self.p.rivals))

    def stop(self) -> None:
        for sub in self.subs:
            self.destroy_subscription(sub)
        self.subs = []
        if self.grounder is not None and self.grounder.device.type == "cuda":
            import torch

            self.grounder = None
            torch.cuda.empty_cache()

    def unload(self) -> None:
        self.grounder = None

    # ---------------------------------------------------------------- inputs
    def on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        for prm in params:
            if prm.name == "candidates":
                if self.grounder is None:
                    return SetParametersResult(successful=False, reason="model not loaded (configure the node first)")
                phrases = [c for c in prm.value if c] or self.grounder.vocab.object_phrases()
                try:
                    self.grounder.set_candidates(phrases)
                except ValueError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
                self.get_logger().info(f"candidates now: {phrases}")
            elif prm.name not in ("score_threshold", "publish_overlay", "use_sim_time"):
                return SetParametersResult(successful=False, reason=f"{prm.name} is set at start-up only")
            elif prm.name == "score_threshold" and self.grounder is not None and prm.value >= 0:
                self.grounder.threshold = float(prm.value)
            elif prm.name == "publish_overlay":
                self.p.publish_overlay = bool(prm.value)
        return SetParametersResult(successful=True)

    def on_command(self, msg: String) -> None:
        if len(msg.data) > self.p.max_command_chars:  # refused before parsing: a huge text must not stall the node
            self.command = None
            self.rejections.reject("command", RejectedInput("too long", f"{len(msg.data)} characters"))
            self.publish_status({"status": "not_understood", "command": msg.data[:80] + "...",
                                 "reason": f"command too long ({len(msg.data)} characters, "
                                           f"at most {self.p.max_command_chars})"})
            return
        text = msg.data.strip()
        parsed = self.grounder.vocab.parse(text)
        if getattr(parsed, "is_stop", False):
            self.command = None
            self.publish_status({"status": "idle", "reason": f"stopped by command {text!r}"})
            return
        if not hasattr(parsed, "verb"):
            self.command = None
            suggestion = {"suggestion": parsed.suggestion} if parsed.suggestion else {}  # shown, never acted on
            self.publish_status({"status": "not_understood", "reason": parsed.reason, "command": text, **suggestion})
            return
        self.command, self.phrase = text, parsed.target_phrase
        self.get_logger().info(f"grounding {parsed.target_phrase!r} for command {text!r}")
        if self.frames == 0:
            self.publish_status({"status": "waiting", "command": text,
                                 "reason": f"no image received yet on {self.p.image_topic}"})

    def on_info(self, msg: CameraInfo) -> None:
        if len(msg.k) != 9 or not np.all(np.isfinite(msg.k)) or msg.k[0] <= 0 or msg.k[4] <= 0:
            self.rejections.reject("camera_info", RejectedInput("invalid intrinsics", f"k={list(msg.k)}"))
            return
        self.info_msg = msg

    def on_depth(self, msg: Image) -> None:
        self.depth_msg = msg

    def on_image(self, msg: Image) -> None:
        if self.command is None:
            return
        received = self.get_clock().now().nanoseconds * 1e-9
        try:
            self.check_size(msg)
            rgb = to_rgb8(msg)
        except RejectedInput as exc:
            self.rejections.reject("image", exc)
            self.publish_status({"status": "waiting", "reason": f"rejected image: {exc}", "command": self.command})
            return
        depth, intrinsics = self.depth_for(msg)
        # The command was parsed once when it arrived; per frame only its phrase is grounded.
        try:
            result = self.grounder.ground_phrase(np.ascontiguousarray(rgb), self.phrase, depth, intrinsics)
        except Exception as exc:  # an input nobody foresaw must cost one frame, not the node
            self.get_logger().error(f"grounding failed on a {msg.width}x{msg.height} {msg.encoding} frame: {exc!r}")
            self.rejections.reject("image", RejectedInput("grounding failed", type(exc).__name__))
            self.publish_status({"status": "waiting", "reason": f"grounding failed: {exc}", "command": self.command})
            return
        self.frames += 1
        self.publish_result(msg, rgb, result, received)

    def depth_for(self, image: Image) -> tuple[np.ndarray | None, tuple[float, float, float, float] | None]:
        """Depth and intrinsics only when both exist and the depth frame matches the colour frame in time."""
        if self.depth_msg is None or self.info_msg is None:
            return None, None
        dt = abs(_seconds(self.depth_msg.header.stamp) - _seconds(image.header.stamp))
        if dt > self.p.depth_max_age_s:
            return None, None
        try:
            self.check_size(self.depth_msg)
            depth = to_depth_m(self.depth_msg)
            if not np.isfinite(depth).any():  # NaN pixels are holes (REP 118); a frame of nothing but holes is useless
                raise RejectedInput("no valid reading", "every pixel is NaN, inf or <= 0")
        except RejectedInput as exc:
            self.rejections.reject("depth", exc)
            self.depth_msg = None  # counted once, not once per colour frame
            return None, None
        k = self.info_msg.k
        sx, sy = image.width / max(1, self.info_msg.width), image.height / max(1, self.info_msg.height)
        return depth, (k[0] * sx, k[4] * sy, k[2] * sx, k[5] * sy)

    def check_size(self, msg: Image) -> None:
        """Refuse frames beyond `max_image_size` before any conversion touches their pixels."""
        if max(int(msg.width), int(msg.height)) > self.p.max_image_size:
            raise RejectedInput("image too large", f"{msg.width}x{msg.height} > max_image_size {self.p.max_image_size}")

    # ---------------------------------------------------------------- outputs
    def publish_result(self, image: Image, rgb: np.ndarray, result: GroundingResult, received: float) -> None:
        """What a controller waits for (target, status) goes out first; pictures for people after. `received`
        (when the frame reached this node, ROS clock) lets a reader split the frame's latency at the node."""
        header = image.header
        pt = None
        if result.point_camera is not None:
            pt = PointStamped(header=header)
            pt.point.x, pt.point.y, pt.point.z = (float(v) for v in result.point_camera)
            self.pub_target.publish(pt)
        status = result.summary()
        status.update(command=self.command, frame_id=header.frame_id, stamp=_seconds(header.stamp), received=received,
                      image_wh=[int(rgb.shape[1]), int(rgb.shape[0])],  # what bbox and pixel are relative to
                      frames=self.frames, rejected_inputs=self.rejections.as_dict())
        self.publish_status(status)
        if result.pixel is not None:
            px = PointStamped(header=header)
            px.point.x, px.point.y = float(result.pixel[0]), float(result.pixel[1])
            self.pub_pixel.publish(px)
        markers = MarkerArray(markers=[Marker(header=header, ns="vla_grounding", action=Marker.DELETEALL)])
        if pt is not None:
            self.publish_in_target_frame(pt)
            markers.markers += _markers(header, pt, f"{result.phrase} {result.score:.2f}")
        self.pub_markers.publish(markers)
        mask = np.zeros(rgb.shape[:2], np.uint8) if result.mask is None else result.mask.astype(np.uint8) * 255
        self.pub_mask.publish(numpy_to_image(mask, "mono8", header.frame_id, header.stamp))
        if self.p.publish_overlay:
            from vla_ros.grounding.overlay import draw_overlay

            self.pub_overlay.publish(numpy_to_image(draw_overlay(rgb, result), "rgb8", header.frame_id, header.stamp))

    def publish_in_target_frame(self, pt: PointStamped) -> None:
        if self.tf is None:
            return
        from rclpy.duration import Duration

        try:
            self.pub_target_in_frame.publish(
                self.tf.transform(pt, self.p.target_frame, timeout=Duration(seconds=0.05)))
        except Exception as exc:  # tf2 raises several lookup/extrapolation types; all mean "not now"
            self.rejections.reject("tf", RejectedInput(
                "no transform", f"{pt.header.frame_id} -> {self.p.target_frame}: {exc}"))

    def publish_status(self, payload: dict[str, Any]) -> None:
        payload.setdefault("time", time.time())
        payload.setdefault("rejected_inputs", self.rejections.as_dict())
        self.pub_status.publish(json_string(payload))


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _markers(header: Any, pt: PointStamped, label: str) -> list[Marker]:
    sphere = Marker(header=header, ns="vla_grounding", id=1, type=Marker.SPHERE, action=Marker.ADD)
    sphere.pose.position = pt.point
    sphere.pose.orientation.w = 1.0
    sphere.scale.x = sphere.scale.y = sphere.scale.z = 0.04
    sphere.color.g, sphere.color.a = 1.0, 0.8
    text = Marker(header=header, ns="vla_grounding", id=2, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, text=label)
    text.pose.position.x, text.pose.position.y, text.pose.position.z = pt.point.x, pt.point.y - 0.05, pt.point.z
    text.pose.orientation.w = 1.0
    text.scale.z = 0.03
    text.color.r = text.color.g = text.color.b = text.color.a = 1.0
    return [sphere, text]


def main() -> int:
    """Entry point of `ros2 run vla_ros grounding_node`."""
    return run_node(GroundingNode)


if __name__ == "__main__":
    raise SystemExit(main())
