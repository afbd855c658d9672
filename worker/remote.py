"""Objects read in place: a linked S3 dataset seen through the few `Path` calls the readers
make, so that counting, sharding and reading are the same code as for local files.

Pure Python (no Django, no boto3): the object store behind a RemotePath is injected
(`apps.exports.s3.S3Store`), so the readers and their tests need neither.

- `open("rb")` gives a seekable, buffered file whose reads are ranged GETs of BUFFER bytes:
  a shard that starts at byte offset N (from planning's checkpoints) asks for bytes from N
  on, never the part of the object before it; Parquet reads only the footer and the row
  groups it needs.
- The prefix is listed once per RemotePath tree (one LIST per shard or request), so
  `exists()`, `is_dir()` and the folder walk cost nothing more.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

FIRST_READ = 64 << 10  # the first GET after a jump: a header, a footer, a shard's start
BUFFER = 8 << 20  # the largest GET: a sequential scan is not chatty


class ObjectStore(Protocol):
    """What a linked dataset's store answers; `apps.exports.s3.S3Store` is the real one."""

    def objects(self) -> dict[str, int]:
        """Every object under the linked prefix, key -> size (listed once, then kept)."""

    def read(self, key: str, start: int, stop: int) -> bytes:
        """Bytes [start, stop) of an object; raises DatasetReadError with a sentence."""

    def uri(self, key: str) -> str:
        """How people name the object (`s3://bucket/key`)."""


@dataclass(frozen=True)
class RemoteStat:
    st_size: int


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of one object, read with ranged GETs.

    Read-ahead grows while reading goes on in order (FIRST_READ, doubling up to BUFFER) and
    starts small again after a jump: a header or a Parquet footer costs a small GET, a
    shard's sequential scan few large ones.
    """

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        super().__init__()
        self._store, self._key, self._size, self._pos = store, key, size, 0
        self._block, self._block_at, self._window = b"", 0, FIRST_READ

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._pos >= self._size or not len(buffer):
            return 0
        offset = self._pos - self._block_at
        block_end = self._block_at + len(self._block)
        # A read is served whole or fetched again: pyarrow reads a range with one read()
        # and takes a short answer for a broken file.
        if offset < 0 or block_end < min(self._pos + len(buffer), self._size):
            in_order = bool(self._block) and self._block_at <= self._pos <= block_end
            self._window = min(self._window * 2, BUFFER) if in_order else FIRST_READ
            stop = min(self._pos + max(self._window, len(buffer)), self._size)
            self._block, self._block_at, offset = (
                self._store.read(self._key, self._pos, stop),
                self._pos,
                0,
            )
        data = self._block[offset : offset + len(buffer)]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class RemotePath:
    """An object (or a folder of objects) under a linked prefix, as readers use a Path."""

    def __init__(self, store: ObjectStore, key: str = "") -> None:
        self.store, self.key = store, key.strip("/")

    # --- names -------------------------------------------------------------------------
    @property
    def _pure(self) -> PurePosixPath:
        return PurePosixPath(self.key or ".")

    @property
    def name(self) -> str:
        return self._pure.name

    @property
    def suffix(self) -> str:
        return self._pure.suffix

    @property
    def stem(self) -> str:
        return self._pure.stem

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self.store, self.key.rpartition("/")[0])

    @property
    def parents(self) -> list[RemotePath]:
        found, at = [], self
        while at.key:
            at = at.parent
            found.append(at)
        return found

    def __truediv__(self, other: str | PurePosixPath) -> RemotePath:
        joined = PurePosixPath(self.key, str(other)) if self.key else PurePosixPath(str(other))
        return RemotePath(self.store, joined.as_posix())

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        return PurePosixPath(self.key).relative_to(PurePosixPath(other.key or "."))

    def resolve(self) -> RemotePath:
        """Keys have no links nor `..` (the link refuses them): a key is its own resolution."""
        return self

    def __str__(self) -> str:
        return self.store.uri(self.key)

    def __repr__(self) -> str:
        return f"RemotePath({self.store.uri(self.key)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and (other.store, other.key) == (
            self.store,
            self.key,
        )

    def __hash__(self) -> int:
        return hash((id(self.store), self.key))

    # --- what is there -----------------------------------------------------------------
    def is_file(self) -> bool:
        return self.key in self.store.objects()

    def is_dir(self) -> bool:
        below = f"{self.key}/" if self.key else ""
        return any(key.startswith(below) for key in self.store.objects())

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def is_symlink(self) -> bool:
        return False

    def stat(self) -> RemoteStat:
        try:
            return RemoteStat(self.store.objects()[self.key])
        except KeyError:
            raise FileNotFoundError(str(self)) from None

    def files(self) -> Iterator[RemotePath]:
        """The objects below this folder, in key order (a folder walk's sorted order)."""
        below = f"{self.key}/" if self.key else ""
        for key in sorted(k for k in self.store.objects() if k.startswith(below)):
            yield RemotePath(self.store, key)

    # --- reading -----------------------------------------------------------------------
    def open(self, mode: str = "rb") -> io.BufferedReader:
        """A buffered file, for line and CSV readers (RangeFile reads ahead below it)."""
        if mode != "rb":
            raise ValueError("a linked dataset is read-only and read as bytes")
        return io.BufferedReader(self.open_raw())

    def open_raw(self) -> RangeFile:
        """The unbuffered file, for Parquet, whose reader asks for the ranges it needs."""
        return RangeFile(self.store, self.key, self.stat().st_size)

    def read_bytes(self) -> bytes:
        size = self.stat().st_size
        return self.store.read(self.key, 0, size) if size else b""

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)


# What a dataset path is to the readers: a local file or folder, or objects read in place.
DataPath = Path | RemotePath


def relative_name(path: DataPath, base: DataPath) -> str:
    """`path`'s name below the folder `base` (both local, or both in the same link)."""
    if isinstance(path, RemotePath) and isinstance(base, RemotePath):
        return path.relative_to(base).as_posix()
    if isinstance(path, Path) and isinstance(base, Path):
        return path.relative_to(base).as_posix()
    raise TypeError("a local path and a linked object have no common folder")
