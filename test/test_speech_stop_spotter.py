"""The neural stop spotter (issue 20): fires on a stop word inside other speech, not on ordinary speech; streaming
decides exactly what a whole recording decides; its settings are validated."""

import numpy as np
import pytest

from vla_ros.speech.audio import resample
from vla_ros.speech.stop_spotter import DEFAULT_MODEL_DIR, LogMel, StopSpotter, StopSpotterConfig
from vla_ros.speech.synth import add_noise, pad_silence, synthesize


@pytest.fixture(scope="module")
def spotter():
    import torch

    torch.set_num_threads(1)
    return StopSpotter.load(DEFAULT_MODEL_DIR)


def _say(text: str, voice: str = "en-us", speed: int = 150, snr_db: float | None = None, seed: int = 0) -> np.ndarray:
    audio, rate = synthesize(text, voice, speed)
    audio = pad_silence(audio, rate, 0.3, 1.0)
    if snr_db is not None:
        audio = add_noise(audio, snr_db, np.random.default_rng(seed))
    return resample(audio, rate, 16000)


def test_fires_on_please_stop(spotter):
    for voice, snr in (("en-us", None), ("en-gb", 20.0)):
        events = spotter.detect(_say("please stop", voice, snr_db=snr))
        assert len(events) >= 1, voice
        assert events[0].probability >= spotter.cfg.threshold


def test_quiet_on_ordinary_speech(spotter):
    for text in ("the weather is lovely this afternoon", "could you bring me a glass of water"):
        assert spotter.detect(_say(text)) == [], text


def test_streaming_decides_what_the_whole_recording_decides(spotter):
    pcm = np.concatenate(
        [
            _say("pick up the red ball", snr_db=20.0, seed=1),
            _say("wait, stop", snr_db=20.0, seed=2),
            _say("freeze freeze", "en-gb", seed=3),
        ]
    )
    offline = spotter.detect(pcm)
    times, probs = spotter.probabilities(pcm)
    assert len(offline) >= 2
    rng = np.random.default_rng(0)
    spotter.reset()
    streamed, i = [], 0
    while i < pcm.size:
        n = int(rng.integers(1, 2000))  # chunks of any size, down to one sample
        event = spotter.feed(pcm[i : i + n])
        if event is not None:
            streamed.append(event)
        i += n
    assert [e.sample for e in streamed] == [e.sample for e in offline]
    np.testing.assert_allclose([e.probability for e in streamed], [e.probability for e in offline], atol=1e-5)
    spotter.reset()  # one hop (50 ms) a chunk: one look each, the same P as the whole recording's
    hop = spotter.cfg.hop_frames * spotter.cfg.hop_samples
    first = spotter.cfg.win_samples - spotter.cfg.hop_samples  # the first frame needs 240 samples more
    streamed_p = []
    spotter.feed(pcm[:first])
    for i in range(first, pcm.size - hop + 1, hop):
        spotter.feed(pcm[i : i + hop])
        streamed_p.append(spotter.last_probability)
    spotter.reset()
    np.testing.assert_allclose(streamed_p, probs[: len(streamed_p)], atol=1e-5)
    assert len(streamed_p) == probs.size
    assert times[0] == pytest.approx((spotter.cfg.hop_frames - 1) * 0.01 + 0.025)


def test_log_mel_frames_do_not_depend_on_how_the_audio_is_cut():
    cfg = StopSpotterConfig()
    mel = LogMel(cfg)
    x = (np.random.default_rng(0).normal(0, 3000, 16000)).astype(np.int16)
    whole = mel(x)
    assert whole.shape == (mel.n_frames(x.size), cfg.n_mels) == (98, 40)
    first = mel(x[:8000])
    np.testing.assert_array_equal(whole[: first.shape[0]], first)


@pytest.mark.parametrize(
    "bad",
    [
        {"threshold": 0.0},
        {"threshold": 1.0},
        {"threshold": "high"},
        {"consecutive": 0},
        {"consecutive": 1.5},
        {"n_mels": -1},
        {"n_fft": 256},
        {"f_max_hz": 9000.0},
        {"window_frames": 8},
        {"hop_frames": 200},
        {"refractory_s": -1.0},
        {"log_floor": 0.0},
        {"channels": True},
    ],
)
def test_config_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="StopSpotterConfig"):
        StopSpotterConfig(**bad)


def test_config_from_dict_rejects_unknown_keys_and_load_overrides_the_rule(tmp_path):
    with pytest.raises(ValueError, match="unknown settings"):
        StopSpotterConfig.from_dict({"treshold": 0.5})
    assert StopSpotterConfig.from_dict(StopSpotterConfig().to_dict()) == StopSpotterConfig()
    assert StopSpotter.load(DEFAULT_MODEL_DIR, threshold=0.9, consecutive=3).cfg.threshold == 0.9
    with pytest.raises(FileNotFoundError, match="config.json"):
        StopSpotter.load(tmp_path)


def test_espeak_word_timing_marks_the_stop_word():
    from vla_ros.speech.stop_spotter_train import Espeak, stop_word_spans

    audio, words = Espeak().say("okay, stop it now", "en-gb-x-rp", 150)
    ((start, end),) = stop_word_spans("okay, stop it now", words)
    assert 0 < start < end < audio.size
    assert 0.2 < (end - start) / 22050 < 0.8  # one short word
    loud = np.abs(audio[start:end].astype(float)).max()
    assert loud > 1000  # speech, not a pause
