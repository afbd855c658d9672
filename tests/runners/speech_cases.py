"""Speech made with espeak-ng for the speech tests and bench.speakers (no Django, no pytest).

`converse` lays the lines of a script end to end with a lead-in and pauses, and knows when
each voice spoke. SPEAKER_CASES are the tests' conversations for the speaker count: voices
of one sex side by side (espeak's `+m`/`+f` variants change pitch and formants, which is
most of what a speaker embedding hears). bench.speakers calibrates on other sentences.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
LEAD_IN_S = 0.5
PAUSE_S = 0.9


class EspeakMissing(RuntimeError):
    pass


def espeak(voice: str, text: str) -> np.ndarray:
    """16 kHz mono speech, trimmed of espeak's leading and trailing silence."""
    import soundfile
    from scipy.signal import resample_poly

    if shutil.which("espeak-ng") is None:
        raise EspeakMissing(
            "espeak-ng is missing: run `make test-system` (apt-get install espeak-ng)."
        )
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "--stdout", text], capture_output=True, check=True
    ).stdout
    data, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    data = resample_poly(data, SAMPLE_RATE, rate).astype(np.float32)
    loud = np.flatnonzero(np.abs(data) > 0.01)
    return data[loud[0] : loud[-1] + 1]


@dataclass(frozen=True)
class Turn:
    voice: str
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Conversation:
    audio: np.ndarray
    turns: list[Turn]

    @property
    def voices(self) -> list[str]:
        return list(dict.fromkeys(turn.voice for turn in self.turns))

    def write(self, path: Path, **kwargs: Any) -> Path:
        import soundfile

        soundfile.write(path, self.audio, SAMPLE_RATE, **kwargs)
        return path


def converse(
    lines: list[tuple[str, str]], *, lead_in: float = LEAD_IN_S, pause: float = PAUSE_S
) -> Conversation:
    """(voice, text) lines spoken in turn, `pause` seconds of silence after each."""
    pieces = [np.zeros(int(lead_in * SAMPLE_RATE), np.float32)]
    turns, clock = [], lead_in
    gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
    for voice, text in lines:
        clip = espeak(voice, text)
        turns.append(Turn(voice, text, clock, clock + len(clip) / SAMPLE_RATE))
        pieces += [clip, gap]
        clock += (len(clip) + len(gap)) / SAMPLE_RATE
    return Conversation(np.concatenate(pieces), turns)


# The tests' speaker-count conversations: name -> (voice, text) lines. Short lines keep
# Whisper quick; each voice speaks at least twice, for 2 s or more in all.
SPEAKER_CASES: dict[str, list[tuple[str, str]]] = {
    "monologue": [
        ("en+f4", "Today I will explain how the new parking rules work."),
        ("en+f4", "Every car needs a permit from the office on the first floor."),
        ("en+f4", "Visitors may park for two hours near the main entrance."),
    ],
    "two": [  # two men
        ("en-gb", "Did you finish the report for the board?"),
        ("en+m2", "Almost, I still need the sales figures from March."),
        ("en-gb", "I can send them to you this afternoon."),
        ("en+m2", "Perfect, then I will finish it tonight."),
    ],
    "three": [  # three men
        ("en-gb", "Let us decide where the team dinner will be."),
        ("en+m2", "I would like the Italian place by the river."),
        ("en+m5", "That one is always full on Fridays."),
        ("en-gb", "Then we should book a table this week."),
        ("en+m2", "I can call them tomorrow morning."),
        ("en+m5", "Ask for a table near the window please."),
    ],
    "four": [  # two men and two women
        ("en-gb", "Welcome back, the first item is the garden project."),
        ("en+f2", "The new trees arrived on Monday and look healthy."),
        ("en+m5", "We still have to choose the flowers for the front."),
        ("en+f4", "I can bring the seeds from my brother's farm."),
        ("en-gb", "Good, let us plant them before the rain starts."),
        ("en+f2", "I will rent a small digger for the weekend."),
        ("en+m5", "Please keep the path to the gate clear."),
        ("en+f4", "Then I will come early on Saturday."),
    ],
}
SPEAKER_COUNTS = {"monologue": 1, "two": 2, "three": 3, "four": 4}
