"""Synthetic speech for checks (tests, `make bench`, `manage.py model_cards`): espeak-ng
voices reading a script, so the words and who spoke when are known exactly.

Django-free; needs the `espeak-ng` program (`make test-system` installs it).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
LEAD_IN_S = 0.5
PAUSE_S = 0.9


class EspeakMissing(RuntimeError):
    pass


def espeak(voice: str, text: str, speed: int = 150) -> np.ndarray:
    """16 kHz mono float32 speech, trimmed of espeak's leading and trailing silence."""
    import soundfile
    from scipy.signal import resample_poly

    if shutil.which("espeak-ng") is None:
        raise EspeakMissing(
            "espeak-ng is missing: run `make test-system` (apt-get install espeak-ng)."
        )
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    data, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    data = resample_poly(data, SAMPLE_RATE, rate).astype(np.float32)
    loud = np.flatnonzero(np.abs(data) > 0.01)
    return data[loud[0] : loud[-1] + 1] if len(loud) else data


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
    def text(self) -> str:
        return " ".join(turn.text for turn in self.turns)

    @property
    def voices(self) -> list[str]:
        return list(dict.fromkeys(turn.voice for turn in self.turns))

    def write(self, path: Path, **kwargs: Any) -> Path:
        import soundfile

        soundfile.write(path, self.audio, SAMPLE_RATE, **kwargs)
        return path


def converse(
    script: Sequence[tuple[str, str]], *, lead_in: float = LEAD_IN_S, pause: float = PAUSE_S
) -> Conversation:
    """The (voice, words) lines spoken in turn, `pause` seconds of silence after each."""
    pieces = [np.zeros(int(lead_in * SAMPLE_RATE), np.float32)]
    turns, clock = [], lead_in
    gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
    for voice, text in script:
        clip = espeak(voice, text)
        turns.append(Turn(voice, text, clock, clock + len(clip) / SAMPLE_RATE))
        pieces += [clip, gap]
        clock += (len(clip) + len(gap)) / SAMPLE_RATE
    return Conversation(np.concatenate(pieces), turns)
