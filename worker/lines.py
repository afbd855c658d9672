"""Lines of big files at memory speed: count them, skip them, find where one starts.

Shared by worker.readers (text lines, JSON lines) and worker.tables; no decoding, 1 MiB
reads, so a multi-gigabyte input costs seconds to plan and to seek into.
"""

from __future__ import annotations

from typing import BinaryIO

from worker.remote import DataPath

CHUNK = 1 << 20


def count_lines(path: DataPath, marks: list[tuple[int, int]] | None = None) -> int:
    """Lines of a file at memory speed; with `marks`, also note where a line starts in
    each chunk (the one after the chunk's last newline): one rfind a chunk, no decoding."""
    count, last, position = 0, b"\n", 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            found = chunk.count(b"\n")
            if found and marks is not None:
                marks.append((count + found, position + chunk.rfind(b"\n") + 1))
            count += found
            position += len(chunk)
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)


def skip_lines(fh: BinaryIO, count: int) -> None:
    """Move past `count` lines without decoding them: later shards of a big file start fast.

    Counting newlines in 1 MiB chunks runs at memory speed; iterating and decoding every
    skipped line made the last shard of a million-line file cost as much as the whole job.
    """
    position = fh.tell()
    while count > 0:
        chunk = fh.read(CHUNK)
        if not chunk:
            return
        found = chunk.count(b"\n")
        if found < count:
            count -= found
            position += len(chunk)
            continue
        rest = chunk.split(b"\n", count)[-1]  # what follows the count-th newline
        fh.seek(position + len(chunk) - len(rest))
        return


def drain_line(fh: BinaryIO, raw: bytes) -> None:
    """After a line cut short at MAX_SAMPLE_BYTES, move past the rest of it in chunks."""
    if raw.endswith(b"\n"):
        return
    while (more := fh.readline(CHUNK)) and not more.endswith(b"\n"):
        pass


def seek_line(fh: BinaryIO, skip: int, offset: int | None) -> None:
    """Go to line `skip`: straight to `offset` when it is known and plausible."""
    if offset is not None and offset > 0:
        fh.seek(offset - 1)
        if fh.read(1) == b"\n":  # a line starts there: the file has not changed under us
            return
        fh.seek(0)
    elif offset == 0 and skip == 0:
        return
    skip_lines(fh, skip)
