"""`make bench`: every case of bench.cases, or those named with --case.

python -m bench                      # all cases at their default sizes
python -m bench --case vader --samples 200000 --quits 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench.cases import CASES


def main(argv: list[str] | None = None) -> int:
    names = [case.name for case in CASES]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--case", action="append", choices=names, help="repeatable; default: all")
    parser.add_argument("--samples", type=int, help="override each case's sample count (10*N)")
    parser.add_argument("--quits", type=int, default=3, help="quit-latency runs per case")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    args = parser.parse_args(argv)

    from bench.run import measure, report, speed_kept
    from bench.stack import Stack

    def log(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    stack = Stack(keep=args.keep)
    results = []
    try:
        stack.start()
        log(f"temp stack in {stack.var}")
        for case in CASES:
            if args.case and case.name not in args.case:
                continue
            results.append(measure(stack, case, args.samples or case.samples, args.quits, log))
    finally:
        stack.close()

    print(
        f"BatchStudio benchmark: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    for result in results:
        print("\n".join(report(result)))
    for line in speed_kept(CASES, results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
