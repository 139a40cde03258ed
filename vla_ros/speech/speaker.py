"""The robot's voice: a "did you mean ...?" question said aloud, offline, and when the robot is talking.

Why: with read-back (confirm_always, the default) every moving command waits for a spoken "yes". A question that
only appears on a status topic leaves a user without a screen waiting for a robot that waits for them, so the
speech node says it (espeak-ng, the same offline synthesiser the tests use, played on a PortAudio output).
A microphone next to a loudspeaker hears the robot too: `speaking()` is true while the question plays and for
`echo_tail_s` after, and the node ignores its input meanwhile (half duplex), so the robot never answers itself.
No rclpy here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from vla_ros.speech.synth import espeak_binary, synthesize

Player = Callable[[np.ndarray, int], None]  # (mono int16, sample rate) -> returns at once, plays in the background


def sounddevice_player(device: int | str | None) -> Player:
    """A PortAudio output; raises RuntimeError saying what is missing (PortAudio, or an output device)."""
    try:
        import sounddevice as sd
    except OSError as exc:  # the module imports, PortAudio does not load
        raise RuntimeError(f"speaking needs PortAudio (Debian: libportaudio2): {exc}") from exc
    try:
        sd.query_devices(device, "output")
    except (ValueError, sd.PortAudioError) as exc:
        raise RuntimeError(f"no audio output device {device!r}: {exc}") from exc

    def play(audio: np.ndarray, rate: int) -> None:
        try:
            sd.play(audio, rate, device=device)
        except sd.PortAudioError as exc:
            raise RuntimeError(f"audio output {device!r} failed: {exc}") from exc

    return play


@dataclass
class Speaker:
    """Says text through `play` (see `sounddevice_player`); `open` checks espeak-ng is there before the first
    question."""

    play: Player
    voice: str = "en-us"
    words_per_minute: int = 150
    echo_tail_s: float = 0.3  # room echo and output latency after the last sample
    _busy_until: float = field(default=0.0, init=False, repr=False)

    def open(self) -> "Speaker":
        espeak_binary()  # raises RuntimeError naming the package when espeak-ng is missing
        return self

    def say(self, text: str, now: float | None = None) -> float:
        """Start saying `text`; returns its duration in seconds. The input is to be ignored until `speaking` ends."""
        audio, rate = synthesize(text, self.voice, self.words_per_minute)
        start = time.monotonic() if now is None else now
        self._busy_until = start + audio.size / rate + self.echo_tail_s
        self.play(audio, rate)
        return audio.size / rate

    def speaking(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) < self._busy_until
