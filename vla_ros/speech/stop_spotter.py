"""A recall-first stop path beside the command grammar (issue 20): a small neural keyword spotter for the stop words.

Any utterance with a stop word ("stop", "halt", "freeze") stops the robot, whatever surrounds it ("please stop",
"wait, stop", "stop it", "freeze freeze"). The grammar recogniser cannot do this (it hears a whole utterance as one
command, and only after the voice-activity detector has closed it), so this runs on the raw audio stream:

- features: 40 log-mel bands, 25 ms window, 10 ms hop, 16 kHz (numpy, `LogMel`);
- every `hop_frames` frames (50 ms) a small 1-D CNN (`StopNet`, ~30k parameters) looks at the last `window_frames`
  frames (1 s) and gives P(a stop word ended in the last ~300 ms);
- a stop is decided when that probability is at or above `threshold` for `consecutive` hops in a row, and then
  nothing more is decided for `refractory_s`.

`StopSpotter.feed(pcm)` takes 16 kHz mono int16 chunks of any size and returns a `StopEvent` the moment a stop is
decided (else None); `StopSpotter.detect(pcm)` does the same over a whole recording at once, with the same decisions.
No rclpy here: the speech node (or anything else) owns the audio and publishes the stop.

The model is trained on espeak-ng speech only (`python -m vla_ros.speech.stop_spotter_train`); what it measured is in
benchmarks/results/stop.md (`python benchmarks/stop_bench.py`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from vla_ros.paths import models_dir

DEFAULT_MODEL_DIR = models_dir() / "speech" / "stop_spotter"  # the source tree's, or the install's share/


@dataclass(frozen=True)
class StopSpotterConfig:
    """Every setting of the stop spotter, validated once; the model directory's config.json holds the shipped values.

    The feature and network fields must match the weights they were trained with; `threshold`, `consecutive` and
    `refractory_s` are the decision rule and may be changed at will (`StopSpotter.load(..., threshold=0.9)`).
    """

    sample_rate: int = 16000
    n_mels: int = 40
    win_samples: int = 400  # 25 ms
    hop_samples: int = 160  # 10 ms: one feature frame
    n_fft: int = 512
    f_min_hz: float = 50.0
    f_max_hz: float = 7600.0
    log_floor: float = 1e-6  # added to the mel power before the log (digital silence -> log(1e-6))
    window_frames: int = 100  # what the network sees: 1 s
    hop_frames: int = 5  # how often it looks: every 50 ms
    channels: int = 48  # network width
    # Decision rule: P >= threshold on `consecutive` hops in a row is a stop; then none for `refractory_s`.
    threshold: float = 0.5
    consecutive: int = 2
    refractory_s: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("sample_rate", "n_mels", "win_samples", "hop_samples", "n_fft", "window_frames", "hop_frames",
                     "channels", "consecutive"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, not {value!r}")
        if not problems:
            if self.n_fft < self.win_samples:
                problems.append(f"n_fft ({self.n_fft}) must be at least win_samples ({self.win_samples})")
            if not 0.0 <= self.f_min_hz < self.f_max_hz <= self.sample_rate / 2:
                problems.append(
                    f"need 0 <= f_min_hz < f_max_hz <= sample_rate / 2, got {self.f_min_hz}, {self.f_max_hz}")
            if self.window_frames < 16:
                problems.append(
                    f"window_frames must be at least 16 (the network downsamples by 16), not {self.window_frames}")
            if self.hop_frames > self.window_frames:
                problems.append(f"hop_frames ({self.hop_frames}) must not exceed window_frames ({self.window_frames})")
        if not (isinstance(self.threshold, (int, float)) and 0.0 < self.threshold < 1.0):
            problems.append(f"threshold must be a probability strictly between 0 and 1, not {self.threshold!r}")
        if not (isinstance(self.log_floor, (int, float)) and self.log_floor > 0):
            problems.append(f"log_floor must be > 0, not {self.log_floor!r}")
        if not (isinstance(self.refractory_s, (int, float)) and self.refractory_s >= 0):
            problems.append(f"refractory_s must be >= 0, not {self.refractory_s!r}")
        if problems:
            raise ValueError("StopSpotterConfig: " + "; ".join(problems))

    @property
    def hop_s(self) -> float:
        """Seconds between two looks of the network."""
        return self.hop_frames * self.hop_samples / self.sample_rate

    @classmethod
    def from_dict(cls, data: dict) -> "StopSpotterConfig":
        """From a JSON object; unknown keys are an error (a typo would otherwise be ignored silently)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"StopSpotterConfig: unknown settings {unknown}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StopEvent:
    """A decided stop: when (seconds of audio fed since the start or the last reset) and how sure the network was."""

    time_s: float
    probability: float
    sample: int  # samples fed when it was decided


def mel_filterbank(cfg: StopSpotterConfig) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular filters on the HTK mel scale."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(cfg.f_min_hz), mel(cfg.f_max_hz), cfg.n_mels + 2))
    bins = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (bins[None, :] - lower) / (centre - lower)
    down = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down)).T


class LogMel:
    """Log-mel frames of 16 kHz audio: frame i covers samples [i * hop, i * hop + win), float32 (frames, n_mels)."""

    def __init__(self, cfg: StopSpotterConfig):
        self.cfg = cfg
        self.window = np.hanning(cfg.win_samples + 1)[:-1]  # periodic Hann
        self.filters = mel_filterbank(cfg)

    def n_frames(self, n_samples: int) -> int:
        return max(0, (n_samples - self.cfg.win_samples) // self.cfg.hop_samples + 1)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """`audio`: int16 samples or floats in [-1, 1); returns one row per whole frame in it."""
        x = np.asarray(audio)
        x = x.astype(np.float64) / 32768.0 if np.issubdtype(x.dtype, np.integer) else x.astype(np.float64)
        n = self.n_frames(x.size)
        if n == 0:
            return np.zeros((0, self.cfg.n_mels), np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(x, self.cfg.win_samples)[::self.cfg.hop_samples][:n]
        power = np.abs(np.fft.rfft(frames * self.window, n=self.cfg.n_fft, axis=1)) ** 2
        # Frame by frame (einsum, no BLAS blocking) so that streaming and whole-recording features agree to the bit.
        mel = np.einsum("tf,fm->tm", power, self.filters, optimize=False)
        return np.log(mel + self.cfg.log_floor).astype(np.float32)


def _torch():
    import torch
    return torch


def build_net(cfg: StopSpotterConfig):
    """The network: (batch, n_mels, window_frames) log-mel -> (batch,) logit of "a stop word ended just now"."""
    torch = _torch()
    nn = torch.nn

    class StopNet(nn.Module):
        """Per-band normalisation, a 5-frame convolution, four depthwise-separable blocks that halve the time axis,
        and a two-layer head over what is left (the last frames weigh as much as the first: position matters)."""

        def __init__(self):
            super().__init__()
            c = cfg.channels
            self.register_buffer("mean", torch.zeros(cfg.n_mels, 1))
            self.register_buffer("std", torch.ones(cfg.n_mels, 1))
            layers = [nn.Conv1d(cfg.n_mels, c, 5, bias=False), nn.BatchNorm1d(c), nn.ReLU()]
            for _ in range(4):
                layers += [nn.Conv1d(c, c, 9, stride=2, padding=4, groups=c, bias=False), nn.BatchNorm1d(c), nn.ReLU(),
                           nn.Conv1d(c, c, 1, bias=False), nn.BatchNorm1d(c), nn.ReLU()]
            self.body = nn.Sequential(*layers)
            t = cfg.window_frames - 4
            for _ in range(4):
                t = (t - 1) // 2 + 1
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(c * t, 32), nn.ReLU(), nn.Linear(32, 1))

        def forward(self, x):
            return self.head(self.body((x - self.mean) / self.std)).squeeze(1)

    return StopNet()


class StopSpotter:
    """Streaming stop-word detector: `feed(pcm)` -> `StopEvent` or None; `detect(pcm)` -> every event of a recording.

    Audio is 16 kHz mono int16 (resample before feeding; `vla_ros.speech.audio.resample`). The stream starts as if
    preceded by digital silence. `reset()` forgets the audio and the decision state (e.g. a new audio source).
    """

    def __init__(self, cfg: StopSpotterConfig, net):
        torch = _torch()
        self.cfg = cfg
        self.net = net.eval()
        self.features = LogMel(cfg)
        self._torch = torch
        self._pad_row = np.full(cfg.n_mels, np.log(cfg.log_floor), np.float32)
        self.reset()

    @classmethod
    def load(cls, model_dir: str | Path = DEFAULT_MODEL_DIR, **overrides) -> "StopSpotter":
        """The shipped model (models/speech/stop_spotter) or another directory with config.json + weights.pt.

        `overrides` replace config fields (the decision rule: threshold, consecutive, refractory_s).
        """
        torch = _torch()
        model_dir = Path(model_dir)
        config_path, weights_path = model_dir / "config.json", model_dir / "weights.pt"
        for path in (config_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"stop spotter: {path} is missing (train one with "
                                        f"`python -m vla_ros.speech.stop_spotter_train --out {model_dir}`)")
        meta = json.loads(config_path.read_text())
        cfg = replace(StopSpotterConfig.from_dict(meta["config"]), **overrides)
        net = build_net(cfg)
        net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        return cls(cfg, net)

    def reset(self) -> None:
        cfg = self.cfg
        self._samples = np.zeros(0, np.int16)  # not yet framed (the tail a next frame still needs)
        self._consumed = 0  # samples dropped from _samples so far
        self._frames = np.tile(self._pad_row, (cfg.window_frames, 1))  # the last window_frames feature rows
        self._n_frames = 0  # feature frames computed since the start
        self._run = 0  # hops in a row at or above the threshold
        self._quiet_until = -1  # no decision before this frame count (refractory)
        self.last_probability = 0.0

    def _probabilities(self, windows: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows.transpose(0, 2, 1)))
            return torch.sigmoid(self.net(x)).numpy().astype(np.float64)

    def _decide(self, n_frames: int, p: float) -> StopEvent | None:
        cfg = self.cfg
        self.last_probability = p
        self._run = self._run + 1 if p >= cfg.threshold else 0
        if self._run >= cfg.consecutive and n_frames >= self._quiet_until:
            self._quiet_until = n_frames + int(round(cfg.refractory_s * cfg.sample_rate / cfg.hop_samples))
            self._run = 0
            sample = (n_frames - 1) * cfg.hop_samples + cfg.win_samples
            return StopEvent(time_s=sample / cfg.sample_rate, probability=p, sample=sample)
        return None

    def feed(self, pcm: np.ndarray) -> StopEvent | None:
        """A chunk of 16 kHz mono int16 audio -> the first stop decided within it, or None."""
        cfg = self.cfg
        self._samples = np.concatenate([self._samples, np.asarray(pcm, dtype=np.int16).ravel()])
        new = self.features(self._samples)
        if new.shape[0] == 0:
            return None
        drop = new.shape[0] * cfg.hop_samples
        self._samples, self._consumed = self._samples[drop:], self._consumed + drop
        event = None
        for row in new:
            self._frames = np.concatenate([self._frames[1:], row[None]])
            self._n_frames += 1
            if self._n_frames % cfg.hop_frames == 0:
                p = float(self._probabilities(self._frames[None])[0])
                found = self._decide(self._n_frames, p)
                event = event or found
        return event

    def probabilities(self, pcm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole recording -> (decision times in s, P at each hop), exactly where `feed` would look."""
        cfg = self.cfg
        feats = self.features(np.asarray(pcm, dtype=np.int16))
        padded = np.concatenate([np.tile(self._pad_row, (cfg.window_frames, 1)), feats])
        ends = np.arange(cfg.hop_frames, feats.shape[0] + 1, cfg.hop_frames)  # frame counts at each look
        if ends.size == 0:
            return np.zeros(0), np.zeros(0)
        windows = np.lib.stride_tricks.sliding_window_view(padded, cfg.window_frames, axis=0)  # (n, n_mels, W)
        chosen = windows[ends].transpose(0, 2, 1)  # padded rows [end, end + W) = the last W frames at frame count end
        probs = np.concatenate([self._probabilities(chosen[i:i + 256]) for i in range(0, len(chosen), 256)])
        times = ((ends - 1) * cfg.hop_samples + cfg.win_samples) / cfg.sample_rate
        return times, probs

    def detect(self, pcm: np.ndarray) -> list[StopEvent]:
        """Every stop `feed` would decide over this recording (from a fresh state; the spotter's own is reset)."""
        self.reset()
        times, probs = self.probabilities(pcm)
        events = []
        for i, p in enumerate(probs):
            event = self._decide((i + 1) * self.cfg.hop_frames, float(p))
            if event is not None:
                events.append(event)
        self.reset()
        return events
