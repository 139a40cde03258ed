"""Utterance boundaries in a chunk stream: energy VAD with hangover, and push-to-talk."""
import numpy as np
import pytest

from vla_ros.speech.recognizer import PocketsphinxRecognizer
from vla_ros.speech.synth import add_noise, espeak_binary, synthesize
from vla_ros.speech.vad import EnergyVad, PushToTalk

RATE = 22050  # espeak-ng's own rate: the stream is segmented at its rate, then resampled per utterance


@pytest.fixture(scope="module")
def two_commands():
    """One stream: silence, command, 1.2 s silence, command, silence, with faint noise (a quiet room)."""
    espeak_binary()
    first, rate = synthesize("pick up the blue block")
    second, _ = synthesize("touch the green ball")
    assert rate == RATE

    def gap(s):
        return np.zeros(int(s * RATE), np.int16)

    stream = np.concatenate([gap(0.8), first, gap(1.2), second, gap(0.8)])
    return add_noise(stream, 35.0, np.random.default_rng(0))


def chunks(audio: np.ndarray, size: int):
    for i in range(0, audio.size, size):
        yield audio[i : i + size]


def test_vad_splits_two_utterances_and_each_decodes(two_commands):
    vad = EnergyVad(RATE)
    utterances = [u for c in chunks(two_commands, 1600) for u in vad.feed(c)] + vad.flush()
    assert len(utterances) == 2
    recognizer = PocketsphinxRecognizer()
    assert [recognizer.recognize(u.audio, u.sample_rate).text for u in utterances] == [
        "pick up the blue block", "touch the green ball"]
    assert all(0.8 < u.duration_s < 3.5 for u in utterances)


def test_vad_chunk_size_does_not_change_the_split(two_commands):
    sizes = []
    for size in (160, 1024, 8000):
        vad = EnergyVad(RATE)
        fed = [u.audio.size for c in chunks(two_commands, size) for u in vad.feed(c)]
        sizes.append(fed + [u.audio.size for u in vad.flush()])
    assert sizes[0] == sizes[1] == sizes[2] and len(sizes[0]) == 2


def test_vad_recovers_when_the_background_gets_louder(two_commands):
    """A fan switched on mid-stream: one cut at max_utterance_s, then the floor has moved and speech is found again."""
    rng = np.random.default_rng(2)
    tail = np.concatenate([np.zeros(6 * RATE), two_commands])
    fan = rng.normal(0, 300, tail.size)
    stream = np.concatenate([np.zeros(RATE), np.clip(tail + fan, -32768, 32767)]).astype(np.int16)
    vad = EnergyVad(RATE, max_utterance_s=3.0)
    utterances = [u for c in chunks(stream, 1600) for u in vad.feed(c)] + vad.flush()
    recognizer = PocketsphinxRecognizer()
    texts = [recognizer.recognize(u.audio, u.sample_rate).text for u in utterances]
    assert texts[-2:] == ["pick up the blue block", "touch the green ball"]


def test_vad_keeps_silence_and_steady_noise_out():
    rng = np.random.default_rng(0)
    quiet = np.zeros(3 * RATE, np.int16)
    hum = rng.normal(0, 800, 5 * RATE).astype(np.int16)  # a fan: loud but steady, the floor adapts to it
    for audio in (quiet, hum):
        vad = EnergyVad(RATE)
        assert [u for c in chunks(audio, 1600) for u in vad.feed(c)] + vad.flush() == []


def test_push_to_talk_takes_exactly_the_audio_between_start_and_stop():
    ptt = PushToTalk(16000)
    a, b, c = (np.full(1600, v, np.int16) for v in (1, 2, 3))
    assert ptt.feed(a) == [] and not ptt.talking  # before start: dropped
    ptt.start()
    assert ptt.feed(b) == [] and ptt.feed(c) == []
    (utterance,) = ptt.stop()
    assert np.array_equal(utterance.audio, np.concatenate([b, c])) and utterance.sample_rate == 16000
    assert ptt.stop() == []


def test_push_to_talk_cuts_at_the_length_limit():
    ptt = PushToTalk(16000, max_utterance_s=0.2)
    ptt.start()
    assert ptt.feed(np.ones(1600, np.int16)) == []
    (utterance,) = ptt.feed(np.ones(1600, np.int16))
    assert utterance.duration_s == pytest.approx(0.2) and not ptt.talking
