"""A ZIP archive of files, streamed in constant memory, with its size known up front.

Entries are stored, not deflated: then every byte offset of the archive follows from the
file names and sizes alone, so the response can carry a Content-Length and answer HTTP
Range requests (a resumed download), and the server spends no CPU on compression. Each
entry's CRC-32 goes in a data descriptor after its data (flag bit 3) and in the central
directory, computed while the data streams. ZIP64 records are written only where a size
or offset needs them (files or archives over 4 GiB), so small archives stay plain ZIP.

Pure Python, no Django: `ZipPlan(entries).stream(start, stop)` yields the bytes of
[start, stop).
"""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024
ZIP64_LIMIT = 0xFFFFFFFF
_FLAG_DESCRIPTOR = 0x08
_FLAG_UTF8 = 0x800
_MADE_BY_UNIX = 3 << 8


@dataclass(frozen=True)
class ZipEntry:
    name: str  # inside the archive, posix separators
    path: Path
    size: int
    mtime: float


def entries_for(files: list[tuple[str, Path]], prefix: str = "") -> list[ZipEntry]:
    entries = []
    for name, path in files:
        st = path.stat()
        entries.append(ZipEntry(prefix + name, path, st.st_size, st.st_mtime))
    return entries


def _dos_time(mtime: float) -> tuple[int, int]:
    t = time.localtime(mtime)
    if t.tm_year < 1980:
        return 0, (0 << 9) | (1 << 5) | 1  # 1980-01-01 00:00, the earliest ZIP date
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((min(t.tm_year, 2107) - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return dos_time, dos_date


@dataclass
class _Layout:
    entry: ZipEntry
    offset: int  # of the local header
    header: bytes
    zip64: bool  # sizes need 64 bits


class ZipPlan:
    def __init__(self, entries: list[ZipEntry], *, zip64_limit: int = ZIP64_LIMIT) -> None:
        self.limit = zip64_limit
        self._crcs: dict[int, int] = {}
        self.layout: list[_Layout] = []
        offset = 0
        for entry in entries:
            big = entry.size >= self.limit
            header = self._local_header(entry, big)
            self.layout.append(_Layout(entry, offset, header, big))
            offset += len(header) + entry.size + (24 if big else 16)
        self.cd_offset = offset
        self.cd_size = sum(self._central_size(item) for item in self.layout)
        self.zip64_end = (
            len(entries) >= 0xFFFF or self.cd_offset >= self.limit or self.cd_size >= self.limit
        )
        self.size = self.cd_offset + self.cd_size + (56 + 20 if self.zip64_end else 0) + 22

    @property
    def etag(self) -> str:
        """Changes whenever a name, size or modification time does."""
        digest = hashlib.sha256()
        for item in self.layout:
            e = item.entry
            digest.update(f"{e.name}\0{e.size}\0{e.mtime!r}\n".encode())
        return f'"zip-{digest.hexdigest()[:32]}"'

    # --- records ------------------------------------------------------------------------
    @staticmethod
    def _flags(name: bytes) -> int:
        try:
            name.decode("ascii")
            return _FLAG_DESCRIPTOR
        except UnicodeDecodeError:
            return _FLAG_DESCRIPTOR | _FLAG_UTF8

    def _local_header(self, entry: ZipEntry, big: bool) -> bytes:
        name = entry.name.encode()
        dos_time, dos_date = _dos_time(entry.mtime)
        # With a data descriptor the header's CRC and sizes are zero (ZIP64: the sizes are
        # 0xFFFFFFFF and live, zero too, in the ZIP64 extra), as Python's zipfile writes them.
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if big else b""
        size_field = 0xFFFFFFFF if big else 0
        return (
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                45 if big else 20,
                self._flags(name),
                0,  # stored
                dos_time,
                dos_date,
                0,
                size_field,
                size_field,
                len(name),
                len(extra),
            )
            + name
            + extra
        )

    def _central_fields(self, item: _Layout) -> tuple[bytes, int, int]:
        extra_values = []
        size_field = item.entry.size
        offset_field = item.offset
        if item.entry.size >= self.limit:
            extra_values += [item.entry.size, item.entry.size]
            size_field = 0xFFFFFFFF
        if item.offset >= self.limit:
            extra_values.append(item.offset)
            offset_field = 0xFFFFFFFF
        extra = b""
        if extra_values:
            body = struct.pack(f"<{len(extra_values)}Q", *extra_values)
            extra = struct.pack("<HH", 1, len(body)) + body
        return extra, size_field, offset_field

    def _central_size(self, item: _Layout) -> int:
        extra, _, _ = self._central_fields(item)
        return 46 + len(item.entry.name.encode()) + len(extra)

    def _central_record(self, item: _Layout, crc: int) -> bytes:
        name = item.entry.name.encode()
        extra, size_field, offset_field = self._central_fields(item)
        dos_time, dos_date = _dos_time(item.entry.mtime)
        version = 45 if extra else 20
        return (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                _MADE_BY_UNIX | version,
                version,
                self._flags(name),
                0,
                dos_time,
                dos_date,
                crc,
                size_field,
                size_field,
                len(name),
                len(extra),
                0,
                0,
                0,
                (0o100644 & 0xFFFF) << 16,
                offset_field,
            )
            + name
            + extra
        )

    def _descriptor(self, item: _Layout, crc: int) -> bytes:
        size = item.entry.size
        if item.zip64:
            return struct.pack("<IIQQ", 0x08074B50, crc, size, size)
        return struct.pack("<IIII", 0x08074B50, crc, size, size)

    def _end_records(self) -> bytes:
        count = len(self.layout)
        out = b""
        if self.zip64_end:
            zip64_end_offset = self.cd_offset + self.cd_size
            out += struct.pack(
                "<IQHHIIQQQQ",
                0x06064B50,
                44,
                _MADE_BY_UNIX | 45,
                45,
                0,
                0,
                count,
                count,
                self.cd_size,
                self.cd_offset,
            )
            out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1)
        out += struct.pack(
            "<IHHHHIIH",
            0x06054B50,
            0,
            0,
            min(count, 0xFFFF),
            min(count, 0xFFFF),
            min(self.cd_size, 0xFFFFFFFF),
            min(self.cd_offset, 0xFFFFFFFF),
            0,
        )
        return out

    # --- streaming ----------------------------------------------------------------------
    def _data(self, index: int, skip: int, take: int, *, crc_wanted: bool) -> Iterator[bytes]:
        """Bytes [skip, skip+take) of entry `index`.

        When the CRC is wanted (the range goes on past this entry's data) and not known
        yet, the whole file is read to compute it: bytes outside the range are read but not
        sent. That extra reading happens only for a resumed download.
        """
        item = self.layout[index]
        size = item.entry.size
        end = skip + take
        compute = crc_wanted and index not in self._crcs
        read_from, read_to = (0, size) if compute else (skip, end)
        crc, pos = 0, read_from
        with item.entry.path.open("rb") as fh:
            fh.seek(read_from)
            while pos < read_to:
                chunk = fh.read(min(CHUNK, read_to - pos))
                if not chunk:
                    raise OSError(f"{item.entry.path} shrank while it was being sent")
                if compute:
                    crc = zlib.crc32(chunk, crc)
                lo, hi = max(skip - pos, 0), min(end - pos, len(chunk))
                if lo < hi:
                    yield chunk if (lo, hi) == (0, len(chunk)) else chunk[lo:hi]
                pos += len(chunk)
        if compute:
            self._crcs[index] = crc

    def _crc(self, index: int) -> int:
        if index not in self._crcs:
            for _ in self._data(index, 0, 0, crc_wanted=True):
                pass
        return self._crcs[index]

    def stream(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Yield the archive's bytes in [start, stop)."""
        stop = self.size if stop is None else min(stop, self.size)
        pos = 0

        def window(length: int) -> tuple[int, int] | None:
            """The part of the next `length` bytes at `pos` that falls in [start, stop)."""
            lo, hi = max(start - pos, 0), min(stop - pos, length)
            return (lo, hi) if lo < hi else None

        for index, item in enumerate(self.layout):
            if pos >= stop:
                return
            for kind in ("header", "data", "descriptor"):
                length = {
                    "header": len(item.header),
                    "data": item.entry.size,
                    "descriptor": 24 if item.zip64 else 16,
                }[kind]
                span = window(length)
                if span is not None:
                    lo, hi = span
                    if kind == "header":
                        yield item.header[lo:hi]
                    elif kind == "data":
                        yield from self._data(index, lo, hi - lo, crc_wanted=stop > pos + length)
                    else:
                        yield self._descriptor(item, self._crc(index))[lo:hi]
                pos += length
        if pos >= stop:
            return
        tail = b"".join(
            self._central_record(item, self._crc(i)) for i, item in enumerate(self.layout)
        )
        tail += self._end_records()
        span = window(len(tail))
        if span is not None:
            yield tail[span[0] : span[1]]
