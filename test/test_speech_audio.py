"""Audio plumbing: resampling to 16 kHz, WAV reading, topic PCM chunks, microphone errors."""
import wave

import numpy as np
import pytest

from vla_ros.speech.audio import (
    MicrophoneSource,
    StreamResampler,
    float_to_int16,
    int16_to_float,
    pcm_chunk,
    read_wav,
    resample,
    write_wav,
)


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return float_to_int16(amplitude * np.sin(2 * np.pi * freq * t))


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000])
def test_resample_keeps_a_tone(rate):
    out = resample(tone(440, rate), rate, 16000)
    assert out.dtype == np.int16 and out.size == 16000
    expected = tone(440, 16000)
    assert np.abs(out[300:-300].astype(int) - expected[300:-300]).max() < 0.002 * 32768


@pytest.mark.parametrize("rate", [44100, 48000])
def test_resample_removes_what_16k_cannot_hold(rate):
    """A 10 kHz tone would alias to 6 kHz if it were not filtered out before decimation."""
    out = resample(tone(10000, rate), rate, 16000)
    assert np.abs(out[300:-300]).max() < 0.01 * 32768


def test_resample_same_rate_is_identity():
    x = tone(300, 16000)
    assert resample(x, 16000, 16000) is x


def test_int16_float_round_trip_and_clipping():
    x = np.array([-32768, -1, 0, 1, 32767], np.int16)
    assert np.array_equal(float_to_int16(int16_to_float(x)), x)
    assert np.array_equal(float_to_int16(np.array([-2.0, 2.0])), np.array([-32768, 32767], np.int16))


def test_read_wav_mixes_stereo_to_mono(tmp_path):
    left, right = tone(440, 48000), np.zeros(48000, np.int16)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(np.stack([left, right], axis=1).astype("<i2").tobytes())
    audio, rate = read_wav(path)
    assert rate == 48000 and audio.size == 48000
    assert np.abs(audio.astype(int) - left // 2).max() <= 1


def test_write_then_read_wav(tmp_path):
    x = tone(440, 16000)
    write_wav(tmp_path / "a.wav", x, 16000)
    audio, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and np.array_equal(audio, x)


def test_pcm_chunk_from_bytes_and_from_int16_values_agree():
    x = np.array([1, -2, 300, -32768, 32767, 0], np.int16)
    assert np.array_equal(pcm_chunk(x.astype("<i2").tobytes()), x)
    assert np.array_equal(pcm_chunk(list(x)), x)


def test_pcm_chunk_interleaved_stereo_is_averaged():
    stereo = np.array([100, 300, -100, -300], np.int16)
    assert np.array_equal(pcm_chunk(stereo, channels=2), np.array([200, -200], np.int16))
    with pytest.raises(ValueError, match="channels"):
        pcm_chunk(np.arange(5, dtype=np.int16), channels=2)


def test_microphone_with_unknown_device_says_so():
    with pytest.raises(RuntimeError, match="no audio input device 'no-such-device'"):
        MicrophoneSource(device="no-such-device").open()


@pytest.mark.parametrize("src", [8000, 22050, 48000])
def test_stream_resampler_matches_resampling_the_whole_stream(src):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(src) * 3000).astype(np.int16)
    stream, out, i = StreamResampler(src, 16000), [], 0
    while i < x.size:  # chunks of random size, as a microphone driver delivers them
        n = int(rng.integers(50, 3000))
        out.append(stream.feed(x[i:i + n]))
        i += n
    y = np.concatenate(out)
    whole = resample(x, src, 16000)
    assert whole.size - 40 < y.size <= whole.size and np.array_equal(y, whole[:y.size])
