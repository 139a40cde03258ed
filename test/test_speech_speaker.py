"""The robot's voice: a question is real espeak-ng speech, and the node knows how long to ignore its microphone."""
import numpy as np
import pytest

from vla_ros.speech.confirmation import spoken_question
from vla_ros.speech.speaker import Speaker, sounddevice_player


def test_a_question_is_said_and_the_input_is_ignored_until_it_has_been_heard():
    played: list[tuple[np.ndarray, int]] = []
    speaker = Speaker(play=lambda audio, rate: played.append((audio, rate)), echo_tail_s=0.3).open()
    text = spoken_question("pick up the red block", "yes")
    assert text == "pick up the red block? Say yes to confirm."
    duration = speaker.say(text, now=100.0)
    (audio, rate), = played
    assert audio.dtype == np.int16 and duration == pytest.approx(audio.size / rate)
    assert 1.5 < duration < 6.0  # eight words at 150 wpm, not a click or a hang
    assert np.sqrt(np.mean(np.square(audio.astype(np.float64)))) > 300  # speech, not silence
    assert speaker.speaking(100.0) and speaker.speaking(100.0 + duration + 0.29)
    assert not speaker.speaking(100.0 + duration + 0.31)


def test_a_missing_loudspeaker_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no audio output device 'no such loudspeaker'"):
        sounddevice_player("no such loudspeaker")
