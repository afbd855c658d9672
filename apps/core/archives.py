"""Safe extraction of uploaded zip and tar archives.

Nothing may land outside the target folder: entries with absolute names or `..`, links
(symbolic or hard), devices and FIFOs are refused, and limits on total size and file
count stop zip bombs (the sizes are counted while streaming, not trusted from headers).
Extraction goes to a temporary folder beside the target and is renamed into place only
when the whole archive has passed, so a refused archive leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from apps.core.text import name_problem, shown

CHUNK = 1 << 20


class ArchiveError(ValueError):
    """The archive is refused; the message says why, for the user."""


def _safe_member_path(name: str) -> PurePosixPath:
    if "\x00" in name:
        raise ArchiveError(f"Refused: an entry name contains a NUL byte ('{shown(name)}').")
    # A bidi control or zero-width character would make the file show under another name
    # in every listing (the hubs, the CLI, a terminal on the storage mount).
    if problem := name_problem(name, what="entry name"):
        raise ArchiveError(f"Refused: the entry '{shown(name)}'. {problem}")
    clean = name.replace("\\", "/")
    pure = PurePosixPath(clean)
    if clean.startswith("/") or pure.is_absolute() or (len(clean) > 1 and clean[1] == ":"):
        raise ArchiveError(f"Refused: the entry '{shown(name)}' has an absolute path.")
    if ".." in pure.parts:
        raise ArchiveError(f"Refused: the entry '{shown(name)}' points outside the archive ('..').")
    return pure


def _copy_limited(src: IO[bytes], dst: Path, budget: list[int], name: str) -> None:
    with dst.open("wb") as out:
        while chunk := src.read(CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ArchiveError(
                    "Refused: the archive unpacks to more than the allowed size "
                    f"(at '{shown(name)}')."
                )
            out.write(chunk)


def _zip_entries(path: Path) -> Iterator[tuple[str, bool, IO[bytes] | None]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                shown_name = shown(info.filename)
                raise ArchiveError(f"Refused: the entry '{shown_name}' is a symbolic link.")
            if info.is_dir():
                yield info.filename, True, None
                continue
            with archive.open(info) as fh:
                yield info.filename, False, fh


def _tar_entries(path: Path) -> Iterator[tuple[str, bool, IO[bytes] | None]]:
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive:
            if member.issym() or member.islnk():
                raise ArchiveError(f"Refused: the entry '{shown(member.name)}' is a link.")
            if member.isdir():
                yield member.name, True, None
                continue
            if not member.isfile():
                shown_name = shown(member.name)
                raise ArchiveError(f"Refused: the entry '{shown_name}' is not a regular file.")
            fh = archive.extractfile(member)
            yield member.name, False, fh


def archive_kind(path: Path, original_name: str = "") -> str | None:
    name = (original_name or path.name).lower()
    if name.endswith(".zip") or zipfile.is_zipfile(path):
        return "zip"
    if name.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")) or tarfile.is_tarfile(
        path
    ):
        return "tar"
    return None


def archive_extract(
    archive: Path, target: Path, *, max_bytes: int, max_files: int, original_name: str = ""
) -> int:
    """Extract into `target` (created; must not exist). Returns the number of files."""
    kind = archive_kind(archive, original_name)
    if kind is None:
        raise ArchiveError("Refused: not a zip or tar archive.")
    if target.exists():
        raise ArchiveError(f"The folder {target.name} exists already.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    budget, files = [max_bytes], 0
    try:
        entries = _zip_entries(archive) if kind == "zip" else _tar_entries(archive)
        for name, is_dir, fh in entries:
            relative = _safe_member_path(name)
            if not relative.parts:
                continue
            destination = staging.joinpath(*relative.parts)
            if is_dir:
                destination.mkdir(parents=True, exist_ok=True)
                continue
            files += 1
            if files > max_files:
                raise ArchiveError(f"Refused: the archive holds more than {max_files} files.")
            destination.parent.mkdir(parents=True, exist_ok=True)
            assert fh is not None
            _copy_limited(fh, destination, budget, name)
        os.replace(staging, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArchiveError(f"The archive could not be read: {exc}.") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return files
