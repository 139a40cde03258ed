"""Confirm-before-acting: an unsure command waits for a spoken "yes"; nothing else publishes it."""
import pytest

from vla_ros.speech.confirmation import Confirmation, ask_first
from vla_ros.speech.result import SpeechResult, not_understood, understood
from vla_ros.speech.whisper_check import heard_same_command
from vla_ros.vocabulary import load_vocabulary

UNSURE = SpeechResult(None, "touch the yellow ball", False, "unsure: Whisper heard 'Touch the yellow wall.'",
                      0.7, 0.5, 1.5, confirm="touch the yellow ball")
YES = SpeechResult(None, "yes", True, "answer: yes", 0.6, 0.3, 0.8, answer="yes")
NO = SpeechResult(None, "no", True, "answer: no", 0.6, 0.3, 0.8, answer="no")
NOTHING = not_understood("nothing recognised", "", None, 0.1, 1.0)


def test_a_yes_within_the_timeout_publishes_the_unsure_command():
    c = Confirmation(timeout_s=8.0)
    asked = c.resolve(UNSURE, now=0.0)
    assert asked.command is None and asked.event == "asked" and asked.question == "touch the yellow ball"
    assert c.open_question(5.0) == "touch the yellow ball"
    confirmed = c.resolve(YES, now=5.0)
    assert confirmed.command == "touch the yellow ball" and confirmed.event == "confirmed"
    assert c.open_question(5.1) is None and c.resolve(YES, now=5.2).command is None  # one yes, one command


def test_a_late_yes_a_no_or_other_speech_publishes_nothing():
    c = Confirmation(timeout_s=8.0)
    c.resolve(UNSURE, now=0.0)
    assert c.open_question(8.5) is None and c.resolve(YES, now=8.5).command is None
    c.resolve(UNSURE, now=10.0)
    declined = c.resolve(NO, now=11.0)
    assert declined.command is None and declined.event == "declined"
    c.resolve(UNSURE, now=20.0)
    dropped = c.resolve(NOTHING, now=21.0)
    assert dropped.command is None and dropped.event == "dropped question" and c.open_question(21.5) is None


def test_a_new_command_or_a_stop_is_obeyed_and_closes_the_question():
    c = Confirmation()
    c.resolve(UNSURE, now=0.0)
    stop = c.resolve(understood("stop", "halt", 0.5, 0.1, 0.6), now=1.0)
    assert stop.command == "stop" and stop.event == "command" and c.open_question(1.0) is None
    c.resolve(UNSURE, now=2.0)
    command = understood("pick up the red block", "pick up the red block", 0.7, 0.1, 1.4)
    assert c.resolve(command, now=3.0).command == "pick up the red block"
    assert c.resolve(YES, now=4.0).command is None


def test_ask_first_holds_every_moving_command_for_a_yes_but_never_a_stop():
    c = Confirmation(timeout_s=8.0)
    command = understood("pick up the red block", "pick up the red block", 0.7, 0.1, 1.4)
    held = ask_first(command, "yes")
    assert held.text is None and held.confirm == "pick up the red block" and held.reason.startswith("unsure: ")
    asked = c.resolve(held, now=0.0)
    assert asked.command is None and asked.event == "asked" and asked.question == "pick up the red block"
    assert c.resolve(ask_first(YES, "yes"), now=1.0).command == "pick up the red block"
    c.resolve(held, now=2.0)
    stop = understood("stop", "halt", 0.5, 0.1, 0.6)
    assert ask_first(stop, "yes") == stop and c.resolve(stop, now=3.0).command == "stop"  # and closes the question
    assert c.resolve(YES, now=4.0).command is None
    assert ask_first(UNSURE, "yes") == UNSURE and ask_first(NOTHING, "yes") == NOTHING


def test_timeout_zero_never_asks():
    c = Confirmation(timeout_s=0.0)
    assert c.resolve(UNSURE, now=0.0).event == "nothing" and c.resolve(YES, now=0.0).command is None


@pytest.mark.parametrize("hypothesis, heard, same", [
    ("push the yellow block backward", "Push the yellow block back, weird.", True),   # extra words, a synonym
    ("pick up the red block", "Pick up the red block.", True),
    ("touch the yellow ball", "Touch the yellow wall.", False),                      # the near miss
    ("touch the yellow ball", "Touch me at the wall.", False),
    ("push the blue ball to the right", "Push them, blue, not on the right.", False),
    ("push the red cylinder backward", "Push the red cylinder mark, Wood.", False),  # a real command, misheard: asked
    ("stop", "Please stop.", True),
])
def test_heard_same_command_compares_meaning_not_wording(hypothesis, heard, same):
    assert heard_same_command(load_vocabulary(), hypothesis, heard) is same


def test_the_time_for_a_yes_starts_when_the_spoken_question_ends():
    c = Confirmation(timeout_s=8.0)
    c.answerable_from(50.0)  # no question open: nothing to start
    c.resolve(UNSURE, now=0.0)
    c.answerable_from(3.0)  # the question took 3 s to say
    assert c.open_question(10.5) == "touch the yellow ball" and c.open_question(11.5) is None
