"""Speech node: spoken commands -> the same std_msgs/String command topic that typing uses, offline.

Audio sources (parameter `source`):
  topic       std_msgs/Int16MultiArray on `audio_topic`: mono (or `audio_channels` interleaved) 16-bit PCM
              samples at `audio_sample_rate` Hz, any chunk size (e.g. 50 ms). Int16MultiArray carries no
              rate, so the rate is this parameter; layout may be left empty.
  microphone  a PortAudio input (`mic_device`, `mic_sample_rate`; 0 = the device's default rate).
  <path>.wav  a WAV file, decoded once on activation (demos, tests).
Utterance boundaries: `segmentation` = vad (energy voice-activity detection) or push_to_talk (the
`~/talk` std_srvs/SetBool service: true starts, false ends the utterance).
A recognised command is published in canonical vocabulary form; silence, noise, out-of-grammar speech
or a low-confidence decode publishes nothing on the command topic and "not understood: ..." on the
status topic (JSON: text, hypothesis, confidence, word_fit, whisper_heard, whisper_margin, latency_s, audio_s, rtf,
event, question, spoken). With a Whisper check, a command the two recognisers heard differently is "unsure": nothing is
published, the status asks (event "asked", question = the command), and a spoken "yes" within `confirm_timeout_s`
publishes it (event "confirmed"; speech/confirmation.py). `confirm_always` (the default) asks so before every moving
command: read back, the one setting measured with 0 false moving commands (benchmarks/results/speech.confirm_always.md).
`speak_questions` says each question aloud (espeak-ng on `speaker_device`; speech/speaker.py) and, with VAD, ignores
the input while the robot talks so it does not hear itself; the status says whether it was said ("spoken").

Stop spotter (`stop_spotter`, on by default; speech/stop_spotter.py): the grammar hears a stop only once voice-activity
detection has closed the utterance, and only a stop word said alone, so a small neural keyword spotter also listens to
every audio chunk as it arrives, before and apart from segmentation. When it hears a stop word, whatever surrounds it
("please stop", "wait, stop"), the vocabulary's stop command is published at once (never read back) with a status
event "stop_spotted". Nothing the grammar decodes from that utterance is published after it (not the stop again, nor
a command or "yes" that would move the arm after the stop). Utterances are decoded on the thread the audio comes in
on, so a command said before a stop is published before it, never after; the price is that a stop said while an
earlier utterance is being decoded waits for that decode. Trained and measured on espeak-ng speech only:
benchmarks/results/stop.md.
"""
from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from std_msgs.msg import Int16MultiArray, String
from std_srvs.srv import SetBool

from vla_ros.nodes.node_runtime import ModelNode, json_string, run_node
from vla_ros.nodes.ros_params import declare_params, param, require_topic
from vla_ros.rejections import RejectedInput
from vla_ros.speech.audio import StreamResampler
from vla_ros.speech.config import RecognizerConfig
from vla_ros.speech.confirmation import Confirmation, ask_first
from vla_ros.speech.result import NOT_UNDERSTOOD, SpeechResult
from vla_ros.topics import TOPICS
from vla_ros.vocabulary import STOP_COMMAND

if TYPE_CHECKING:
    from vla_ros.speech.audio import MicrophoneSource
    from vla_ros.speech.recognizer import Recognizer
    from vla_ros.speech.speaker import Speaker
    from vla_ros.speech.stop_spotter import StopSpotter
    from vla_ros.speech.vad import EnergyVad, PushToTalk, Utterance

RECOGNIZER = RecognizerConfig()  # the recogniser's defaults are the parameters' defaults (config.py says why)
STOP_ALREADY_SPOTTED = "stop already spotted"  # status event: a grammar stop the stop spotter had published already


@dataclass
class SpeechParams:
    """The speech node's ROS parameters; the recogniser's are checked by `RecognizerConfig` (speech/config.py)."""

    command_topic: str = param(TOPICS.command, "std_msgs/String: recognised commands out")
    status_topic: str = param(TOPICS.speech_status, "JSON status of every utterance")
    audio_topic: str = param(TOPICS.speech_audio, "std_msgs/Int16MultiArray PCM in (source: topic)")
    source: str = param("topic", "topic, microphone, or a path to a WAV file")
    audio_sample_rate: int = param(16000, "sample rate of the audio topic, Hz")
    audio_channels: int = param(1, "interleaved channels on the audio topic (mixed to mono)")
    mic_device: str = param("", "microphone: sounddevice index or name substring ('' = default)")
    mic_sample_rate: int = param(0, "microphone rate, Hz (0 = the device's default)")
    backend: str = param("pocketsphinx", "pocketsphinx (grammar from the vocabulary) or whisper")
    whisper_model: str = param("", "whisper backend: transformers directory or model id, or a CTranslate2 "
                                   "(faster-whisper) directory")
    min_confidence: float = param(RECOGNIZER.min_confidence, "pocketsphinx: reject a moving command whose "
                                  "whole-path confidence (0..1) is below this (out-of-grammar speech fits badly)")
    min_word_fit: float = param(RECOGNIZER.min_word_fit, "pocketsphinx: reject a command in which a word fits the "
                                "audio this much worse than usual (log score per frame vs word_fit_reference; "
                                "rejects near misses)")
    word_fit_reference: str = param(RECOGNIZER.word_fit_reference, "word-fit reference JSON ('' = the shipped "
                                    "one; rebuild with python -m vla_ros.speech.word_fit)")
    whisper_check_model: str = param(RECOGNIZER.whisper_check_model, "pocketsphinx: a CTranslate2 Whisper directory "
                                     "that double-checks every moving command ('' = no check; rejects near misses "
                                     "at the cost of a Whisper decode per command)")
    min_whisper_margin: float = param(RECOGNIZER.min_whisper_margin, "pocketsphinx + whisper_check_model: drop a "
                                      "command Whisper finds this many nats less likely than its own transcript")
    whisper_check_stops: bool = param(RECOGNIZER.whisper_check_stops, "pocketsphinx + whisper_check_model: check "
                                      "stops too (removes chit-chat heard as 'stop', but a stop can then be missed; "
                                      "off: every stop is obeyed)")
    min_whisper_stop_margin: float = param(RECOGNIZER.min_whisper_stop_margin, "whisper_check_stops: drop a stop "
                                           "Whisper finds this many nats less likely than its own transcript (any "
                                           "stop word agrees)")
    max_speech_beside_stop_s: float = param(RECOGNIZER.max_speech_beside_stop_s, "pocketsphinx: a stop must be said "
                                            "alone; drop a stop word with more than this much other speech as loud "
                                            "beside it, s (chit-chat heard as 'stop'; < 0 = off)")
    confirm_timeout_s: float = param(8.0, "how long a spoken 'yes' may confirm a command awaiting one, s (0 = never "
                                          "ask: commands the Whisper check is unsure of are dropped)")
    confirm_always: bool = param(True, "read back: every moving command waits for a spoken 'yes', not only unsure "
                                       "ones (a near miss one sound from a command is caught by the speaker; a second "
                                       "utterance per command; stops never wait). false: hands-free")
    speak_questions: bool = param(True, "say each question aloud (espeak-ng on speaker_device) and ignore the audio "
                                        "input while speaking (vad); without an output device it warns and the status "
                                        "still asks")
    speaker_device: str = param("", "speak_questions: sounddevice output index or name substring ('' = default)")
    mute_while_speaking: bool = param(True, "speak_questions with vad: ignore the input while the robot talks (it "
                                            "would hear itself; a stop said then is missed too). false for an "
                                            "echo-cancelled input (e.g. PipeWire echo-cancel) or a headset")
    grammar_synonyms: bool = param(RECOGNIZER.synonyms, "let speech use the vocabulary's synonyms too (off: each "
                                   "synonym is one more path for near-miss speech to become a command)")
    phone_insertion_penalty: float = param(RECOGNIZER.phone_insertion_penalty, "pocketsphinx phone insertion penalty "
                                           "(pip, a probability; 1.0 = none), chosen together with the thresholds")
    segmentation: str = param("vad", "vad (hands-free) or push_to_talk (~/talk service)")
    stop_spotter: bool = param(True, "a neural stop-word spotter hears every audio chunk, apart from segmentation, "
                                     "and publishes the stop command the moment it hears a stop word, whatever is said "
                                     "around it (speech/stop_spotter.py; benchmarks/results/stop.md)")
    stop_spotter_model: str = param("", "stop spotter model directory with config.json + weights.pt ('' = the "
                                        "shipped models/speech/stop_spotter)")
    stop_spotter_threshold: float = param(-1.0, "stop spotter decision threshold, a probability (< 0 = the model's "
                                                "own, from its config.json)")

    def recognizer_config(self) -> RecognizerConfig:
        """The recogniser settings these parameters ask for; raises ValueError (saying which) when one is invalid."""
        beside = self.max_speech_beside_stop_s
        return RecognizerConfig(min_confidence=self.min_confidence, min_word_fit=self.min_word_fit,
                                phone_insertion_penalty=self.phone_insertion_penalty,
                                word_fit_reference=self.word_fit_reference, synonyms=self.grammar_synonyms,
                                whisper_check_model=self.whisper_check_model,
                                min_whisper_margin=self.min_whisper_margin,
                                whisper_check_stops=self.whisper_check_stops,
                                min_whisper_stop_margin=self.min_whisper_stop_margin,
                                max_speech_beside_stop_s=beside if beside >= 0 else None)

    def validate(self) -> None:
        """Refuse, at start-up, parameters the node cannot run with."""
        for name in ("command_topic", "status_topic", "audio_topic"):
            require_topic(name, getattr(self, name))
        if self.source not in ("topic", "microphone") and not self.source.endswith(".wav"):
            raise ValueError(f"source={self.source!r}: use topic, microphone or a .wav path")
        if self.backend not in ("pocketsphinx", "whisper"):
            raise ValueError(f"backend={self.backend!r}: use pocketsphinx or whisper")
        if self.segmentation not in ("vad", "push_to_talk"):
            raise ValueError(f"segmentation={self.segmentation!r}: use vad or push_to_talk")
        if not 8000 <= self.audio_sample_rate <= 192000 or self.audio_channels < 1:
            raise ValueError("audio_sample_rate must be 8000..192000 Hz and audio_channels >= 1")
        self.recognizer_config()
        if self.confirm_timeout_s < 0.0:
            raise ValueError("confirm_timeout_s must be >= 0 (0 = never ask to confirm)")
        if self.confirm_always and self.confirm_timeout_s <= 0.0:
            raise ValueError("confirm_always needs confirm_timeout_s > 0 (the time a spoken 'yes' may take); "
                             "set confirm_always: false for hands-free commands")
        if self.stop_spotter_threshold >= 0.0 and not 0.0 < self.stop_spotter_threshold < 1.0:
            raise ValueError(f"stop_spotter_threshold={self.stop_spotter_threshold}: a probability strictly between 0 "
                             "and 1, or < 0 for the model's own")
        if self.whisper_check_model and self.backend != "pocketsphinx":
            raise ValueError("whisper_check_model double-checks the pocketsphinx backend; "
                             "the whisper backend needs no check")


class SpeechNode(ModelNode):
    """Audio (topic, microphone or WAV file) -> utterances -> recogniser -> command and status topics."""

    def __init__(self) -> None:
        super().__init__("speech")
        self.p = declare_params(self, SpeechParams)
        self.recognizer: Recognizer | None = None
        self.segmenter: EnergyVad | PushToTalk | None = None
        # The audio rate the segmenter was made for (a fresh one replaces it after the robot speaks).
        self.segmenter_rate = 0
        self.lock = threading.Lock()
        self.handles: list[tuple[Callable[[Any], Any], Any]] = []  # (destroy function, subscription/timer/service)
        self.mic: MicrophoneSource | None = None
        self.mic_thread: threading.Thread | None = None
        self.speaker: Speaker | None = None
        self.spotter: StopSpotter | None = None
        self.spot_resampler: StreamResampler | None = None
        self.stream_rate = 0  # the rate of the audio being fed, and how much of it (s) came since the source started
        self.stream_s = 0.0
        self.spotted_s: float | None = None  # where in that stream the last stop was spotted

    # ---------------------------------------------------------------- lifecycle
    def load(self) -> None:
        from vla_ros.speech.recognizer import make_recognizer

        if self.p.source.endswith(".wav") and not Path(self.p.source).is_file():
            raise FileNotFoundError(f"source WAV file {self.p.source} does not exist")
        self.recognizer = make_recognizer(self.p.backend, self.p.whisper_model, config=self.p.recognizer_config())
        if self.p.confirm_always and not self.recognizer.vocab.yes_words:
            raise ValueError("confirm_always needs a yes word (yes_words in the vocabulary)")
        self.confirmation = Confirmation(self.p.confirm_timeout_s)
        self.spotter = self.load_stop_spotter()
        self.speaker = self.open_speaker() if self.p.speak_questions and self.p.confirm_timeout_s > 0 else None
        missing = getattr(self.recognizer, "words_without_reference", [])
        if missing:
            self.get_logger().warning(f"no word-fit reference for {missing}: judged against the reference's fallback; "
                                      "rebuild it with python -m vla_ros.speech.word_fit")
        self.pub_command = self.create_lifecycle_publisher(String, self.p.command_topic, 10)
        self.pub_status = self.create_lifecycle_publisher(String, self.p.status_topic, 10)
        self.get_logger().info(f"speech backend {self.p.backend}, source {self.p.source}, {self.p.segmentation}, "
                               f"stop spotter {'on' if self.spotter else 'off'}")

    def load_stop_spotter(self) -> StopSpotter | None:
        """The stop spotter the parameters ask for (None: off); a clear error when its model is not there."""
        if not self.p.stop_spotter:
            return None
        from vla_ros.speech.stop_spotter import DEFAULT_MODEL_DIR, StopSpotter

        model = Path(self.p.stop_spotter_model) if self.p.stop_spotter_model else DEFAULT_MODEL_DIR
        if self.p.backend == "pocketsphinx":
            import torch

            # A ~1 ms network every 50 ms: one thread. More only contend (and spin) for cores that the other nodes
            # use, and the stop waits for them (the whisper backend shares this process's torch: it keeps them).
            torch.set_num_threads(1)
        threshold = self.p.stop_spotter_threshold
        try:
            spotter = StopSpotter.load(model, **({"threshold": threshold} if threshold >= 0.0 else {}))
        except FileNotFoundError as exc:  # the library names the missing file; say what the parameters can do
            raise FileNotFoundError(f"{exc}; or stop_spotter_model '' for the shipped one, or stop_spotter: false") \
                from exc
        self.get_logger().info(f"stop spotter {model}: threshold {spotter.cfg.threshold}, "
                               f"{spotter.cfg.consecutive} looks in a row")
        return spotter

    def open_speaker(self) -> Speaker | None:
        """The robot's voice, or None with a warning: a robot without a loudspeaker still asks on the status topic."""
        from vla_ros.speech.audio import device_spec
        from vla_ros.speech.speaker import Speaker, sounddevice_player

        try:
            return Speaker(sounddevice_player(device_spec(self.p.speaker_device))).open()
        except RuntimeError as exc:
            self.get_logger().warning(f"questions are not said aloud, only asked on {self.p.status_topic}: {exc}")
            return None

    def start(self) -> None:
        if self.p.source == "topic":
            self.listen_from(self.p.audio_sample_rate)
            self.segmenter = self.make_segmenter(self.p.audio_sample_rate)
            self.handles.append((self.destroy_subscription,
                                 self.create_subscription(Int16MultiArray, self.p.audio_topic, self.on_audio, 100)))
        elif self.p.source == "microphone":
            from vla_ros.speech.audio import MicrophoneSource, device_spec

            self.mic = MicrophoneSource(device_spec(self.p.mic_device), self.p.mic_sample_rate or None).open()
            self.listen_from(int(self.mic.sample_rate))
            self.segmenter = self.make_segmenter(int(self.mic.sample_rate))
            self.mic_thread = threading.Thread(target=self.read_microphone, daemon=True)
            self.mic_thread.start()
        else:
            self.wav_wait_ticks = 0
            self.wav_timer = self.create_timer(0.1, self.decode_wav_once)
            self.handles.append((self.destroy_timer, self.wav_timer))
        if self.p.segmentation == "push_to_talk":
            self.handles.append((self.destroy_service, self.create_service(SetBool, "~/talk", self.on_talk)))

    def stop(self) -> None:
        if self.mic is not None:
            self.mic.close()
            self.mic = None
        for destroy, handle in self.handles:
            destroy(handle)
        self.handles = []

    def unload(self) -> None:
        self.recognizer = None

    def make_segmenter(self, rate: int) -> EnergyVad | PushToTalk:
        from vla_ros.speech.vad import EnergyVad, PushToTalk

        self.segmenter_rate = rate
        return EnergyVad(rate) if self.p.segmentation == "vad" else PushToTalk(rate)

    # ---------------------------------------------------------------- audio in
    def on_audio(self, msg: Int16MultiArray) -> None:
        from vla_ros.speech.audio import pcm_chunk

        try:
            if len(msg.data) % self.p.audio_channels:
                raise RejectedInput("chunk length",
                                    f"{len(msg.data)} samples not divisible by {self.p.audio_channels} channels")
            chunk = pcm_chunk(np.asarray(msg.data, dtype=np.int16), self.p.audio_channels)
        except (RejectedInput, ValueError) as exc:
            self.rejections.reject("audio",
                                   exc if isinstance(exc, RejectedInput) else RejectedInput("bad audio", str(exc)))
            return
        self.feed(chunk)

    def read_microphone(self) -> None:
        try:
            for chunk in self.mic.chunks():
                self.feed(chunk)
        except (TimeoutError, RuntimeError) as exc:
            self.get_logger().error(f"microphone stopped: {exc}")

    def decode_wav_once(self) -> None:
        from vla_ros.speech.audio import read_wav
        from vla_ros.speech.vad import EnergyVad

        # A file is said once: wait (up to 5 s) for a command subscriber so the result is not lost.
        self.wav_wait_ticks += 1
        if self.pub_command.get_subscription_count() == 0 and self.wav_wait_ticks < 50:
            return
        self.wav_timer.cancel()  # one shot: the file is decoded once per activation
        audio, rate = read_wav(self.p.source)
        vad = EnergyVad(rate)  # a file has no button: its utterances are found by energy
        self.listen_from(rate)
        step = max(1, rate // 20)  # 50 ms chunks, as a microphone would give them: the stop spotter hears each
        for i in range(0, audio.size, step):
            chunk = audio[i:i + step]
            with self.lock:
                self.spot(chunk)
                utterances = vad.feed(chunk)
                spotted = self.spotted_in(utterances, step / rate)
            self.decode(utterances, spotted)
        utterances = vad.flush()
        self.decode(utterances, self.spotted_in(utterances, step / rate))

    def on_talk(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self.lock:
            if request.data:
                self.segmenter.start()
                utterances = []
            else:
                utterances = self.segmenter.stop()
            spotted = self.spotted_in(utterances, 0.0)
        if not request.data:
            self.decode(utterances, spotted)
        response.success, response.message = True, "listening" if request.data else f"{len(utterances)} utterance(s)"
        return response

    def feed(self, chunk: np.ndarray) -> None:
        with self.lock:
            if self.p.mute_while_speaking and self.speaker is not None and self.speaker.speaking():
                # Half duplex: the microphone hears the robot's own question. The stop spotter listens whatever the
                # segmentation, so it is deaf then in both; push-to-talk users choose when to talk.
                self.listen_from(self.stream_rate)
                if self.p.segmentation == "vad":
                    self.segmenter = self.make_segmenter(self.segmenter_rate)  # no half utterance of the robot's voice
                    return
            else:
                self.spot(chunk)
            utterances = self.segmenter.feed(chunk)
            spotted = self.spotted_in(utterances, chunk.size / self.stream_rate)
        self.decode(utterances, spotted)

    # ---------------------------------------------------------------- stop spotter
    def listen_from(self, rate: int) -> None:
        """A new stream at `rate` Hz (a source started, or the robot spoke over it): the spotter starts afresh."""
        self.stream_rate, self.stream_s, self.spotted_s = rate, 0.0, None
        if self.spotter is not None:
            self.spotter.reset()
            spotter_rate = self.spotter.cfg.sample_rate
            self.spot_resampler = StreamResampler(rate, spotter_rate) if rate != spotter_rate else None

    def spot(self, chunk: np.ndarray) -> None:
        """Every chunk, as it arrives (with the lock held): a stop word heard is the stop command, published now."""
        t0 = time.perf_counter()
        self.stream_s += chunk.size / self.stream_rate
        if self.spotter is None:
            return
        event = self.spotter.feed(chunk if self.spot_resampler is None else self.spot_resampler.feed(chunk))
        if event is None:
            return
        self.spotted_s = self.stream_s
        self.pub_command.publish(String(data=STOP_COMMAND))
        self.get_logger().info(f"stop spotted (P {event.probability:.2f}): published {STOP_COMMAND!r}")
        self.pub_status.publish(json_string({
            "event": "stop_spotted", "text": STOP_COMMAND, "understood": True, "reason": "stop word spotted",
            "probability": round(event.probability, 4), "source": self.p.source, "stream_s": round(self.stream_s, 3),
            "latency_s": round(time.perf_counter() - t0, 4)}))

    def spotted_in(self, utterances: list[Utterance], chunk_s: float) -> list[bool]:
        """For each utterance that ended in the chunk just fed: whether the stop spotter heard a stop within it."""
        return [self.spotted_s is not None and self.spotted_s >= self.stream_s - utt.duration_s - chunk_s
                for utt in utterances]

    # ---------------------------------------------------------------- out
    def decode(self, utterances: list[Utterance], spotted: list[bool]) -> None:
        """Recognise each utterance and publish what it asks for; `spotted`: the stop spotter already published a stop
        for it (a grammar stop is then not published twice, nor anything else heard in it: see `after_spotted_stop`)."""
        for utt, stop_spotted in zip(utterances, spotted):
            open_question = self.confirmation.open_question(time.monotonic()) is not None
            result = self.recognizer.recognize(utt.audio, utt.sample_rate, expect_answer=open_question)
            if stop_spotted:
                result = after_spotted_stop(result)
            if self.p.confirm_always:
                result = ask_first(result, self.recognizer.vocab.yes_words[0])
            outcome = self.confirmation.resolve(result, time.monotonic())
            command, event = outcome.command, outcome.event
            if command == STOP_COMMAND and stop_spotted:
                command, event = None, STOP_ALREADY_SPOTTED
                self.get_logger().info(f"heard {STOP_COMMAND!r}, already published by the stop spotter")
            if command:
                self.pub_command.publish(String(data=command))
                heard = "confirmed" if event == "confirmed" else "heard"
                self.get_logger().info(f"{heard} {command!r} (confidence {result.confidence})")
            elif event != STOP_ALREADY_SPOTTED:
                self.get_logger().info(result.reason)
            spoken = self.say_question(outcome.question) if outcome.question else None
            self.pub_status.publish(json_string({**result.as_dict(), "source": self.p.source, "event": event,
                                                 "question": outcome.question, "spoken": spoken}))

    def say_question(self, question: str) -> bool:
        """Say it aloud; False (logged) when there is no voice or playing failed: the status still asks."""
        from vla_ros.speech.confirmation import spoken_question

        if self.speaker is None:
            return False
        try:
            duration = self.speaker.say(spoken_question(question, self.recognizer.vocab.yes_words[0]))
            # The time for a yes starts after the question.
            self.confirmation.answerable_from(time.monotonic() + duration)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # a broken speaker must not stop listening
            self.get_logger().error(f"could not say the question: {exc}")
            return False
        return True


def after_spotted_stop(result: SpeechResult) -> SpeechResult:
    """The result of an utterance in which the stop spotter heard a stop, which it has already published: a moving
    command, a question or a "yes" the grammar made of the rest ("pick up the, wait, stop") would be published after
    that stop and move the arm again, so none is acted on; a grammar stop is left to be reported as already spotted."""
    moving = (result.text if result.text != STOP_COMMAND else None) or result.confirm or result.answer
    if not moving:
        return result
    return replace(result, text=None, understood=False, confirm=None, answer=None,
                   reason=f"{NOT_UNDERSTOOD}: heard {moving!r} in an utterance with a spotted stop: the stop stands")


def main() -> int:
    """`speech_node` executable (setup.py): run the lifecycle node until shutdown."""
    return run_node(SpeechNode)


if __name__ == "__main__":
    raise SystemExit(main())
