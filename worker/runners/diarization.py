"""Diarization: who speaks when in a decoded audio file (the first steps of worker.runners.asr).

1. find speech with webrtcvad (30 ms frames; a pause of 0.3 s ends a region);
2. embed 1.6 s windows of speech with resemblyzer (each window at -30 dBFS) and group them
   by speaker (worker.runners.speaker_count: a fixed count, or `auto` within bounds);
3. cut turns where the speaker changes, and join a speaker's regions across short pauses;
4. give each transcribed word to the turn it falls in.

Audio is 16 kHz mono float32, as worker.runners.asr decodes it. Times are in seconds.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.runners import Stopped
from worker.runners.speaker_count import SpeakerCount, cluster
from worker.runners.weights import ModelCache, PinnedPackage, verify_sha256

SAMPLE_RATE = 16000
RESEMBLYZER = PinnedPackage("resemblyzer", "0.1.4", "resemblyzer", pip_flags="--no-deps")
RESEMBLYZER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"

VAD_FRAME_S = 0.03
VAD_AGGRESSIVENESS = 2
REGION_CLOSE_S = 0.3  # a pause this long ends a speech region
REGION_MIN_S = 0.25
WINDOW_S = 1.6  # one resemblyzer partial utterance (160 mel frames)
WINDOW_HOP_S = 0.8
MAX_WINDOWS = 3000  # bounds clustering memory on very long files (the hop grows instead)
TURN_JOIN_S = 0.5  # one speaker's regions closer than this form one turn...
TURN_MAX_S = 30.0  # ...unless the turn would grow past this
MIN_TURN_PIECE_S = 0.6  # a speaker change shorter than this inside a region is noise
WORD_REACH_S = 1.0  # a word this far from every turn is Whisper talking over silence
SNAP_REACH_S = 0.6  # a speaker change moves to the quietest moment this close to it
ENERGY_FRAME_S = 0.01

_shared = ModelCache(size=2)  # the speaker encoder and the mel filterbank


def voice_encoder() -> Any:
    """resemblyzer's speaker encoder, loaded once per process."""

    def build() -> Any:
        weights = verify_sha256(
            RESEMBLYZER.folder() / "pretrained.pt", RESEMBLYZER_SHA256, "resemblyzer"
        )
        import torch
        from resemblyzer import VoiceEncoder  # imported once by RESEMBLYZER.folder()

        # torch.load in VoiceEncoder uses torch's weights-only unpickler (torch >= 2.6):
        # tensors and plain containers only, no code; the digest is pinned above as well.
        encoder = VoiceEncoder(device=torch.device("cpu"), verbose=False, weights_fpath=weights)
        encoder.eval()
        return encoder

    return _shared.get("resemblyzer", build)


def _mel_filters() -> Any:
    def build() -> Any:
        import librosa

        return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=400, n_mels=40).astype(np.float32)

    return _shared.get("mel", build)


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    import webrtcvad

    vad = webrtcvad.Vad(VAD_AGGRESSIVENESS)
    frame = int(SAMPLE_RATE * VAD_FRAME_S)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    regions: list[tuple[float, float]] = []
    start: int | None = None
    silent = 0
    close_after = round(REGION_CLOSE_S / VAD_FRAME_S)
    count = len(pcm) // frame
    for i in range(count):
        if vad.is_speech(pcm[i * frame : (i + 1) * frame].tobytes(), SAMPLE_RATE):
            start = i if start is None else start
            silent = 0
        elif start is not None:
            silent += 1
            if silent >= close_after:
                regions.append((start * VAD_FRAME_S, (i - silent + 1) * VAD_FRAME_S))
                start, silent = None, 0
    if start is not None:
        regions.append((start * VAD_FRAME_S, (count - silent) * VAD_FRAME_S))
    return [(a, b) for a, b in regions if b - a >= REGION_MIN_S]


def windows_of(regions: list[tuple[float, float]]) -> list[tuple[int, float, float]]:
    """(region index, start, end) of the embedding windows; short regions get one."""
    speech = sum(b - a for a, b in regions)
    hop = max(WINDOW_HOP_S, speech / MAX_WINDOWS)
    windows = []
    for r, (a, b) in enumerate(regions):
        if b - a <= WINDOW_S:
            windows.append((r, a, b))
            continue
        starts = list(np.arange(a, b - WINDOW_S, hop)) + [b - WINDOW_S]
        windows += [(r, float(s), float(s) + WINDOW_S) for s in starts]
    return windows


def embed(audio: np.ndarray, windows: list[tuple[int, float, float]]) -> np.ndarray:
    """L2-normalised resemblyzer embeddings, one per window, in one batched forward."""
    import torch

    encoder, filters = voice_encoder(), torch.from_numpy(_mel_filters())
    length = int(WINDOW_S * SAMPLE_RATE)
    clips = []
    for _, a, b in windows:
        clip = audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
        if 0 < len(clip) < length:  # tile a short region rather than pad it with silence
            clip = np.tile(clip, length // len(clip) + 1)
        clips.append(np.pad(_at_window_loudness(clip[:length]), (0, max(0, length - len(clip)))))
    batch = torch.from_numpy(np.stack(clips).astype(np.float32))
    spec = torch.stft(
        batch,
        n_fft=400,
        hop_length=160,
        window=torch.hann_window(400),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    mels = (filters @ spec.abs().pow(2)).transpose(1, 2)[:, :160, :]
    with torch.inference_mode():
        return encoder(mels).cpu().numpy()


@dataclass
class Turn:
    speaker: int
    start: float
    end: float
    words: list[tuple[float, float, str]] = field(default_factory=list)


def frame_energy(audio: np.ndarray) -> np.ndarray:
    """Mean square of each 10 ms frame, smoothed over 100 ms."""
    step = int(ENERGY_FRAME_S * SAMPLE_RATE)
    count = len(audio) // step
    frames = audio[: count * step].astype(np.float64).reshape(count, step)
    return np.convolve((frames**2).mean(axis=1), np.ones(10) / 10, mode="same")


def _snap(cut: float, a: float, b: float, energy: np.ndarray) -> float:
    """Move a speaker change inside a region [a, b] to the quietest moment near it."""
    low = max(a + 0.2, cut - SNAP_REACH_S)
    high = min(b - 0.2, cut + SNAP_REACH_S)
    first, last = int(low / ENERGY_FRAME_S), int(high / ENERGY_FRAME_S)
    if last <= first or last > len(energy):
        return cut
    return (first + int(np.argmin(energy[first:last]))) * ENERGY_FRAME_S


def turns_from(
    regions: list[tuple[float, float]],
    windows: list[tuple[int, float, float]],
    labels: np.ndarray,
    energy: np.ndarray,
) -> list[Turn]:
    """Speaker turns: regions cut where their windows change speaker, then joined."""
    pieces: list[Turn] = []
    for r, (a, b) in enumerate(regions):
        mine = [(w, int(labels[i])) for i, w in enumerate(windows) if w[0] == r]
        # Each moment of the region belongs to the window whose centre is nearest.
        centres = [((w[1] + w[2]) / 2, label) for w, label in mine]
        cuts = [a]
        owners = [centres[0][1]]
        for (c1, l1), (c2, l2) in zip(centres, centres[1:], strict=False):
            if l2 != l1:
                cuts.append(_snap((c1 + c2) / 2, a, b, energy))
                owners.append(l2)
        cuts.append(b)
        region_pieces = [Turn(o, cuts[i], cuts[i + 1]) for i, o in enumerate(owners)]
        pieces += _absorb_short(region_pieces)
    turns: list[Turn] = []
    for piece in pieces:
        last = turns[-1] if turns else None
        if (
            last is not None
            and last.speaker == piece.speaker
            and piece.start - last.end <= TURN_JOIN_S
            and piece.end - last.start <= TURN_MAX_S
        ):
            last.end = piece.end
        else:
            turns.append(piece)
    return turns


def _absorb_short(pieces: list[Turn]) -> list[Turn]:
    """A sliver of another speaker inside a region joins its longer neighbour."""
    while len(pieces) > 1:
        shortest = min(range(len(pieces)), key=lambda i: pieces[i].end - pieces[i].start)
        piece = pieces[shortest]
        if piece.end - piece.start >= MIN_TURN_PIECE_S:
            break
        if shortest == 0:
            pieces[1].start = piece.start
        elif shortest == len(pieces) - 1:
            pieces[-2].end = piece.end
        else:
            before, after = pieces[shortest - 1], pieces[shortest + 1]
            if before.end - before.start >= after.end - after.start:
                before.end = piece.end
            else:
                after.start = piece.start
        del pieces[shortest]
        merged: list[Turn] = []
        for p in pieces:  # neighbours now of one speaker become one piece
            if merged and merged[-1].speaker == p.speaker:
                merged[-1].end = p.end
            else:
                merged.append(p)
        pieces = merged
    return pieces


def assign_words(turns: list[Turn], words: list[tuple[float, float, str]]) -> None:
    """Give each word to the turn its middle falls in, or the nearest one within reach."""
    starts = [turn.start for turn in turns]
    for start, end, text in words:
        middle = (start + end) / 2
        i = bisect.bisect_right(starts, middle) - 1
        candidates = [turns[j] for j in (i, i + 1) if 0 <= j < len(turns)]
        best = min(candidates, key=lambda turn: _distance(turn, middle), default=None)
        if best is not None and _distance(best, middle) <= WORD_REACH_S:
            best.words.append((start, end, text))


def _distance(turn: Turn, moment: float) -> float:
    if turn.start <= moment <= turn.end:
        return 0.0
    return min(abs(moment - turn.start), abs(moment - turn.end))


def _at_window_loudness(clip: np.ndarray) -> np.ndarray:
    """One window at -30 dBFS, as resemblyzer's training data was: a loud and a soft
    sentence of one voice then embed alike (bench.speakers measured both ways)."""
    rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2)))
    return clip * (10 ** (-30 / 20) / rms) if rms > 1e-6 else clip


def speaker_turns(
    audio: np.ndarray,
    regions: list[tuple[float, float]],
    speakers: SpeakerCount,
    should_stop: Callable[[], bool],
) -> list[Turn]:
    """The turns of the speech `regions` of `audio` (speech_regions), one per speaker change.

    Embedding and clustering are the slow part: a quit is looked at once they are done.
    """
    windows = windows_of(regions)
    labels = cluster(embed(audio, windows), windows, speakers)
    if should_stop():
        raise Stopped
    return turns_from(regions, windows, labels, frame_energy(audio))
