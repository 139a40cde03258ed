"""What one decoded utterance produced: the command (or why there is none) and what it cost."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

NOT_UNDERSTOOD = "not understood"
UNSURE = "unsure"


@dataclass(frozen=True)
class SpeechResult:
    """`text` is the canonical command (vocab.render) to publish, or None: then nothing is published.

    `reason` starts with "not understood: " when `understood` is False, so a status topic can show it as is, or
    with "unsure: " when the recognisers disagreed on a command: then `confirm` holds that command, which is
    published only if a spoken "yes" follows (confirmation.py). `answer` is "yes" / "no" when the utterance answered
    such a question (`text` is then None: an answer is not a command). `confidence` is None where the backend gives
    none (Whisper). `word_fit` is the margin of the worst-fitting meaningful word against its usual score
    (word_fit.py; None where not judged).
    `whisper_heard` / `whisper_margin`: Whisper's own transcript and how much less likely it finds the
    hypothesis (whisper_check.py; None where no Whisper check ran).
    """

    text: str | None
    hypothesis: str
    understood: bool
    reason: str
    confidence: float | None
    latency_s: float
    audio_s: float
    word_fit: float | None = None
    whisper_heard: str | None = None
    whisper_margin: float | None = None
    confirm: str | None = None
    answer: str | None = None

    @property
    def rtf(self) -> float:
        """Real-time factor: decode time / audio duration (< 1 is faster than real time)."""
        return self.latency_s / self.audio_s if self.audio_s > 0 else 0.0

    def as_dict(self) -> dict:
        """Every field plus `rtf`: the speech node's status message and the benchmarks' rows."""
        return {**asdict(self), "rtf": self.rtf}

    def to_json(self) -> str:
        """`as_dict` as JSON text (what the CLI prints)."""
        return json.dumps(self.as_dict())


def understood(text: str, hypothesis: str, confidence: float | None, latency_s: float, audio_s: float,
               word_fit: float | None = None) -> SpeechResult:
    """A command to publish: `text` is its canonical form."""
    return SpeechResult(text, hypothesis, True, "understood", confidence, latency_s, audio_s, word_fit)


def not_understood(why: str, hypothesis: str, confidence: float | None, latency_s: float, audio_s: float,
                   word_fit: float | None = None) -> SpeechResult:
    """No command: `why` becomes the reason, after "not understood: "."""
    return SpeechResult(None, hypothesis, False, f"{NOT_UNDERSTOOD}: {why}", confidence, latency_s, audio_s, word_fit)
