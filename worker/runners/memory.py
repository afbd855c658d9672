"""The worker process's allocator, tuned for the models that need it."""

from __future__ import annotations

import ctypes
import threading

# glibc's M_MMAP_THRESHOLD (mallopt parameter -3), and the value torch models get.
M_MMAP_THRESHOLD = -3
TORCH_MMAP_THRESHOLD_BYTES = 1024 * 1024

_done = threading.Event()


def keep_large_blocks_mapped() -> None:
    """Fix glibc's mmap threshold at 1 MiB in this process, once; torch runners call it.

    glibc raises its mmap threshold (up to 32 MiB) each time a large block is freed; after
    that, the tensors of padded batches (a new shape every batch) come from the heap and
    fragment it: a MiniLM worker grew from 647 to 775 MiB over 1,500 documents, and kept
    growing (bench). With the threshold fixed at 1 MiB it stays flat (1.03x at 2,000).
    Only for torch models: spaCy's arrays of a few MiB then come from fresh mappings every
    batch, and an NER job took 12 % more CPU (bench), so a process that never loads a torch
    model keeps glibc's default.
    """
    if _done.is_set():
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its allocator has its own rules
        return
    libc.mallopt(M_MMAP_THRESHOLD, TORCH_MMAP_THRESHOLD_BYTES)
    _done.set()
