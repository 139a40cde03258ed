"""Counted, logged rejections of bad input.

A node that receives a malformed message must neither crash nor act on it silently: it rejects the
message, counts the reason (so a status/diagnostics topic can report it), and logs the first occurrence
of each reason plus a periodic reminder, so a flood of bad frames does not flood the log.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable


class RejectedInput(ValueError):
    """Raised by converters and validators; `reason` is short and stable so counts group by it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class RejectionCounter:
    """Counts rejected inputs per source and reason, and logs the first of each and then every `remind_every`-th."""

    log: Callable[[str], None]
    remind_every: int = 100
    counts: Counter = field(default_factory=Counter)

    def reject(self, source: str, error: RejectedInput) -> None:
        key = f"{source}: {error.reason}"
        self.counts[key] += 1
        n = self.counts[key]
        if n == 1 or n % self.remind_every == 0:
            text = str(error)
            self.log(f"rejected {source} ({n}x): {text if len(text) <= 300 else text[:300] + '...'}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)
