"""Speech made on demand with espeak-ng: real audio for tests and benchmarks without recordings, and the robot's
own voice when it reads a command back (speaker.py).

espeak-ng is a Debian package (scripts/setup.sh installs it); without it this fails loudly rather
than letting speech tests pass on nothing.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from vla_ros.speech.audio import read_wav


def espeak_binary() -> str:
    """The espeak-ng executable; raises RuntimeError naming the package when it is missing."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng; see scripts/setup.sh)")
    return path


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 150) -> tuple[np.ndarray, int]:
    """Text -> (mono int16, sample rate) spoken by espeak-ng (22.05 kHz for its own voices)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run([espeak_binary(), "-v", voice, "-s", str(words_per_minute), "-w", str(wav), text],
                       check=True, capture_output=True)
        return read_wav(wav)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise at `snr_db` relative to the power of the speech (samples above -40 dBFS)."""
    x = audio.astype(np.float64)
    active = x[np.abs(x) > 32768 * 10 ** (-40 / 20)]
    power = np.mean(np.square(active if active.size else x))
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), size=x.size)
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def pad_silence(audio: np.ndarray, rate: int, before_s: float = 0.3, after_s: float = 0.3) -> np.ndarray:
    """Leading/trailing silence, as a recording made by a VAD or a push-to-talk button would have."""
    return np.concatenate([np.zeros(int(before_s * rate), np.int16), audio, np.zeros(int(after_s * rate), np.int16)])
