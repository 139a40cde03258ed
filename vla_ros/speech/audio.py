"""Audio in: WAV files, PCM chunks from a ROS topic, a microphone; and resampling to the recogniser's rate.

Everything downstream takes mono int16 at a known sample rate. scipy is not a dependency, so the
resampler is a numpy windowed-sinc interpolator (any rate ratio, anti-aliased when downsampling).
"""
from __future__ import annotations

import queue
import wave
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

RECOGNIZER_RATE = 16000


def device_spec(text: str) -> int | str | None:
    """A sounddevice device parameter: an index ("2"), a name substring ("USB"), or "" for the system default."""
    return int(text) if text.isdigit() else (text or None)


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    """[-1, 1) floats -> int16 (the inverse of `int16_to_float`), clipping instead of wrapping around."""
    return np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def int16_to_float(audio: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1) (what Whisper takes)."""
    return audio.astype(np.float32) / 32768.0


def to_mono(frames: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved samples -> mono (channel mean), keeping int16."""
    if channels == 1:
        return frames
    if frames.size % channels:
        raise ValueError(f"{frames.size} samples do not divide into {channels} channels")
    return frames.reshape(-1, channels).mean(axis=1).round().astype(np.int16)


def pcm_chunk(data: bytes | Sequence[int] | np.ndarray, channels: int = 1) -> np.ndarray:
    """One audio-topic chunk -> mono int16.

    Accepts raw little-endian 16-bit PCM bytes (e.g. UInt8MultiArray.data) or the int16 values of an
    Int16MultiArray, interleaved when `channels` > 1.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        samples = np.frombuffer(bytes(data), dtype="<i2").astype(np.int16)
    else:
        samples = np.asarray(data, dtype=np.int16)
    return to_mono(samples, channels)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A PCM WAV file -> (mono int16 samples, sample rate). 8-, 16- and 32-bit PCM are read."""
    with wave.open(str(path), "rb") as w:
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 2:
        samples = np.frombuffer(raw, dtype="<i2")
    elif width == 1:
        samples = ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    elif width == 4:
        samples = (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported (use 8, 16 or 32-bit PCM)")
    return to_mono(samples, channels), rate


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> None:
    """Mono int16 samples -> a 16-bit PCM WAV file (the inverse of `read_wav` for mono)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(audio, dtype="<i2").tobytes())


def _resample_geometry(src_rate: int, dst_rate: int, half_width: int) -> tuple[int, int, float, int]:
    """`resample`'s reduced ratio up/down, its cutoff (a fraction of the input Nyquist frequency) and its reach
    (input samples each side that the kernel touches); `StreamResampler` keeps exactly that much input."""
    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    cutoff = 0.9 * min(1.0, up / down)
    return up, down, cutoff, int(np.ceil(half_width / cutoff))


def resample(audio: np.ndarray, src_rate: int, dst_rate: int = RECOGNIZER_RATE, half_width: int = 16) -> np.ndarray:
    """int16 or float audio at `src_rate` -> same dtype at `dst_rate`.

    Kaiser-windowed sinc interpolation with `half_width` zero crossings each side of the output instant;
    the cutoff sits at 0.9 x the lower Nyquist frequency so downsampling 44.1/48 kHz does not alias.
    For a rational ratio up/down (reduced), output n falls at input n*down/up: only `up` distinct
    fractional offsets exist, so the kernel is tabulated once per offset (polyphase).
    """
    if src_rate == dst_rate or audio.size == 0:
        return audio
    up, down, cutoff, reach = _resample_geometry(src_rate, dst_rate, half_width)
    taps = np.arange(-reach + 1, reach + 1)
    phase_offsets = (np.arange(up) * down % up) / up  # fractional input position of each phase
    dist = phase_offsets[:, None] - taps[None, :]
    kernels = cutoff * np.sinc(cutoff * dist) * _kaiser(dist / reach, 8.0)
    n_out = audio.size * up // down
    padded = np.concatenate([np.zeros(reach), audio.astype(np.float64), np.zeros(reach + 1)])
    out = np.empty(n_out)
    block = 8192  # output samples per step: bounds the (block x 2*reach) gather
    for start in range(0, n_out, block):
        n = np.arange(start, min(start + block, n_out))
        base = n * down // up
        out[start : start + n.size] = (padded[base[:, None] + taps[None, :] + reach] * kernels[n % up]).sum(axis=1)
    if np.issubdtype(audio.dtype, np.integer):
        return np.clip(out.round(), -32768, 32767).astype(audio.dtype)
    return out.astype(audio.dtype)


class StreamResampler:
    """`resample` for a stream of chunks: the same output as resampling the whole stream at once, except the
    last few samples (each output waits for the input its kernel reaches, ~1 ms), with no seams between chunks.

    It keeps the input a next output still needs, from a multiple of the reduced `down` factor, so that a
    resampled buffer's outputs fall on the stream's own output grid and kernel phases."""

    def __init__(self, src_rate: int, dst_rate: int, half_width: int = 16) -> None:
        self.src_rate, self.dst_rate, self.half_width = src_rate, dst_rate, half_width
        self.up, self.down, _, self.reach = _resample_geometry(src_rate, dst_rate, half_width)
        self.buffer = np.zeros(0, np.int16)  # input from sample `start` on
        self.start = 0
        self.done = 0  # outputs handed out

    def feed(self, chunk: np.ndarray) -> np.ndarray:
        """The resampled output that `chunk` completes (possibly empty)."""
        self.buffer = np.concatenate([self.buffer, np.asarray(chunk, dtype=np.int16)])
        total = self.start + self.buffer.size
        # Output n reads input up to n * down // up + reach: those with all of it here are final.
        ready = max(0, -(-(total - self.reach) * self.up // self.down))
        if ready <= self.done:
            return np.zeros(0, np.int16)
        first = self.start // self.down * self.up  # the buffer's first output, in stream outputs
        out = resample(self.buffer, self.src_rate, self.dst_rate, self.half_width)[self.done - first:ready - first]
        self.done = ready
        # Keep from the first input the next output reads (its base minus reach - 1), rounded down to a multiple of
        # `down`.
        keep = max(0, (ready * self.down // self.up - self.reach + 1) // self.down * self.down)
        if keep > self.start:
            self.buffer, self.start = self.buffer[keep - self.start:], keep
        return out


def _kaiser(u: np.ndarray, beta: float) -> np.ndarray:
    """Kaiser window evaluated at u in [-1, 1] (zero outside), for a kernel at fractional offsets."""
    inside = np.abs(u) <= 1.0
    arg = beta * np.sqrt(np.clip(1.0 - u * u, 0.0, None))
    return np.where(inside, np.i0(arg) / np.i0(beta), 0.0)


@dataclass
class MicrophoneSource:
    """Mono int16 chunks from a PortAudio input device (sounddevice, imported only when used).

    `device` is a sounddevice index or name substring (None: the system default); `sample_rate` None
    takes the device's default rate. Chunks come at the device rate: the recogniser resamples whole
    utterances, which avoids stitching artefacts between resampled chunks.
    """

    device: int | str | None = None
    sample_rate: int | None = None
    chunk_s: float = 0.05
    _queue: "queue.Queue[np.ndarray]" = field(default_factory=queue.Queue, init=False, repr=False)
    _stream: object = field(default=None, init=False, repr=False)

    def open(self) -> "MicrophoneSource":
        try:
            import sounddevice as sd
        except OSError as exc:  # the module imports, PortAudio does not load
            raise RuntimeError(f"microphone input needs PortAudio (Debian: libportaudio2): {exc}") from exc
        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise RuntimeError(f"no audio input device {self.device!r}: {exc}; devices:\n{sd.query_devices()}") from exc
        self.sample_rate = int(self.sample_rate or info["default_samplerate"])
        self._stream = sd.InputStream(
            device=self.device, samplerate=self.sample_rate, channels=1, dtype="int16",
            blocksize=int(self.chunk_s * self.sample_rate), callback=self._on_block,
        )
        self._stream.start()
        return self

    def _on_block(self, block: np.ndarray, frames: int, time_info: object, status: object) -> None:
        self._queue.put(block[:, 0].copy())

    def chunks(self, timeout_s: float = 1.0) -> Iterator[np.ndarray]:
        """Chunks as they arrive, until `close()`; raises TimeoutError if the device goes quiet."""
        while self._stream is not None:
            try:
                yield self._queue.get(timeout=timeout_s)
            except queue.Empty as exc:
                if self._stream is None:
                    return
                raise TimeoutError(f"no audio from device {self.device!r} for {timeout_s} s") from exc

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
