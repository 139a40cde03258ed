"""A stop is said alone: speech heard as a stop word with other speech beside it was something else.

Why: stops have a low confidence threshold and skip the word check (a missed stop is worse than a false one), so
chit-chat ("i like green tea", "read me the news") sometimes comes out as "freeze" or "halt": the grammar has nowhere
else to put it, and pocketsphinx lays the word over one part of the sentence and silence over the rest. No acoustic
score separates those from real stops (benchmarks/results/speech.oog_rejection.md, sixth study), but energy does: a
real stop leaves nothing loud outside the stop word, a sentence leaves its other words. Counted: frames (10 ms, as
pocketsphinx's) outside the stop word(s) that are speech (well above the utterance's quietest frames) and as loud as
the stop word (within `within_db` of its loudest frame), so a quieter talker in the background does not count.
"""
from __future__ import annotations

import numpy as np

from vla_ros.speech.audio import RECOGNIZER_RATE

FRAME_HOP = RECOGNIZER_RATE // 100  # pocketsphinx's 10 ms frame shift
FRAME_WINDOW = 2 * FRAME_HOP


def frame_levels_db(pcm: np.ndarray) -> np.ndarray:
    """Energy in dB of a 20 ms window at every 10 ms frame of 16 kHz audio (frame i starts at sample 160 i)."""
    x = np.asarray(pcm, dtype=np.float64)
    n = max(1, int(np.ceil(x.size / FRAME_HOP)))
    padded = np.concatenate([x, np.zeros(n * FRAME_HOP + FRAME_WINDOW - x.size)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, FRAME_WINDOW)[::FRAME_HOP][:n]
    return 10.0 * np.log10(np.mean(windows * windows, axis=1) + 1.0)


def speech_beside_stop_s(pcm: np.ndarray, stop_spans: list[tuple[int, int]], voiced_db: float = 12.0,
                         within_db: float = 15.0) -> float:
    """Seconds of speech outside the stop word(s) (`stop_spans`: inclusive pocketsphinx frame ranges) about as loud.

    A frame is speech when it is `voiced_db` above the utterance's quietest frames (5th percentile), or halfway to its
    loudest (98th) when the whole utterance spans less than twice that (loud noise).
    """
    levels = frame_levels_db(pcm)
    inside = np.zeros(levels.size, bool)
    for start, end in stop_spans:
        inside[max(start, 0):min(end, levels.size - 1) + 1] = True
    if not inside.any():
        return 0.0
    floor, top = np.percentile(levels, 5), np.percentile(levels, 98)
    speech = levels > floor + min(voiced_db, 0.5 * (top - floor))
    as_loud = levels > levels[inside].max() - within_db
    return float(np.sum(speech & as_loud & ~inside)) * FRAME_HOP / RECOGNIZER_RATE
