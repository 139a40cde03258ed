"""Declare a node's ROS parameters from a dataclass, read them back, and validate them once at start-up.

Each node's parameters are one dataclass: field name = parameter name, default = default, and
`field(metadata={"description": ...})` = the description `ros2 param describe` shows. The same dataclass
is what the library code receives, so there is no second list of names to keep in sync.
"""
from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

T = TypeVar("T")


def param(default: Any, description: str, **extra: Any) -> Any:
    """A dataclass field that is also a documented ROS parameter."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"description": description, **extra})
    return field(default=default, metadata={"description": description, **extra})


class ParameterError(ValueError):
    """A parameter has a value the node cannot run with; the message names it and what is allowed."""


def declare_params(node: Node, cls: type[T]) -> T:
    """Declare every field of the `param` dataclass `cls` as a ROS parameter and return the values as a `cls`,
    type-checked and validated; a bad value is a `ParameterError`."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        desc = ParameterDescriptor(description=f.metadata.get("description", ""),
                                   read_only=bool(f.metadata.get("read_only", False)))
        node.declare_parameter(f.name, default, desc)
        value = node.get_parameter(f.name).value
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        if type(value) is not type(default) and not (isinstance(default, list) and isinstance(value, list)):
            raise ParameterError(f"parameter '{f.name}' must be {type(default).__name__}, got {value!r}")
        values[f.name] = value
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            raise ParameterError(f"invalid parameters for {node.get_name()}: {exc}") from exc
    return obj


def require_topic(name: str, value: str) -> None:
    """Topic names must be valid ROS names; catching a typo here beats a silent empty topic later."""
    from rclpy.validate_topic_name import validate_topic_name

    try:
        validate_topic_name(value)
    except Exception as exc:  # rclpy raises InvalidTopicNameException
        raise ValueError(f"{name}={value!r} is not a valid topic name: {exc}") from exc
