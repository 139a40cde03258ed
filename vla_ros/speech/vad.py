"""Where utterances begin and end in a continuous stream of audio chunks.

Two ways to decide it: `EnergyVad` (hands-free: frame energy against an adaptive noise floor, with a
hangover so the pauses between words do not split a command, and a pre-roll so the first consonant is
kept) and `PushToTalk` (a button, topic or service says start and stop). Both take mono int16 chunks of
any size at the stream's own rate and hand back whole utterances, which the recogniser then decodes.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Utterance:
    """One segmented utterance, at the stream's own rate (the recogniser resamples it)."""

    audio: np.ndarray  # mono int16
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.audio.size / self.sample_rate


def frame_db(frame: np.ndarray) -> float:
    """RMS level of int16 samples in dB relative to full scale (silence -> -120)."""
    rms = np.sqrt(np.mean(np.square(frame.astype(np.float64)))) / 32768.0
    return float(20.0 * np.log10(max(rms, 1e-6)))


@dataclass
class EnergyVad:
    """Energy voice-activity detector that segments a chunk stream into utterances.

    A frame is speech when its level is `margin_db` above the noise floor and above `min_speech_db`.
    The floor starts at the first frame's level (a stream starts before anyone speaks) and follows
    quiet frames, so a fan or a noisy room raises the bar. An utterance ends after `hangover_s` of
    non-speech; less than `min_speech_s` of speech is discarded as a click. One that reaches
    `max_utterance_s` is cut and, being most likely a change in the background noise (a fan switched
    on), resets the floor to its median frame level.
    """

    sample_rate: int
    frame_s: float = 0.02
    margin_db: float = 10.0
    min_speech_db: float = -50.0
    hangover_s: float = 0.5
    pre_roll_s: float = 0.2
    min_speech_s: float = 0.15
    max_utterance_s: float = 10.0
    floor_adapt: float = 0.05
    noise_floor_db: float | None = None
    _pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16), init=False, repr=False)
    _pre_roll: deque = field(default_factory=deque, init=False, repr=False)
    _voiced: list = field(default_factory=list, init=False, repr=False)
    _speech_frames: int = field(default=0, init=False, repr=False)
    _silent_frames: int = field(default=0, init=False, repr=False)

    @property
    def frame_len(self) -> int:
        return max(1, int(self.frame_s * self.sample_rate))

    def feed(self, chunk: np.ndarray) -> list[Utterance]:
        """Add samples; returns the utterances that ended inside them (usually none or one)."""
        samples = np.concatenate([self._pending, np.asarray(chunk, dtype=np.int16)])
        n = samples.size // self.frame_len
        self._pending = samples[n * self.frame_len :]
        done: list[Utterance] = []
        for i in range(n):
            utterance = self._frame(samples[i * self.frame_len : (i + 1) * self.frame_len])
            if utterance is not None:
                done.append(utterance)
        return done

    def flush(self) -> list[Utterance]:
        """End of stream: the utterance in progress, if it holds enough speech."""
        utterance = self._finish()
        return [utterance] if utterance is not None else []

    def _frame(self, frame: np.ndarray) -> Utterance | None:
        level = frame_db(frame)
        if self.noise_floor_db is None:
            self.noise_floor_db = level
        speech = level > max(self.min_speech_db, self.noise_floor_db + self.margin_db)
        if not self._voiced:
            if not speech:
                self.noise_floor_db += self.floor_adapt * (level - self.noise_floor_db)
                self._pre_roll.append(frame)
                while len(self._pre_roll) * self.frame_s > self.pre_roll_s:
                    self._pre_roll.popleft()
                return None
            self._voiced = [*self._pre_roll, frame]
            self._pre_roll.clear()
            self._speech_frames, self._silent_frames = 1, 0
            return None
        self._voiced.append(frame)
        if speech:
            self._speech_frames += 1
            self._silent_frames = 0
        else:
            self._silent_frames += 1
        if len(self._voiced) * self.frame_s >= self.max_utterance_s:
            self.noise_floor_db = float(np.median([frame_db(f) for f in self._voiced]))
            return self._finish()
        if self._silent_frames * self.frame_s >= self.hangover_s:
            return self._finish()
        return None

    def _finish(self) -> Utterance | None:
        voiced, speech_frames = self._voiced, self._speech_frames
        self._voiced, self._speech_frames, self._silent_frames = [], 0, 0
        if speech_frames * self.frame_s < self.min_speech_s:
            return None
        return Utterance(np.concatenate(voiced), self.sample_rate)


@dataclass
class PushToTalk:
    """Explicit boundaries: audio between `start()` and `stop()` is one utterance; other audio is dropped."""

    sample_rate: int
    max_utterance_s: float = 15.0
    _chunks: list = field(default_factory=list, init=False, repr=False)
    _talking: bool = field(default=False, init=False, repr=False)

    @property
    def talking(self) -> bool:
        return self._talking

    def start(self) -> None:
        self._chunks, self._talking = [], True

    def feed(self, chunk: np.ndarray) -> list[Utterance]:
        """Keeps the chunk while talking; hands back the utterance if it reached `max_utterance_s`."""
        if not self._talking:
            return []
        self._chunks.append(np.asarray(chunk, dtype=np.int16))
        if sum(c.size for c in self._chunks) >= self.max_utterance_s * self.sample_rate:
            return self.stop()
        return []

    def stop(self) -> list[Utterance]:
        """Ends the utterance; [] if nothing was recorded (stop without start, or no audio)."""
        chunks, self._chunks, self._talking = self._chunks, [], False
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return [Utterance(audio, self.sample_rate)] if audio.size else []
