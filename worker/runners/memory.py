"""The worker process's allocator (glibc malloc), set the same way in every process.

glibc adapts two thresholds as a process runs: blocks above the mmap threshold get a
mapping of their own, and free memory above the trim threshold at the top of the heap goes
back to the system. Both start low (128 KiB) and rise when a large mapped block is freed,
so how a worker allocates depended on what its process had done before: a spaCy worker
child returned and re-took heap memory every batch (70 page faults a sentence, 936 `brk`
calls in 10 s) where the same loop in a fresh interpreter had settled at none, and NER
took 10 % more CPU a sentence.
"""

from __future__ import annotations

import ctypes

# mallopt parameters (glibc malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MIB = 1024 * 1024
# What glibc's own adaptation reaches at most on 64-bit: blocks under 32 MiB come from the
# heap, and the heap keeps up to 64 MiB free at its top for the next batch.
DEFAULT_MMAP_THRESHOLD, DEFAULT_TRIM_THRESHOLD = 32 * MIB, 64 * MIB
# Torch models: see allocator_for.
TORCH_MMAP_THRESHOLD, TORCH_TRIM_THRESHOLD = 4 * MIB, 128 * 1024
SETTLED = {M_MMAP_THRESHOLD: DEFAULT_MMAP_THRESHOLD, M_TRIM_THRESHOLD: DEFAULT_TRIM_THRESHOLD}
TORCH = {M_MMAP_THRESHOLD: TORCH_MMAP_THRESHOLD, M_TRIM_THRESHOLD: TORCH_TRIM_THRESHOLD}


def _mallopt(thresholds: dict[int, int]) -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its allocator has its own rules
        return False
    return all(libc.mallopt(param, value) == 1 for param, value in thresholds.items())


def settle_allocator() -> None:
    """The adapted state from the start, in every worker process (set at fork)."""
    _mallopt(SETTLED)


_torch = False  # whether the torch thresholds are in force in this process


def allocator_for(large_tensors: bool) -> None:
    """Thresholds for the model a shard is about to run; get_runner calls it every shard.

    Torch runners (`large_tensors`): map every block over 4 MiB and trim the heap. The
    tensors of padded batches take a new shape every batch; from the heap they fragment
    it: a MiniLM worker grew from 647 to 775 MiB over 1,500 documents and kept growing
    (bench); mapped, it stays flat (1.03x at 2,000). Not lower: at 1 MiB, the small
    tensors of short sentences were mapped afresh every layer, and MiniLM embeddings took
    20 % more CPU a sentence than a bare encode() loop (at 4 MiB, 9 %; documents of up to
    300 words still stayed flat: 544 -> 548 MiB over 1,536).
    Everything else gets settle_allocator's thresholds back: with spaCy's arrays of a few
    MiB in fresh mappings every batch, NER took 12 % more CPU, and Whisper (CTranslate2)
    20 % more a file, while its memory stays flat without (1.00x). Set per shard, not at
    load, so a spaCy job after a MiniLM job in the same process runs at full speed.
    """
    global _torch
    if large_tensors == _torch:
        return
    if _mallopt(TORCH if large_tensors else SETTLED):
        _torch = large_tensors


# A step whose longest text is shorter than this (in characters, about 75 tokens) makes
# tensors of a few MiB at most: see allocator_for_text.
LONG_TEXT_CHARS = 300


def allocator_for_text(longest: int) -> None:
    """Thresholds for one step of a torch model, by its longest text (batching sorts texts
    by length, so a batch switches once at most).

    Short texts make small tensors whose shapes vary little: on the heap they neither
    fragment it nor cost page faults, where mapped (allocator_for's torch thresholds) each
    layer's tensors were fresh pages, and MiniLM embeddings of sentences took 15 % more
    CPU than a bare encode() loop (5,647 vs 6,556 us a sentence). Long texts keep the torch
    thresholds, or their padded tensors fragment the heap (630 -> 851 MiB over 1,536
    documents of up to 300 words).
    """
    allocator_for(longest > LONG_TEXT_CHARS)
