"""Record ROS 2 topics to an MCAP file the way rosbag2 does: CDR bytes as they came off DDS, ros2msg schemas.

Subscriptions are raw (no deserialise / serialise), so recording costs a copy and zstd compression. Each schema
is the message's .msg text followed by every message it depends on (rosbag2's concatenated format), read from
the installed interface packages, so the file opens in Foxglove, decodes with `mcap-ros2-support`, and plays
with `ros2 bag play <file>.mcap` on a robot. No rclpy import here: the caller's node makes the subscriptions.
"""
from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mcap.writer import CompressionType, Writer

PRIMITIVES = frozenset(("bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
                        "uint32", "int64", "uint64", "string", "wstring"))
SEPARATOR = "=" * 80


def type_name(msg_class: type) -> str:
    """The ROS type name of an rclpy message class, e.g. "sensor_msgs/msg/Image"."""
    return f"{msg_class.__module__.split('.')[0]}/msg/{msg_class.__name__}"


def share_prefixes() -> list[Path]:
    """Where interface packages' share/ directories are: AMENT_PREFIX_PATH, then this Python's prefix (the PyPI
    ROS wheels install their .msg files under <venv>/share)."""
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return prefixes + [Path(sys.prefix)]


def msg_file(package: str, name: str) -> Path:
    """The installed .msg file of `package`/msg/`name`, searched under `share_prefixes()`."""
    for prefix in share_prefixes():
        path = prefix / "share" / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    raise FileNotFoundError(f"{package}/msg/{name}.msg not found under {[str(p) for p in share_prefixes()]}")


def _field_types(text: str, package: str) -> list[str]:
    """Non-primitive field types ("pkg/Name") of a .msg text; constants and comments skipped."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or "=" in parts[1] or (len(parts) > 2 and parts[2].startswith("=")):
            continue  # a constant ("int32 FOO=1"): always primitive
        base = re.sub(r"\[.*\]$", "", parts[0])
        base = re.sub(r"<=\d+$", "", base)  # bounded strings
        if base in PRIMITIVES:
            continue
        if base == "Header":
            base = "std_msgs/Header"
        pkg, _, name = base.rpartition("/")
        out.append(f"{pkg.replace('/msg', '') or package}/{name}")
    return out


def message_definition(full_type: str) -> str:
    """rosbag2's concatenated definition of "pkg/msg/Name": its .msg text, then each dependency once, depth first."""
    package, _, name = full_type.replace("/msg/", "/").partition("/")
    root = msg_file(package, name).read_text()
    parts, seen = [root], set()

    def add_deps(text: str, pkg: str) -> None:
        for dep in _field_types(text, pkg):
            if dep in seen:
                continue
            seen.add(dep)
            dep_pkg, dep_name = dep.split("/")
            dep_text = msg_file(dep_pkg, dep_name).read_text()
            parts.append(f"{SEPARATOR}\nMSG: {dep}\n{dep_text}")
            add_deps(dep_text, dep_pkg)

    add_deps(root, package)
    return "\n".join(p.rstrip("\n") for p in parts) + "\n"


@dataclass
class McapRecorder:
    """Append raw CDR messages to an MCAP file; `subscribe` records a topic through the caller's rclpy node."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    _stream: BinaryIO | None = None
    _writer: Writer | None = None
    _schemas: dict[str, int] = field(default_factory=dict)
    _channels: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path, "wb")
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="vla_ros")

    def add_topic(self, topic: str, full_type: str) -> int:
        if full_type not in self._schemas:
            self._schemas[full_type] = self._writer.register_schema(
                name=full_type, encoding="ros2msg", data=message_definition(full_type).encode())
        if topic not in self._channels:
            self._channels[topic] = self._writer.register_channel(topic=topic, message_encoding="cdr",
                                                                  schema_id=self._schemas[full_type])
            self.counts[topic] = 0
        return self._channels[topic]

    def write(self, topic: str, cdr: bytes, log_time_ns: int | None = None) -> None:
        if self._writer is None:
            return  # closed: late callbacks are dropped
        t = time.time_ns() if log_time_ns is None else log_time_ns
        self._writer.add_message(self._channels[topic], log_time=t, data=bytes(cdr), publish_time=t,
                                 sequence=self.counts[topic])
        self.counts[topic] += 1

    def subscribe(self, node: Any, topic: str, msg_class: type, qos: Any) -> Any:
        """A raw subscription on `node` that records `topic` (callbacks run in the node's executor)."""
        self.add_topic(topic, type_name(msg_class))
        return node.create_subscription(msg_class, topic, lambda data: self.write(topic, data), qos, raw=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.finish()
            self._writer = None
            self._stream.close()
