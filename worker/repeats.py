"""Which values of a long stream may repeat, in memory that does not grow with the stream.

A Bloom filter of BITS bits (16 MiB) over 64-bit hashes, filled a chunk at a time with
NumPy: a hash whose K bits are all set already, or that repeats inside its chunk, is a
candidate. Candidates hold every real repeat plus a few false ones (about 0.2 % of 10
million values), which the caller checks exactly in a second pass. Holding every hash
instead cost 8 bytes a row: 80 MB for a 10-million-row table, in a worker whose model
needs less than that.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

BITS = 1 << 27
K = 4
CHUNK = 1 << 16
_MASK = np.uint64(BITS - 1)


def _positions(hashes: np.ndarray) -> list[np.ndarray]:
    step = (hashes >> np.uint64(32)) | np.uint64(1)  # odd: the K positions differ
    return [(hashes + np.uint64(i) * step) & _MASK for i in range(K)]


def possible_repeats(hashes: Iterable[int]) -> set[int]:
    """The hashes (of `hash()`) that may occur more than once in `hashes`."""
    bits = np.zeros(BITS // 8, dtype=np.uint8)
    candidates: set[int] = set()
    chunk: list[int] = []

    def add(values: list[int]) -> None:
        signed = np.array(values, dtype=np.int64)
        keys = signed.view(np.uint64)
        positions = _positions(keys)
        seen = np.ones(len(keys), dtype=bool)
        for pos in positions:
            seen &= ((bits[pos >> np.uint64(3)] >> (pos & np.uint64(7)).astype(np.uint8)) & 1) == 1
        unique, counts = np.unique(signed, return_counts=True)
        candidates.update(signed[seen].tolist())
        candidates.update(unique[counts > 1].tolist())
        for pos in positions:
            np.bitwise_or.at(
                bits, pos >> np.uint64(3), np.left_shift(1, pos & np.uint64(7)).astype(np.uint8)
            )

    for value in hashes:
        chunk.append(value)
        if len(chunk) == CHUNK:
            add(chunk)
            chunk = []
    if chunk:
        add(chunk)
    return candidates
