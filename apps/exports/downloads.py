"""Download responses for a job's results: the results file, or the whole folder as a zip.

Both stream in constant memory, carry a Content-Length, and answer a single-range HTTP
Range request with 206 (what browsers and `batchstudio job download` send to resume), so
there is no size ceiling: a 5 GB file is just a longer stream.

The results file goes out through Django's FileResponse, so under gunicorn the kernel
copies it with sendfile(); a range is a window on the file (`_FileWindow`) that both
sendfile (it starts at the current offset and sends Content-Length bytes) and the plain
read loop respect. The zip is built on the fly by `zipstream`.
"""

from __future__ import annotations

import mimetypes
import os
import re
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.text import slugify

from apps.exports.selectors import results_dir_files, results_file_path
from apps.exports.zipstream import ZipPlan, entries_for
from apps.jobs.models import Job

# What `?format=` may ask for: the results file, or the whole results folder as a zip.
DOWNLOAD_FORMATS = ("file", "zip", "joined")
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class ResultsUnavailableError(Exception):
    """No results to send yet (or any more); `status` says which HTTP status fits."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ByteRange:
    start: int
    stop: int  # exclusive
    partial: bool


def _unsatisfiable(size: int) -> HttpResponse:
    response = HttpResponse(
        "The requested range is outside the file.", status=416, content_type="text/plain"
    )
    response["Content-Range"] = f"bytes */{size}"
    return response


def byte_range(
    request: HttpRequest, *, size: int, etag: str, mtime: float | None
) -> ByteRange | HttpResponse:
    """The part of a `size`-byte body to send, or a 416 response (RFC 9110 §14).

    A malformed header or several ranges get the whole body (a server may ignore Range);
    an If-Range that no longer matches also gets the whole body, so a client resuming an
    old partial copy starts over instead of splicing two versions.
    """
    full = ByteRange(0, size, partial=False)
    header = request.headers.get("Range")
    if not header:
        return full
    if_range = request.headers.get("If-Range")
    if if_range and not _if_range_matches(if_range, etag, mtime):
        return full
    match = _RANGE.match(header)
    if not match or (not match[1] and not match[2]):
        return full
    first, last = match[1], match[2]
    if first:
        start = int(first)
        stop = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return full
    else:  # "-N": the last N bytes
        suffix = int(last)
        if suffix == 0:
            return _unsatisfiable(size)
        start, stop = max(size - suffix, 0), size
    if start >= size:
        return _unsatisfiable(size)
    return ByteRange(start, stop, partial=True)


def _if_range_matches(value: str, etag: str, mtime: float | None) -> bool:
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # strong comparison: a weak tag never matches
    if mtime is None:
        return False
    try:
        return int(parsedate_to_datetime(value).timestamp()) == int(mtime)
    except (TypeError, ValueError):
        return False


def _with_range_headers(
    response: HttpResponse | StreamingHttpResponse | FileResponse,
    rng: ByteRange,
    size: int,
    etag: str,
) -> None:
    response["Content-Length"] = str(rng.stop - rng.start)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    if rng.partial:
        response.status_code = 206
        response["Content-Range"] = f"bytes {rng.start}-{rng.stop - 1}/{size}"


class _FileWindow:
    """bytes [start, stop) of an open file, as a file-like object.

    `fileno()` lets gunicorn use sendfile(), which starts at the descriptor's current
    offset (set here) and sends Content-Length bytes; `read()` stops at `stop` for every
    other server.
    """

    def __init__(self, fh: BinaryIO, start: int, stop: int) -> None:
        self._fh = fh
        self._left = stop - start
        self.name = fh.name
        fh.seek(start)

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._fh.read(size)
        self._left -= len(data)
        return data

    def fileno(self) -> int:
        return self._fh.fileno()

    def close(self) -> None:
        self._fh.close()


def _ensure_finished(job: Job) -> None:
    if job.is_active:
        raise ResultsUnavailableError(
            f"Job '{job.name}' is still {job.get_status_display().lower()}: its results "
            "can be downloaded once it has finished.",
            409,
        )


def results_file_response(
    request: HttpRequest, *, job: Job, joined: bool = False
) -> HttpResponse | FileResponse:
    """The results file, or with `joined` the joined results file, with HTTP Range."""
    _ensure_finished(job)
    path = results_file_path(job, joined=joined)
    if path is None and joined:
        raise ResultsUnavailableError(
            f"Job '{job.name}' has no joined results file: choose an ID column or the "
            "joined_output setting when you create a job.",
            404,
        )
    if path is None:
        raise ResultsUnavailableError(
            f"Job '{job.name}' has no results file ({job.results_filename}).", 404
        )
    fh = path.open("rb")
    stat = os.fstat(fh.fileno())  # of the file we send, even if the path is replaced
    size = stat.st_size
    etag = f'"{stat.st_ino:x}-{size:x}-{stat.st_mtime_ns:x}"'
    rng = byte_range(request, size=size, etag=etag, mtime=stat.st_mtime)
    if isinstance(rng, HttpResponse):
        fh.close()
        return rng
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    response = FileResponse(
        _FileWindow(fh, rng.start, rng.stop),
        as_attachment=True,
        filename=path.name,
        content_type=content_type,
    )
    # Django reads 4 KiB at a time by default; where sendfile is not used, bigger reads
    # cost 512 KiB of memory and go several times faster.
    response.block_size = 512 * 1024
    _with_range_headers(response, rng, size, etag)
    response["Last-Modified"] = formatdate(stat.st_mtime, usegmt=True)
    return response


def results_zip_name(job: Job) -> str:
    return f"{slugify(job.name) or 'job'}-{job.pk}-results"


def results_zip_response(request: HttpRequest, *, job: Job) -> HttpResponse | StreamingHttpResponse:
    _ensure_finished(job)
    files = results_dir_files(job)
    if not files:
        raise ResultsUnavailableError(f"Job '{job.name}' has no results folder.", 404)
    folder = results_zip_name(job)
    plan = ZipPlan(entries_for(files, prefix=f"{folder}/"))
    rng = byte_range(request, size=plan.size, etag=plan.etag, mtime=None)
    if isinstance(rng, HttpResponse):
        return rng
    response = StreamingHttpResponse(
        plan.stream(rng.start, rng.stop), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{folder}.zip"'
    _with_range_headers(response, rng, plan.size, plan.etag)
    return response
