"""What a user reads when a job cannot use its input or write its results.

Workers see the storage root at their own mount point; users see NFS_DISPLAY_ROOT.
"""

from __future__ import annotations

import errno

from django.conf import settings

from apps.core.storage import storage_root


def user_message(exc: Exception) -> str:
    """An expected failure's text (bad input, missing model), with the user's paths."""
    return str(exc).replace(str(storage_root()), str(settings.NFS_DISPLAY_ROOT))


def os_message(exc: OSError) -> str:
    """A file error while reading the input or writing shard parts."""
    no_space = no_space_reason(exc)
    if no_space:
        return f"Could not write the results: {no_space}. Free some space and run the job again."
    where = f" ({exc.filename})" if exc.filename else ""
    text = f"Could not read or write a file{where}: {exc.strerror or exc}."
    return text.replace(str(storage_root()), str(settings.NFS_DISPLAY_ROOT))


def no_space_reason(exc: OSError) -> str | None:
    """What to tell the user when a write failed for want of space, or None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the results disk (or its quota is used up)"
    if exc.errno == errno.EFBIG:
        return (
            "no space left for the file: it reached the worker's file size limit "
            "(ulimit -f / RLIMIT_FSIZE)"
        )
    return None
