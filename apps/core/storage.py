"""The one way to turn a user-given path into a filesystem path.

Every path a user gives (a dataset's relative path, a folder to register) is resolved
here and must stay inside its root: no `..`, no absolute paths, no NUL bytes, no symlinks
that lead out.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from django.conf import settings

MAX_PATH_LENGTH = 1024
PATH_TOO_LONG = f"The path is longer than {MAX_PATH_LENGTH:,} characters."


class UnsafePathError(ValueError):
    """A user-given path that would leave its root; the message is shown to the user."""


def storage_root() -> Path:
    root = Path(settings.STORAGE_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def relative_parts(relative: str | None, *, within: str = "the dataset") -> PurePosixPath:
    """`relative` as a path that stays below its root by its text alone (no absolute
    path, no `..`, no NUL); UnsafePathError with a sentence otherwise. Links are
    safe_join's to check (an S3 key has none)."""
    if relative is None:
        relative = ""
    if len(relative) > MAX_PATH_LENGTH:
        raise UnsafePathError(PATH_TOO_LONG)
    if "\x00" in relative:
        raise UnsafePathError("The path contains a NUL byte.")
    if not relative.isascii():
        try:
            relative.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate from a JSON "\ud800" escape
            raise UnsafePathError("The path is not valid UTF-8 text.") from exc
    text = relative.strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if pure.is_absolute() or text.startswith("~"):
        raise UnsafePathError(f"Give a path relative to {within}, not an absolute path.")
    if ".." in pure.parts:
        raise UnsafePathError("The path may not contain '..'.")
    return pure


def safe_join(root: Path, relative: str, *, within: str = "the dataset") -> Path:
    """Resolve `relative` under `root`, refusing anything that escapes it.

    `within` names the root the way the user knows it, for the messages.
    """
    pure = relative_parts(relative, within=within)
    root = root.resolve()
    candidate = (root / pure).resolve()
    if candidate != root and root not in candidate.parents:
        raise UnsafePathError("The path leads outside its folder (through a link).")
    return candidate


def storage_path(relative: str) -> Path:
    return safe_join(storage_root(), relative, within="the storage root")


def display_path(relative: str) -> str:
    """The absolute path as users see it on the NFS mount."""
    return str(PurePosixPath(settings.NFS_DISPLAY_ROOT) / relative)
