"""Train the stop spotter (stop_spotter.py) on espeak-ng speech synthesised here, and choose its threshold.

    python -m vla_ros.speech.stop_spotter_train --out models/speech/stop_spotter

Data (all synthesised, fixed seeds):
- positives: the stop words alone, repeated, and in carrier phrases written here (fillers before / after, inside
  half-said commands, after an ordinary sentence); the end of each stop word comes from espeak-ng's own phoneme
  events (libespeak-ng through ctypes), so the label "a stop word ended in the last 300 ms" is exact;
- negatives: ordinary sentences written here, the vocabulary's moving commands, words that sound like a stop word
  (shop, stock, top, hold, fees, breeze, ...) alone and in phrases, the carrier words without a stop word, silence
  and noise.

Honest evaluation: none of the sentences is on benchmarks/stop_data (the stop benchmark's forms and the speech
benchmark's out-of-grammar lists; checked at start), and the benchmark's voices (en-us, en-gb, en-us+f3,
en-gb-scotland, en-029, en-us+m3: each base voice with exactly that variant) are never synthesised here. Other
variants of the same base voices are (`en-us+m1`, `en-gb-scotland+f2`, ...). The threshold is chosen on a
validation split of our own: sentences held out from training, spoken in voices held out from training, clean and
with white noise at 20 and 10 dB as the benchmark does.

Augmentation: voice and variant, 100-220 wpm, pitch and pitch range, gain -20..+3 dB, leading / trailing silence,
white or pink noise at 0-30 dB SNR (or none), and every frame offset of the 50 ms hop.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vla_ros.speech.audio import resample
from vla_ros.speech.stop_spotter import LogMel, StopSpotterConfig, build_net

ROOT = Path(__file__).resolve().parents[2]
STOP_DATA = ROOT / "benchmarks" / "stop_data"
ESPEAK_RATE = 22050
RATE = 16000

# --- voices -------------------------------------------------------------------------------------------------------
BENCHMARK_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-029", "en-us+m3")
BASE_VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc", "en-gb-scotland",
               "en-029")
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "klatt4", "Andy", "annie", "Michael", "max", "paul", "linda", "john", "edward", "aunty", "david")


def all_voices() -> list[str]:
    """Every base voice with every variant, the benchmark's exact voices left out."""
    return [b + (f"+{v}" if v else "") for b in BASE_VOICES for v in VARIANTS
            if (b + (f"+{v}" if v else "")) not in BENCHMARK_VOICES]


def split_voices(seed: int = 0, n_val: int = 24) -> tuple[list[str], list[str]]:
    """(training voices, validation voices): a fixed-seed draw, disjoint."""
    voices = all_voices()
    order = np.random.default_rng(seed).permutation(len(voices))
    val = sorted(voices[i] for i in order[:n_val])
    return sorted(set(voices) - set(val)), val


# --- sentences ----------------------------------------------------------------------------------------------------
STOP_WORDS = ("stop", "halt", "freeze")
PREFIXES = ("please", "okay", "ok", "wait", "hey", "hey robot", "robot", "no", "no no", "oh", "oh no", "now", "just",
            "all right", "right", "come on", "whoa", "careful", "hold on", "listen", "quick", "you need to",
            "i said", "i told you to", "can you", "you must", "everybody", "emergency", "alright robot", "wait wait",
            "uh", "um", "hey you", "okay robot", "no wait", "look out", "watch out", "oops", "sorry", "well",
            "hey hey", "please robot", "robot please", "ok ok", "damn", "attention", "cut it out and", "ah",
            "wait a moment", "please please", "no no no", "yes", "guys", "right away")
SUFFIXES = ("now", "it", "please", "right now", "there", "immediately", "that", "moving", "the robot", "everything",
            "at once", "here", "now please", "this", "it now", "robot", "right there", "thanks", "okay", "all of it",
            "the arm", "for a second", "please robot", "everyone", "already", "this instant", "the motion",
            "it please", "now now", "right away", "there please",
            # vowel-initial words run into the stop word's last sound ("stop it" -> "sto-pit")
            "again", "all of that", "every motor", "it all", "at once please", "it right now", "anyway", "each of you",
            "immediately please", "into place", "it there", "everyone now", "all motion", "it at once", "on the spot",
            "it robot", "us", "it okay", "it now please", "over there")
HALF_COMMANDS = ("pick up the", "pick up the red", "push the", "push the blue block", "touch the", "touch the yellow",
                 "move the green", "grab the", "take the blue", "lift the", "slide the red block to the",
                 "push the yellow cylinder", "point at the", "tap the green", "pick up", "push the green ball to the",
                 "touch the red cylinder", "move the", "grab the yellow", "lift the blue ball")
INTERJECTIONS = ("wait", "no", "sorry", "oh", "hold on", "uh", "no no", "hmm", "actually", "oops", "careful")
# Ordinary speech written for this model (none of it is on a benchmark list: checked in `check_no_overlap`), with
# many stop-like sounds: shop, stock, top, step, stomp, hold, hall, salt, fees, free, breeze, please, cheese, ...
ORDINARY = (
    "the shop on the corner sells fresh bread", "we need more stock in the warehouse", "put it on the top shelf",
    "watch your step on the stairs", "the kids like to stomp in puddles", "hold the door open for me",
    "the hall is full of people", "the fees are due on monday", "feel free to join us", "a cool breeze came in",
    "touch wood it will work", "the stockings are by the fire", "top of the morning to you",
    "step by step we got there",
    "hold my coffee for a moment", "the concert hall was empty", "free coffee on fridays", "the breeze smells of salt",
    "the soup is too hot", "i bought some cheese at the shop", "the trees are losing their leaves",
    "please pass the pepper", "the top drawer is stuck", "she stepped outside for air", "they hold a meeting each week",
    "the school fees went up again", "he stood at the bus shelter", "spot the difference", "what a lovely short film",
    "the stone wall is very old", "a stack of papers on the desk", "the storm is coming in from the west",
    "the frost covered the windows", "our fridge is almost empty", "he loves fresh peas", "these shoes are too tight",
    "the soft toy is on the bed", "stay calm and carry on", "start the car please", "the stamp collection is huge",
    "i stubbed my toe", "that is a tough one", "the top team won the cup", "please sit down", "the sauce is too salty",
    "call the front desk", "she felt a chill in the hall", "we had a long walk in the park", "it is a free country",
    "the bees are buzzing", "please close the tap", "i need to shop for shoes", "the plot of the film was thin",
    "open the box slowly", "the mop is in the closet", "he dropped the glass", "we chopped the onions",
    "the crops grew well this year", "the cop waved us through", "the hotel is full", "the holiday starts friday",
    "fold the towels neatly", "the cold wind blew all night", "he told me a story", "the old man smiled",
    "the knees of my jeans are torn", "please read the letter", "the keys are on the hook", "these seats are taken",
    "a breeze of fresh air", "the fleece jacket is warm", "the geese flew south", "she sneezed twice",
    "squeeze the lemon", "the tease was harmless", "three free tickets", "the fries are cold", "freedom of speech",
    "i can hear the sea", "please be quiet", "tell me more about it", "good afternoon", "it looks like rain",
    "the robot is very clever", "the arm moved to the left", "the red block is on the table",
    "the blue ball rolled away", "a yellow cylinder and a green cube", "pick a card any card", "push the limits",
    "move over please", "she touched the painting", "lift with your legs", "take your time", "grab a seat",
    "the children are playing outside", "my phone is out of battery", "the bus was on time today",
    "let me know when you are ready", "can we talk later", "i forgot my umbrella", "the printer is jammed again",
    "what are you cooking", "the window is open", "turn left at the lights", "put the kettle on",
    "he is a big fan of jazz", "the garden needs water", "the lamp is too bright", "where is the remote control",
    "i will call you back", "the shops close at six", "the stock is running low", "top up my phone please",
    "a hot cup of tea", "the halls were decorated", "we paid the fees online", "set them free", "the breeze is nice",
    "hold tight", "the salt and the pepper", "a tall glass of water", "the ball hit the wall", "the fall was steep",
    "i saw the show", "she shook his hand", "what a shock", "the clock ticks",
    "a top hat and a cane", "the laptop is slow", "the desktop needs cleaning", "a drop of rain", "the shop assistant",
    "he is a fast runner", "the post office is shut", "i lost the plot", "the dog sat on the mat",
)
CONFUSABLE_WORDS = (
    "shop", "stock", "top", "step", "stomp", "stoop", "stuff", "spot", "stab", "stuck", "stamp", "stub", "slop",
    "hop", "pop", "mop", "cop", "drop", "crop", "chop", "stork", "storm", "stone", "stay", "start", "star", "stack",
    "stuck up", "stash", "tops", "shops", "scot", "swap", "staff", "stoke", "stove", "sock", "toss", "cost", "lost",
    "hold", "hall", "halls", "salt", "fault", "vault", "malt", "hot", "hulk", "help", "all", "call", "tall", "ha",
    "hello", "holt", "hole", "half", "hat", "hut", "hurt", "heart", "wall",
    "fees", "free", "breeze", "trees", "frees", "fries", "fridge", "cheese", "please", "ease", "sneeze", "squeeze",
    "freed", "frame", "friend", "three", "tease", "peace", "bees", "keys", "fleece", "freak", "free it", "fresh",
    "friends", "seize", "phase", "these",
    "touch", "much", "such", "okay", "wait", "now", "it", "no", "yes", "robot",
)


def _words(s: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", s.lower()).split())


def benchmark_sentences() -> set[str]:
    """Every benchmark utterance (stop forms, out-of-grammar lists), punctuation and case dropped."""
    lists = json.loads((STOP_DATA / "speech_bench_lists.json").read_text())
    bench = {s for group in lists["out_of_grammar"].values() for s in group}
    bench |= set(lists["speech_bench_stop_forms"]) | set(stop_forms())
    return {_words(s) for s in bench}


def check_no_overlap(sentences: list[str]) -> None:
    """No training sentence may be a benchmark sentence; a stop word alone is the vocabulary itself and allowed."""
    bench = benchmark_sentences() - set(STOP_WORDS)
    clash = sorted({s for s in sentences if _words(s) in bench})
    if clash:
        raise ValueError(f"training sentences on a benchmark list: {clash[:10]}")


def without_benchmark(texts: list[str]) -> list[str]:
    """Drop drawn utterances that happen to be a benchmark sentence ("please, stop" is "please stop")."""
    bench = benchmark_sentences() - set(STOP_WORDS)
    return [t for t in texts if _words(t) not in bench]


def stop_forms(path: Path | None = None) -> list[str]:
    """Stop forms, one a line, '#' comments skipped: the stop benchmark's (benchmarks/stop_data/stop_forms.txt) or
    those of `path`."""
    lines = (path or STOP_DATA / "stop_forms.txt").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def _sep(rng) -> str:
    return rng.choice([" ", ", "])


def positive_text(rng: np.random.Generator) -> str:
    """One utterance with at least one stop word, drawn from carrier templates."""
    w = str(rng.choice(STOP_WORDS, p=[0.5, 0.25, 0.25]))
    kind = rng.integers(0, 12)
    pre, suf = str(rng.choice(PREFIXES)), str(rng.choice(SUFFIXES))
    if kind == 0:
        return w
    if kind == 1:
        n = int(rng.integers(2, 5))
        words = [w if rng.random() < 0.8 else str(rng.choice(STOP_WORDS)) for _ in range(n)]
        return (", " if rng.random() < 0.4 else " ").join(words)
    if kind == 2:
        return pre + _sep(rng) + w
    if kind == 3:
        return w + _sep(rng) + suf
    if kind == 4:
        return pre + _sep(rng) + w + _sep(rng) + suf
    if kind == 5:
        return str(rng.choice(HALF_COMMANDS)) + ", " + str(rng.choice(INTERJECTIONS)) + ", " + w + (
            "" if rng.random() < 0.6 else _sep(rng) + suf)
    if kind == 6:
        return str(rng.choice(HALF_COMMANDS)) + ", " + w
    if kind == 7:
        negation = str(rng.choice(["don't", "do not", "do not ever", "never"]))
        return negation + " " + w + ("" if rng.random() < 0.5 else " " + suf)
    if kind == 8:
        return str(rng.choice(ORDINARY)) + ", " + w
    if kind == 9:
        return pre + _sep(rng) + w + " " + w
    if kind == 10:
        return w + ", " + str(rng.choice(ORDINARY))
    return pre + _sep(rng) + str(rng.choice(PREFIXES)) + _sep(rng) + w


def negative_text(rng: np.random.Generator, commands: list[str]) -> str:
    """One utterance without a stop word: ordinary speech, a command, a near-sound, carriers alone."""
    kind = rng.integers(0, 10)
    if kind <= 2:
        return str(rng.choice(ORDINARY))
    if kind == 3:
        return str(rng.choice(commands))
    if kind == 4:
        return str(rng.choice(CONFUSABLE_WORDS))
    if kind == 5:
        return str(rng.choice(PREFIXES)) + _sep(rng) + str(rng.choice(CONFUSABLE_WORDS))
    if kind == 6:
        return str(rng.choice(CONFUSABLE_WORDS)) + _sep(rng) + str(rng.choice(SUFFIXES))
    if kind == 7:
        return str(rng.choice(PREFIXES)) + _sep(rng) + str(rng.choice(SUFFIXES))
    if kind == 8:
        return ", ".join(str(rng.choice(x)) for x in (HALF_COMMANDS, INTERJECTIONS, CONFUSABLE_WORDS))
    return str(rng.choice(PREFIXES)) + _sep(rng) + str(rng.choice(commands))


# --- espeak-ng with word timing -----------------------------------------------------------------------------------
class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_WORD, _PHONEME = 1, 7


class Espeak:
    """libespeak-ng, synchronous: text -> (int16 audio at 22.05 kHz, [(char offset, start, end sample)] per word).

    The audio is sample for sample what `espeak-ng -w` writes (the command line only adds trailing silence). A word
    ends where the first event of anything after it starts (the next word, or a pause).
    """

    def __init__(self):
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        rate = self.lib.espeak_Initialize(2, 0, None, 0x8001)  # AUDIO_OUTPUT_SYNCHRONOUS; phoneme events, don't exit
        if rate != ESPEAK_RATE:
            raise RuntimeError(f"libespeak-ng gave sample rate {rate}")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int]] = []

        def on_audio(wav, n, events):
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            i = 0
            while events[i].type != 0:
                e = events[i]
                self._events.append((e.type, e.text_position, e.length, e.sample))
                i += 1
            return 0

        self._callback = _CALLBACK(on_audio)  # kept alive as long as self
        self.lib.espeak_SetSynthCallback(self._callback)

    def say(self, text: str, voice: str, wpm: int, pitch: int = 50, pitch_range: int = 50):
        """Speak `text`; pitch and range 0-100 (50 = espeak-ng's defaults; they are set every time, as they persist)."""
        self._chunks, self._events = [], []
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:  # as the espeak-ng command line: then by language
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(_Voice(languages=voice.encode()))) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(1, int(wpm), 0)  # espeakRATE
        self.lib.espeak_SetParameter(3, int(pitch), 0)  # espeakPITCH
        self.lib.espeak_SetParameter(4, int(pitch_range), 0)  # espeakRANGE
        data = text.encode() + b"\0"
        self.lib.espeak_Synth(data, len(data), 0, 0, 0, 1, None, None)  # espeakCHARS_UTF8
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        words = []
        for i, (kind, pos, length, sample) in enumerate(self._events):
            if kind != _WORD:
                continue
            end = audio.size
            for kind2, pos2, _, sample2 in self._events[i + 1:]:
                if pos2 != pos and sample2 > sample:
                    end = sample2
                    break
            words.append((pos - 1, sample, end))
        return audio, words


def stop_word_spans(text: str, words: list[tuple[int, int, int]]) -> list[tuple[int, int]] | None:
    """(start, end) samples of each stop word in `text`, or None when espeak's word events do not cover one."""
    spans = []
    for m in re.finditer(r"\b(" + "|".join(STOP_WORDS) + r")\b", text):
        hit = [(s, e) for pos, s, e in words if pos == m.start()]
        if not hit:
            return None
        spans.append(hit[0])
    return spans


# --- audio augmentation -------------------------------------------------------------------------------------------
def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of 1/f noise, unit standard deviation."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(f), n=n)
    return x / (x.std() + 1e-12)


def speech_power(x: np.ndarray) -> float:
    """Mean power of the samples above -40 dBFS (as `vla_ros.speech.synth.add_noise` measures speech)."""
    active = x[np.abs(x) > 32768 * 10 ** (-40 / 20)]
    return float(np.mean(np.square(active if active.size else x))) + 1e-9


def augment(audio16: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gain, then white or pink noise at 0-30 dB SNR (or none), as int16."""
    x = audio16.astype(np.float64) * 10 ** (rng.uniform(-20.0, 3.0) / 20)
    r = rng.random()
    if r < 0.75:
        snr = rng.uniform(0.0, 30.0)
        noise = rng.normal(size=x.size) if r < 0.45 else pink_noise(x.size, rng)
        x = x + noise * np.sqrt(speech_power(x) / 10 ** (snr / 10))
    elif r < 0.85:  # a quiet room: a little noise well below the speech
        x = x + rng.normal(size=x.size) * 10 ** (rng.uniform(0.0, 2.5))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


# --- rendering ----------------------------------------------------------------------------------------------------
@dataclass
class Rendered:
    """Feature rows of every rendered utterance, back to back, each preceded by `window_frames` pad rows."""

    feats: list = field(default_factory=list)
    labels: list = field(default_factory=list)  # per row: 1 positive, 0 negative, -1 ignore / pad
    texts: list = field(default_factory=list)
    utt_rows: list = field(default_factory=list)  # (first row, last row + 1, text index) of each utterance


def frame_labels(n_frames: int, spans16: list[tuple[int, int]], cfg: StopSpotterConfig) -> np.ndarray:
    """Per frame count e (a look after e frames; time t = end of frame e - 1): 1 if a stop word ended within the last
    300 ms (t in [end - 20 ms, end + 300 ms]), -1 while one is being said or in the second after it, else 0."""
    t = ((np.arange(1, n_frames + 1) - 1) * cfg.hop_samples + cfg.win_samples) / cfg.sample_rate
    lab = np.zeros(n_frames, np.int8)
    for s, e in spans16:
        s_t, e_t = s / RATE, e / RATE
        lab[(t >= s_t + 0.08) & (t < e_t + 1.0)] = -1
    for s, e in spans16:
        e_t = e / RATE
        lab[(t >= e_t - 0.02) & (t <= e_t + 0.30)] = 1
    return lab


def render(items: list[tuple[str, str, int]], cfg: StopSpotterConfig, seed: int, copies: int,
           log_every: int = 500) -> Rendered:
    """(text, voice, wpm) -> features of `copies` augmented renderings each, with per-frame labels."""
    rng = np.random.default_rng(seed)
    espeak, logmel = Espeak(), LogMel(cfg)
    out = Rendered()
    pad = np.full((cfg.window_frames, cfg.n_mels), np.log(cfg.log_floor), np.float32)
    row, skipped, t0 = 0, 0, time.time()
    for i, (text, voice, wpm) in enumerate(items):
        if text == "":  # silence / noise only
            audio, spans = np.zeros(int(rng.uniform(0.5, 2.0) * ESPEAK_RATE), np.int16), []
        else:
            audio, words = espeak.say(text, voice, wpm, pitch=int(rng.integers(25, 76)),
                                      pitch_range=int(rng.integers(20, 81)))
            spans = stop_word_spans(text, words)
            if spans is None or audio.size == 0:
                skipped += 1
                continue
        before, after = rng.uniform(0.05, 0.6), rng.uniform(0.1, 0.6)
        a16 = resample(audio, ESPEAK_RATE, RATE)
        lead = int(before * RATE)
        a16 = np.concatenate([np.zeros(lead, np.int16), a16, np.zeros(int(after * RATE), np.int16)])
        spans16 = [(lead + s * RATE // ESPEAK_RATE, lead + e * RATE // ESPEAK_RATE) for s, e in spans]
        out.texts.append(text)
        for _ in range(copies):
            f = logmel(augment(a16, rng))
            lab = frame_labels(f.shape[0], spans16, cfg)
            out.feats += [pad, f]
            out.labels += [np.full(cfg.window_frames, -1, np.int8), lab]
            out.utt_rows.append((row + cfg.window_frames, row + cfg.window_frames + f.shape[0], len(out.texts) - 1))
            row += cfg.window_frames + f.shape[0]
        if log_every and (i + 1) % log_every == 0:
            print(f"  rendered {i + 1}/{len(items)} ({time.time() - t0:.0f} s)", flush=True)
    if skipped:
        print(f"  skipped {skipped} utterances whose stop word espeak-ng did not time", flush=True)
    return out


def make_items(n_pos: int, n_neg: int, n_silence: int, voices: list[str], ordinary: tuple[str, ...],
               commands: list[str], seed: int) -> list[tuple[str, str, int]]:
    """(text, voice, wpm) of the training utterances ("" = silence / noise only)."""
    rng = np.random.default_rng(seed)
    global ORDINARY
    saved, ORDINARY = ORDINARY, ordinary  # the templates draw ordinary speech from this split only
    try:
        texts = [positive_text(rng) for _ in range(n_pos)] + [negative_text(rng, commands) for _ in range(n_neg)]
    finally:
        ORDINARY = saved
    texts = without_benchmark(texts) + [""] * n_silence  # the benchmark's forms are never trained on
    check_no_overlap([t for t in texts if t])
    return [(t, str(rng.choice(voices)), int(rng.integers(100, 221))) for t in texts]


# --- training -----------------------------------------------------------------------------------------------------
def stack(r: Rendered) -> tuple[np.ndarray, np.ndarray]:
    """All feature rows (float16) and their labels, back to back."""
    return np.concatenate(r.feats).astype(np.float16), np.concatenate(r.labels)


def train(cfg: StopSpotterConfig, feats: np.ndarray, labels: np.ndarray, steps: int, batch: int, seed: int,
          hard: float = 0.5, log_every: int = 200):
    """AdamW, one-cycle learning rate, 3/8 of each batch positive; after the first 10% of the steps only the `hard`
    share of the negatives with the highest loss count (online hard-negative mining)."""
    import torch
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net(cfg)
    valid_rows = feats[labels >= 0].astype(np.float32)
    net.mean.copy_(torch.from_numpy(valid_rows.mean(0)[:, None]))
    net.std.copy_(torch.from_numpy(valid_rows.std(0)[:, None] + 1e-3))
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    print(f"  windows: {pos.size} positive, {neg.size} negative frame ends; "
          f"{sum(p.numel() for p in net.parameters())} parameters", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    offsets = np.arange(-cfg.window_frames + 1, 1)
    n_pos = batch * 3 // 8
    net.train()
    t0, running = time.time(), []
    for step in range(steps):
        idx = np.concatenate([rng.choice(pos, n_pos), rng.choice(neg, batch - n_pos)])
        y = torch.from_numpy((labels[idx] == 1).astype(np.float32))
        x = torch.from_numpy(feats[idx[:, None] + offsets[None, :]].astype(np.float32)).transpose(1, 2)
        if rng.random() < 0.5:  # a frequency mask on half the batches
            f0 = int(rng.integers(0, cfg.n_mels - 6))
            x[:, f0:f0 + int(rng.integers(1, 6))] = net.mean[f0:f0 + 1, 0].mean()
        losses = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y, reduction="none")
        if step >= steps // 10 and hard < 1.0:
            negs = losses[n_pos:].topk(max(1, int(hard * (batch - n_pos)))).values
            loss = (losses[:n_pos].sum() + negs.sum()) / (n_pos + negs.numel())
        else:
            loss = losses.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        if (step + 1) % log_every == 0:
            print(f"  step {step + 1}/{steps} loss {np.mean(running):.4f} ({time.time() - t0:.0f} s)", flush=True)
            running = []
    return net.eval()


def utterance_scores(net, cfg: StopSpotterConfig, feats: np.ndarray, utt_rows: list, texts: list) -> list[dict]:
    """Per utterance: the P at every hop (as the streaming detector would look) and where the stop words end."""
    import torch
    out = []
    offsets = np.arange(-cfg.window_frames + 1, 1)
    with torch.inference_mode():
        for first, last, ti in utt_rows:
            ends = np.arange(first + cfg.hop_frames - 1, last, cfg.hop_frames)  # row of the last frame at each look
            x = torch.from_numpy(feats[ends[:, None] + offsets[None, :]].astype(np.float32)).transpose(1, 2)
            p = torch.sigmoid(net(x)).numpy()
            out.append({"text": texts[ti], "p": p, "ends": ends - first})
    return out


def fires(p: np.ndarray, threshold: float, k: int) -> int | None:
    """Index of the hop where `k` hops in a row first reach `threshold`, or None."""
    run = 0
    for i, v in enumerate(p):
        run = run + 1 if v >= threshold else 0
        if run >= k:
            return i
    return None


CARRIER_WORDS = ("okay", "wait", "now", "it", "no", "yes", "robot", "please")
SOUND_ALIKES = tuple(w for w in CONFUSABLE_WORDS if w not in CARRIER_WORDS)
HAS_STOP_WORD = re.compile(r"\b(stop|halt|freeze)\b")


def is_drill(text: str, ordinary: tuple[str, ...], commands: list[str]) -> bool:
    """A sound-alike drill: a lone stop-like word with carriers ("okay, hop", "stork", "lift the, uh, trees"), not a
    sentence or a command. These are harder than the speech the goal names and are reported apart."""
    if text in ordinary or any(text.endswith(c) for c in commands):
        return False
    return any(re.search(r"(^|[ ,])" + re.escape(w) + r"($|[ ,])", text) for w in SOUND_ALIKES)


def choose_threshold(scores: list[dict], k: int, max_false: float,
                     drill=lambda text: False) -> tuple[float, list[dict]]:
    """The lowest threshold (step 0.01) whose false stops on the validation speech (own sentences, commands, carrier
    phrases: the kinds of speech the goal names; sound-alike drills are counted apart) are at most `max_false` per
    utterance; the whole curve alongside."""
    pos = [s for s in scores if HAS_STOP_WORD.search(s["text"])]
    neg = [s for s in scores if not HAS_STOP_WORD.search(s["text"]) and not drill(s["text"])]
    drills = [s for s in scores if not HAS_STOP_WORD.search(s["text"]) and drill(s["text"])]
    curve = []
    for th in np.round(np.arange(0.05, 1.0, 0.01), 2):
        curve.append({"threshold": float(th), "recall": float(np.mean([fires(s["p"], th, k) is not None for s in pos])),
                      "false_stops": float(np.mean([fires(s["p"], th, k) is not None for s in neg])),
                      "false_stops_on_drills": float(np.mean([fires(s["p"], th, k) is not None for s in drills]))
                      if drills else None})
    ok = [c for c in curve if c["false_stops"] <= max_false]
    chosen = ok[0]["threshold"] if ok else 0.99
    return chosen, curve


def validation_items(val_voices: list[str], ordinary: tuple[str, ...], commands: list[str], seed: int):
    """Own held-out sentences in held-out voices, at the benchmark's speeds, clean / 20 dB / 10 dB white noise."""
    rng = np.random.default_rng(seed)
    global ORDINARY
    saved, ORDINARY = ORDINARY, ordinary
    try:
        texts = [positive_text(rng) for _ in range(500)] + [negative_text(rng, commands) for _ in range(700)]
        texts += list(ordinary)  # every held-out ordinary sentence once more
    finally:
        ORDINARY = saved
    texts = without_benchmark(texts)
    check_no_overlap(texts)
    return [(t, str(rng.choice(val_voices)), int(rng.choice([110, 130, 150, 175, 200])), rng.choice([None, 20.0, 10.0]))
            for t in texts]


def render_validation(items, cfg: StopSpotterConfig, seed: int) -> tuple[np.ndarray, list, list]:
    """The benchmark's way: espeak-ng audio, 0.3 s of silence each side, white noise at 22.05 kHz, then 16 kHz."""
    rng = np.random.default_rng(seed)
    espeak, logmel = Espeak(), LogMel(cfg)
    pad = np.full((cfg.window_frames, cfg.n_mels), np.log(cfg.log_floor), np.float32)
    feats, utt_rows, texts, row = [], [], [], 0
    for text, voice, wpm, snr in items:
        audio, words = espeak.say(text, voice, wpm)
        if stop_word_spans(text, words) is None:
            continue
        silence = np.zeros(int(0.3 * ESPEAK_RATE), np.int16)
        audio = np.concatenate([silence, audio, silence])
        if snr is not None:
            x = audio.astype(np.float64)
            x = x + rng.normal(0.0, np.sqrt(speech_power(x) / 10 ** (snr / 10)), x.size)
            audio = np.clip(np.round(x), -32768, 32767).astype(np.int16)
        f = logmel(resample(audio, ESPEAK_RATE, RATE))
        feats += [pad, f]
        texts.append(text)
        utt_rows.append((row + cfg.window_frames, row + cfg.window_frames + f.shape[0], len(texts) - 1))
        row += cfg.window_frames + f.shape[0]
    return np.concatenate(feats).astype(np.float16), utt_rows, texts


def validate(net, cfg: StopSpotterConfig, val_voices, val_ordinary, commands, args) -> tuple[float, dict, dict]:
    """Score the validation split, choose the threshold; (threshold, its row of the curve, what config.json keeps)."""
    vitems = validation_items(val_voices, val_ordinary, commands, args.seed + 2)
    vfeats, vrows, vtexts = render_validation(vitems, cfg, args.seed + 3)
    scores = utterance_scores(net, cfg, vfeats, vrows, vtexts)
    threshold, curve = choose_threshold(scores, cfg.consecutive, args.max_false,
                                        lambda t: is_drill(t, val_ordinary, commands))
    at = next(c for c in curve if c["threshold"] == threshold)
    print(f"threshold {threshold}: validation recall {at['recall']:.4f}, false stops {at['false_stops']:.4f} "
          f"(sound-alike drills {at['false_stops_on_drills']})", flush=True)
    n_pos = sum(bool(HAS_STOP_WORD.search(s["text"])) for s in scores)
    n_drill = sum(is_drill(s["text"], val_ordinary, commands) for s in scores if not HAS_STOP_WORD.search(s["text"]))
    return threshold, at, {"voices": val_voices, "utterances": len(scores), "with_stop_word": n_pos,
                           "sound_alike_drills": n_drill, "other_speech": len(scores) - n_pos - n_drill,
                           "consecutive": cfg.consecutive, "max_false": args.max_false, "threshold": threshold,
                           "at_threshold": at, "curve": curve}


def revalidate(model_dir: Path, args) -> None:
    """Choose the threshold of a trained model again (the validation rule changed), keeping its weights."""
    import torch

    from vla_ros.vocabulary import load_vocabulary
    meta = json.loads((model_dir / "config.json").read_text())
    cfg = StopSpotterConfig.from_dict(meta["config"])
    net = build_net(cfg)
    net.load_state_dict(torch.load(model_dir / "weights.pt", map_location="cpu", weights_only=True))
    net.eval()
    _, val_voices = split_voices(args.seed)
    order = np.random.default_rng(args.seed).permutation(len(ORDINARY))
    val_ordinary = tuple(ORDINARY[i] for i in sorted(order[: len(ORDINARY) // 5]))
    commands = [c.text for c in load_vocabulary().all_commands()]
    threshold, _, validation = validate(net, cfg, val_voices, val_ordinary, commands, args)
    meta["config"] = replace(cfg, threshold=threshold).to_dict()
    meta["validation"] = validation
    (model_dir / "config.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"rewrote {model_dir / 'config.json'}", flush=True)


def main() -> None:
    """Render, train, validate, write weights.pt + config.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "models" / "speech" / "stop_spotter"))
    parser.add_argument("--positives", type=int, default=5000)
    parser.add_argument("--negatives", type=int, default=6000)
    parser.add_argument("--silences", type=int, default=200)
    parser.add_argument("--copies", type=int, default=2, help="augmented renderings of each utterance")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--max-false", type=float, default=0.02, help="false stops per validation utterance allowed")
    parser.add_argument("--consecutive", type=int, default=2)
    parser.add_argument("--channels", type=int, default=48, help="network width")
    parser.add_argument("--hard", type=float, default=0.5, help="share of the negatives kept by hard-negative mining")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="", help="comma-separated .npz files to keep / reuse rendered training data "
                        "(each one a part with its own seed)")
    parser.add_argument("--revalidate", action="store_true", help="only choose the threshold of the model in --out "
                        "again on the validation split (weights kept)")
    parser.add_argument("--render-only", action="store_true", help="render (and cache) the training data, no training")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    if args.revalidate:
        revalidate(Path(args.out), args)
        return
    start = time.time()
    from vla_ros.vocabulary import load_vocabulary
    commands = [c.text for c in load_vocabulary().all_commands()]
    cfg = StopSpotterConfig(consecutive=args.consecutive, channels=args.channels)
    train_voices, val_voices = split_voices(args.seed)
    order = np.random.default_rng(args.seed).permutation(len(ORDINARY))
    val_ordinary = tuple(ORDINARY[i] for i in sorted(order[: len(ORDINARY) // 5]))
    train_ordinary = tuple(ORDINARY[i] for i in sorted(order[len(ORDINARY) // 5:]))
    parts = []
    for j, cache in enumerate(args.cache.split(",") if args.cache else [""]):
        if cache and os.path.exists(cache):
            z = np.load(cache)
            parts.append((z["feats"], z["labels"]))
            print(f"training data from {cache}", flush=True)
            continue
        seed = args.seed + 10 * j  # each part its own sentences, voices and augmentation
        items = make_items(args.positives, args.negatives, args.silences, train_voices, train_ordinary, commands, seed)
        print(f"rendering {len(items)} training utterances x {args.copies}", flush=True)
        parts.append(stack(render(items, cfg, seed + 1, args.copies)))
        if cache:
            np.savez(cache, feats=parts[-1][0], labels=parts[-1][1])
    feats, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if args.render_only:
        return
    render_s = time.time() - start
    net = train(cfg, feats, labels, args.steps, args.batch, args.seed, args.hard)
    train_s = time.time() - start - render_s
    print("validation", flush=True)
    threshold, at, validation = validate(net, cfg, val_voices, val_ordinary, commands, args)
    cfg = replace(cfg, threshold=threshold)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "weights.pt")
    meta = {"config": cfg.to_dict(),
            "parameters": int(sum(p.numel() for p in net.parameters())),
            "trained": {"command": "python -m vla_ros.speech.stop_spotter_train " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("cache",)),
                "seed": args.seed, "steps": args.steps, "batch": args.batch, "copies": args.copies,
                "training_frames": int(feats.shape[0]), "positive_frame_ends": int((labels == 1).sum()),
                "render_s": round(render_s, 1), "train_s": round(train_s, 1), "torch": torch.__version__,
                "train_voices": train_voices, "benchmark_voices_left_out": list(BENCHMARK_VOICES)},
            "validation": validation}
    (out / "config.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {out} in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
