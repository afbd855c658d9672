"""Run one case's bare loop in a process of its own: `python -m bench.bare CASE FILE BATCH`.

The bench process has Django and the worker's Celery app imported, and with them the
worker's allocator settings (worker/celery.py); a person's script has neither, so the
bare loop runs in a fresh interpreter. Prints the number of samples predicted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    # The same single math thread the worker processes get.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bench.cases import CASES

    name, path, batch_size = argv
    (case,) = (c for c in CASES if c.name == name)
    print(case.bare_loop(Path(path), int(batch_size)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
