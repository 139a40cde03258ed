"""Confirm-before-acting: a command the recognisers were unsure of waits for a spoken "yes".

Why: a grammar recogniser can only answer with a command, so speech one sound away from a command ("touch the
yellow wall") comes out as that command. With a Whisper check, such commands are the ones Whisper heard
differently; real commands mostly agree. Rather than drop every disagreement (and lose the real commands Whisper
mishears) or act on it, the robot does nothing, says what it heard on the status topic, and acts only if the user
says "yes" within `timeout_s`. Anything else (a "no", silence past the timeout, other speech) drops the question;
a new command or a stop is obeyed as usual. No rclpy here: the speech node feeds results in and publishes what
`resolve` returns.

`ask_first` (confirm every moving command, "read back"; the speech node's default, `confirm_always`). A one-sound
near miss that both recognisers hear as a command ("pick up the yellow cloth" -> "... block") can only be caught by
the person who said it; the price is a second utterance for every command. Stops are never held back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from vla_ros.speech.result import UNSURE, SpeechResult
from vla_ros.vocabulary import STOP_COMMAND


@dataclass(frozen=True)
class Outcome:
    """What one utterance did: the command to publish now (or None) and a word for the status topic."""

    command: str | None
    event: str  # "command", "asked", "confirmed", "declined", "dropped question", "nothing"
    question: str | None = None  # the command now awaiting a yes, if any


def confirm_hint(yes_word: str) -> str:
    """How a held-back command's reason tells the user to confirm it (the recogniser's unsure ones too)."""
    return f"say {yes_word!r} to confirm"


def spoken_question(command: str, yes_word: str) -> str:
    """What the robot says aloud when it asks (speaker.py): the command read back and the word that confirms it."""
    return f"{command}? Say {yes_word} to confirm."


def ask_first(result: SpeechResult, yes_word: str) -> SpeechResult:
    """A moving command held back as a question, to feed `Confirmation.resolve` (and show on the status topic) in its
    place; anything else unchanged."""
    if not result.text or result.text == STOP_COMMAND:
        return result
    return replace(result, text=None, understood=False, confirm=result.text,
                   reason=f"{UNSURE}: heard {result.text!r}; every command is confirmed: {confirm_hint(yes_word)}")


class Confirmation:
    """At most one open question; `timeout_s` <= 0 never asks (unsure commands are simply not published)."""

    def __init__(self, timeout_s: float = 8.0) -> None:
        self.timeout_s = timeout_s
        self._question: str | None = None
        self._asked_at = 0.0

    def open_question(self, now: float) -> str | None:
        """The command awaiting a yes, or None (none asked, or asked more than `timeout_s` ago)."""
        if self._question is not None and now - self._asked_at > self.timeout_s:
            self._question = None
        return self._question

    def answerable_from(self, when: float) -> None:
        """Start the open question's timeout at `when`: the end of the question said aloud, when the user can answer."""
        if self._question is not None:
            self._asked_at = max(self._asked_at, when)

    def resolve(self, result: SpeechResult, now: float) -> Outcome:
        """Feed one utterance's result (decoded with `expect_answer=open_question(now) is not None`)."""
        question, self._question = self.open_question(now), None  # every utterance closes the question
        if result.text:
            return Outcome(result.text, "command")
        if result.answer == "yes" and question is not None:
            return Outcome(question, "confirmed")
        if result.confirm and self.timeout_s > 0:
            self._question, self._asked_at = result.confirm, now
            return Outcome(None, "asked", result.confirm)
        if question is not None:
            return Outcome(None, "declined" if result.answer == "no" else "dropped question")
        return Outcome(None, "nothing")
