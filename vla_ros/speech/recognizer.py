"""Utterance audio -> SpeechResult, with pocketsphinx + the vocabulary grammar (default) or Whisper.

Both backends end in the same gate (`judge`): only a hypothesis that `Vocabulary.parse` turns into a
command becomes `text`, and it is published in canonical form. Anything else is "not understood"; a
robot must never act on a guess.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from vla_ros.speech.audio import RECOGNIZER_RATE, int16_to_float, resample
from vla_ros.speech.config import RecognizerConfig
from vla_ros.speech.confirmation import confirm_hint
from vla_ros.speech.grammar import FILLER_WORDS, CommandGrammar, whisper_prompt
from vla_ros.speech.result import UNSURE, SpeechResult, not_understood, understood
from vla_ros.speech.stop_alone import speech_beside_stop_s
from vla_ros.speech.whisper_check import WhisperCheck, heard_same_command, load_ct2_whisper
from vla_ros.speech.word_fit import WordFit, WordFitReference, score_per_frame
from vla_ros.vocabulary import ParseError, Vocabulary, load_vocabulary, tokenize


class Recognizer(Protocol):
    """What the speech node needs of a backend: the vocabulary it hears, and one decode per utterance."""

    vocab: Vocabulary

    def recognize(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE,
                  expect_answer: bool = False) -> SpeechResult:
        """Decode one whole utterance (mono int16 at `sample_rate`)."""
        ...


def judge(vocab: Vocabulary, hypothesis: str, confidence: float | None, latency_s: float,
          audio_s: float) -> SpeechResult:
    """The shared gate: a hypothesis is a command only if the vocabulary parses it to a complete command.

    Spoken commands must name both the colour and the shape (the grammar asks for both): typed text may say
    "touch the green", but a free transcript that short is as likely a near miss ("touch the screen").
    """
    if not hypothesis.strip():
        return not_understood("nothing recognised (silence, noise or out-of-grammar speech)", hypothesis, confidence,
                              latency_s, audio_s)
    parsed = vocab.parse(hypothesis)
    if isinstance(parsed, ParseError):
        return not_understood(f"{parsed.reason} in {hypothesis!r}", hypothesis, confidence, latency_s, audio_s)
    if not parsed.is_stop and (parsed.color is None or parsed.shape is None):
        return not_understood(f"a spoken command names both the colour and the shape, not {hypothesis!r}",
                              hypothesis, confidence, latency_s, audio_s)
    return understood(vocab.render(parsed), hypothesis, confidence, latency_s, audio_s)


def spoken_answer(vocab: Vocabulary, transcript: str) -> str | None:
    """"yes" / "no" when a free transcript is only answer words (and fillers: "Yes, please."), else None.

    A transcript that also names a command is a command, not an answer.
    """
    words = [w for w in tokenize(transcript) if w not in vocab.fillers]
    for answer, answer_words in (("yes", vocab.yes_words), ("no", vocab.no_words)):
        if words and answer_words and all(w in answer_words for w in words):
            return answer
    return None


def confidence_from_score(score_per_frame: float, scale: float = 100.0) -> float:
    """Pocketsphinx path score per speech frame -> (0, 1].

    Pocketsphinx normalises acoustic scores each frame by the best senone, so a path that matches the
    audio as well as any sound could scores ~0 per frame, and speech forced onto the wrong grammar
    path scores far below. The two overlap for near-miss sentences ("pick up the kids from school"
    scores like a real command), which is why the recogniser also judges each word (word_fit.py).
    """
    return math.exp(min(score_per_frame, 0.0) / scale)


class PocketsphinxRecognizer:
    """Offline recogniser constrained to the vocabulary's command grammar (grammar.py), the default backend.

    A grammar decoder can only answer with a command, so what it hears is published only after the checks that
    `RecognizerConfig` sets (config.py says which and why). With `expect_answer` (a "did you mean ...?" question is
    open, confirmation.py) the grammar also hears the vocabulary's yes/no words. A command the Whisper check heard
    as other words is "unsure": not published, carried in `confirm` for a spoken "yes".
    """

    def __init__(self, vocab: Vocabulary | None = None, config: RecognizerConfig | None = None) -> None:
        from pocketsphinx import Config, Decoder

        self.vocab = vocab or load_vocabulary()
        self.config = config = config or RecognizerConfig()
        self.whisper_check = (WhisperCheck(config.whisper_check_model, self.vocab, config.device)
                              if config.whisper_check_model else None)
        self.grammar = CommandGrammar(self.vocab, synonyms=config.synonyms)
        # FATAL: an incomplete decode is logged by pocketsphinx as an ERROR on every out-of-grammar
        # utterance; it is reported in the result's reason instead. Real failures still raise.
        options: dict[str, object] = {"loglevel": "FATAL", "pip": float(config.phone_insertion_penalty)}
        for key, path, what in (("hmm", config.model_dir, "model directory"),
                                ("dict", config.dictionary, "dictionary")):
            if path:
                if not Path(path).exists():
                    raise FileNotFoundError(f"pocketsphinx {what} {path} does not exist")
                options[key] = path
        self._decoder = Decoder(Config(**options))
        missing = sorted(w for w in self.grammar.words() | set(self.grammar.answer_words())
                         if self._decoder.lookup_word(w) is None)
        if missing:
            raise ValueError(f"no pronunciation for vocabulary word(s) {missing} in the pocketsphinx dictionary; "
                             "add them to the dictionary or choose other words in config/vocabulary.yaml")
        # Two searches: commands only, and commands or a yes/no while a "did you mean ...?" question is open.
        self._fsgs = {}
        for search, answers in (("commands", False), ("commands_or_answer", True)):
            jsgf = self.grammar.jsgf(answers=answers)
            self._decoder.add_jsgf_string(search, jsgf)
            self._fsgs[search] = self._decoder.parse_jsgf(jsgf)
        self._logmath = self._decoder.get_logmath()
        self.word_fit_reference = (None if config.word_fit_reference is None
                                   else WordFitReference.load(config.word_fit_reference or None))
        # Words added to the vocabulary after the reference was built are judged against its fallback.
        self.words_without_reference = (self.word_fit_reference.missing(self.grammar.words())
                                        if self.word_fit_reference else [])
        self._lock = threading.Lock()  # one decoder: a microphone thread and a topic callback may both call

    def recognize(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE,
                  expect_answer: bool = False) -> SpeechResult:
        """Decode one utterance; `expect_answer`: a question is open, so "yes" / "no" may be said (or a new command)."""
        return self.decode_words(audio, sample_rate, expect_answer)[0]

    def decode_words(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE,
                     expect_answer: bool = False) -> tuple[SpeechResult, list[tuple[str, float]]]:
        """The result, plus each hypothesis word's log acoustic score per frame (what word_fit.py judges)."""
        c = self.config
        start = time.perf_counter()
        audio_s = audio.size / sample_rate
        pcm = self._with_noise_floor(resample(np.asarray(audio, dtype=np.int16), sample_rate, RECOGNIZER_RATE))
        search = "commands_or_answer" if expect_answer else "commands"
        with self._lock:
            hypothesis, confidence, words, spans = self._decode(pcm, search)
        latency = time.perf_counter() - start
        is_answer = expect_answer and hypothesis in self.grammar.answer_words()
        fit = (self.word_fit_reference.worst(words, FILLER_WORDS)
               if self.word_fit_reference and hypothesis and not is_answer else None)
        margin = None if fit is None else fit.margin

        def rejected(why: str) -> tuple[SpeechResult, list[tuple[str, float]]]:
            return not_understood(why, hypothesis, confidence, latency, audio_s, margin), words

        if hypothesis and not self._fsgs[search].accept(hypothesis):
            return rejected(f"incomplete command {hypothesis!r}")
        # Answers, like stops, are one short word: they share the stop threshold and skip the word check.
        is_stop = self.vocab.only_stop_words(hypothesis)
        threshold = c.min_stop_confidence if is_stop or is_answer else c.min_confidence
        if confidence is not None and confidence < threshold:
            return rejected(f"low confidence {confidence:.2f} < {threshold:.2f} for {hypothesis!r}")
        # Stop words skip the word check, as they have a lower confidence threshold: a missed stop is worse
        # than a false one (the robot holds still).
        if fit is not None and not is_stop and fit.margin < c.min_word_fit:
            return rejected(self._misfit_reason(fit, hypothesis))
        if is_stop and c.max_speech_beside_stop_s is not None:
            beside = speech_beside_stop_s(pcm, [(first, last) for _, first, last in spans])
            if beside > c.max_speech_beside_stop_s:
                return rejected(f"{beside:.2f} s of other speech beside {hypothesis!r} "
                                f"(> {c.max_speech_beside_stop_s:.2f} s; a stop is said alone)")
        if is_answer:
            return self._answer(hypothesis, confidence, pcm, start, audio_s), words
        result = replace(judge(self.vocab, hypothesis, confidence, latency, audio_s), word_fit=margin)
        if self.whisper_check is not None and result.understood and (c.whisper_check_stops or not is_stop):
            result = self._second_opinion(result, pcm, start, is_stop)
        return result, words

    def _second_opinion(self, result: SpeechResult, pcm: np.ndarray, start: float, is_stop: bool) -> SpeechResult:
        """Whisper's check of a command that passed every pocketsphinx check (see whisper_check.py)."""
        with self._lock:
            opinion = self.whisper_check.opinion(int16_to_float(pcm), result.hypothesis,
                                                 tuple(self.vocab.stop_words) if is_stop else ())
        latency = time.perf_counter() - start
        checked = replace(result, latency_s=latency, whisper_heard=opinion.transcript, whisper_margin=opinion.margin)
        threshold = self.config.min_whisper_stop_margin if is_stop else self.config.min_whisper_margin
        if opinion.margin < threshold:
            why = (f"Whisper heard {opinion.transcript!r}, not {result.hypothesis!r} "
                   f"(margin {opinion.margin:.1f} < {threshold:.1f} nats)")
            return replace(not_understood(why, result.hypothesis, result.confidence, latency, result.audio_s,
                                          result.word_fit),
                           whisper_heard=opinion.transcript, whisper_margin=opinion.margin)
        if not is_stop and not heard_same_command(self.vocab, result.hypothesis, opinion.transcript):
            ask = f"; {confirm_hint(self.vocab.yes_words[0])}" if self.vocab.yes_words else ""
            return replace(checked, text=None, understood=False, confirm=result.text,
                           reason=f"{UNSURE}: heard {result.hypothesis!r} "
                                  f"but Whisper heard {opinion.transcript!r}{ask}")
        return checked

    def _answer(self, word: str, confidence: float | None, pcm: np.ndarray, start: float,
                audio_s: float) -> SpeechResult:
        """A "yes" or "no" to an open question.

        With a Whisper check, "yes" counts only if Whisper heard a yes word too: a false "yes" would act on a command
        the recognisers disagreed on.
        """
        answer = "yes" if word in self.vocab.yes_words else "no"
        heard = None
        if answer == "yes" and self.whisper_check is not None:
            with self._lock:
                heard = self.whisper_check.transcript(int16_to_float(pcm))
            if not set(tokenize(heard)) & set(self.vocab.yes_words):
                return replace(not_understood(f"heard {word!r} but Whisper heard {heard!r}", word, confidence,
                                              time.perf_counter() - start, audio_s), whisper_heard=heard)
        return SpeechResult(None, word, True, f"answer: {answer}", confidence, time.perf_counter() - start, audio_s,
                            whisper_heard=heard, answer=answer)

    def _misfit_reason(self, fit: WordFit, hypothesis: str) -> str:
        return (f"{fit.word!r} does not fit the audio (word fit {fit.margin:.2f} < {self.config.min_word_fit:.2f}; "
                f"another word was probably said) in {hypothesis!r}")

    def _decode(self, pcm: np.ndarray,
                search: str) -> tuple[str, float | None, list[tuple[str, float]], list[tuple[str, int, int]]]:
        """Hypothesis, confidence, each word's log score per frame, and each word's (first, last) frame."""
        self._decoder.activate_search(search)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr:
            return "", None, [], []
        segments = [s for s in self._decoder.seg() if s.word[0] not in "<["]  # no silence / noise fillers
        words = [(s.word.split("(")[0], score_per_frame(s.ascore, s.end_frame - s.start_frame + 1)) for s in segments]
        speech_frames = sum(s.end_frame - s.start_frame + 1 for s in segments)
        spans = [(word, s.start_frame, s.end_frame) for (word, _), s in zip(words, segments)]
        return hyp.hypstr, confidence_from_score(self._logmath.log(hyp.score) / max(speech_frames, 1)), words, spans

    def _with_noise_floor(self, pcm: np.ndarray) -> np.ndarray:
        if self.config.noise_floor_lsb <= 0:
            return pcm
        noise = np.random.default_rng(0).normal(0.0, self.config.noise_floor_lsb, pcm.size)
        return np.clip(pcm + np.round(noise), -32768, 32767).astype(np.int16)


class WhisperRecognizer:
    """Whisper for robots that have the weights; not the default.

    `model` is a local directory (must exist) or a Hugging Face model id (needs the hub cache or a
    network). A directory holding a CTranslate2 conversion (`model.bin`, the faster-whisper format)
    runs on faster-whisper, int8 on the CPU, prompted with the vocabulary (`whisper_prompt`) so that it expects
    "block", not "lock"; any other model on transformers. Free-form transcripts pass the same vocabulary gate,
    so only valid commands come out: near misses ("take the red pill") are transcribed as said and
    parse to nothing. `confidence` is the transcript's mean token probability (faster-whisper only).
    Measured: benchmarks/results/speech.whisper.md.
    """

    def __init__(self, model: str, vocab: Vocabulary | None = None, device: str = "cpu", num_threads: int = 1) -> None:
        self.vocab = vocab or load_vocabulary()
        looks_local = model.startswith((".", "/", "~")) or Path(model).expanduser().exists()
        path = Path(model).expanduser()
        if looks_local and not path.is_dir():
            raise FileNotFoundError(f"Whisper model directory {path} does not exist; give a directory saved with "
                                    "save_pretrained (config.json, weights, tokenizer), a CTranslate2 directory "
                                    "(model.bin) or a model id")
        if looks_local and (path / "model.bin").is_file():
            self.runtime = "ctranslate2"
            self._transcribe = self._faster_whisper(path, device, num_threads, whisper_prompt(self.vocab))
        else:
            self.runtime = "transformers"
            self._transcribe = self._transformers(str(path) if looks_local else model, device)

    @staticmethod
    def _faster_whisper(path: Path, device: str, num_threads: int, prompt: str):
        model = load_ct2_whisper(path, device, num_threads)

        def transcribe(audio: np.ndarray) -> tuple[str, float | None]:
            # Greedy, one window, no timestamps: a command is a few seconds, and latency matters more than beams.
            segments = list(model.transcribe(audio, language="en", beam_size=1, without_timestamps=True,
                                             initial_prompt=prompt, condition_on_previous_text=False,
                                             vad_filter=False)[0])
            if not segments:
                return "", None
            text = " ".join(seg.text.strip() for seg in segments)
            return text, math.exp(float(np.mean([seg.avg_logprob for seg in segments])))

        return transcribe

    @staticmethod
    def _transformers(model: str, device: str):
        from transformers import pipeline  # heavy: only robots that choose Whisper pay for it

        try:
            pipe = pipeline("automatic-speech-recognition", model=model, device=device)
        except OSError as exc:
            raise RuntimeError(f"cannot load Whisper model {model!r} (offline? give a local directory): {exc}") from exc
        return lambda audio: (pipe({"raw": audio, "sampling_rate": RECOGNIZER_RATE})["text"], None)

    def recognize(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE,
                  expect_answer: bool = False) -> SpeechResult:
        """Transcribe one utterance and gate it; `expect_answer`: a question is open, so a transcript of only
        "yes" / "no" words is that answer (this backend never leaves a command unsure: it has no second opinion)."""
        start = time.perf_counter()
        pcm = resample(np.asarray(audio, dtype=np.int16), sample_rate, RECOGNIZER_RATE)
        text, confidence = self._transcribe(int16_to_float(pcm))
        latency, audio_s = time.perf_counter() - start, audio.size / sample_rate
        answer = spoken_answer(self.vocab, text) if expect_answer else None
        if answer is not None:
            return SpeechResult(None, text, True, f"answer: {answer}", confidence, latency, audio_s, answer=answer)
        return judge(self.vocab, text, confidence, latency, audio_s)


def make_recognizer(backend: str = "pocketsphinx", model: str = "", vocab: Vocabulary | None = None,
                    config: RecognizerConfig | None = None) -> Recognizer:
    """The recogniser a node or the CLI asked for by name: pocketsphinx set by `config`, or Whisper from `model`.

    The Whisper backend takes only `config.device` from the config: it has no thresholds.
    """
    config = config or RecognizerConfig()
    if backend == "pocketsphinx":
        return PocketsphinxRecognizer(vocab, config)
    if backend == "whisper":
        if not model:
            raise ValueError("the whisper backend needs a model (local directory or model id)")
        return WhisperRecognizer(model, vocab, device=config.device)
    raise ValueError(f"unknown speech backend {backend!r} (pocketsphinx or whisper)")
