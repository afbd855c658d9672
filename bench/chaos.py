"""`make chaos`: the results disk fills up mid-job, on a throw-away stack (bench.stack).

python -m bench.chaos                 # tmpfs cases (needs root) and the file-size-limit case
python -m bench.chaos --keep          # keep the temp folder (worker logs, data)

A 2 MiB tmpfs is mounted over the stack's results folder (`mount -t tmpfs`, root only), and
jobs run whose results do not fit: the shards hit ENOSPC while writing their parts, or the
parts fit and the merge into one results file does not. Each job must end FAILED with a
"no space left" message, with no results file, no summary claiming COMPLETED and no
half-written file left taking the space (a small job run afterwards on the same tmpfs must
complete). A worker started under a file size limit (RLIMIT_FSIZE, what `ulimit -f` sets;
writes past it fail with EFBIG) gives the same outcome without root; it is the only case
run where mounting is not permitted.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import write_sentences
from bench.stack import Stack, Worker

TMPFS_BYTES = 2 * 1024 * 1024
# Bigger than the SQLite database and its WAL, which the worker writes too.
FILE_LIMIT_BYTES = 8 * 1024 * 1024
TERMINAL = ("COMPLETED", "FAILED", "STOPPED")


@dataclass
class Case:
    name: str
    samples: int
    expect: str  # the status the job must end in


TMPFS_CASES = [
    Case("shards write past the free space", 300_000, "FAILED"),
    Case("parts fit, the merged results file does not", 70_000, "FAILED"),
    Case("a small job afterwards, same disk (nothing left behind)", 10_000, "COMPLETED"),
]
# About 16 bytes a result line: 600,000 lines pass the 8 MiB limit while merging.
LIMIT_CASE = Case("merged results file passes the file size limit", 600_000, "FAILED")


@dataclass
class Outcome:
    case: Case
    status: str
    message: str
    seconds: float
    problems: list[str]


def run_case(stack: Stack, case: Case, data: Path) -> Outcome:
    from apps.jobs.models import Job

    source = write_sentences(data / f"chaos-{case.samples}.txt", case.samples, seed=case.samples)
    dataset = stack.dataset("sentiment-analysis", [source])
    started = time.monotonic()
    job = stack.job_create(
        ml_app="sentiment-analysis",
        model="vader-sentiment",
        dataset=dataset,
        path=source.name,
        settings={},
    )
    deadline = started + 300
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job.pk)
        if job.status in TERMINAL:
            break
        time.sleep(0.1)
    seconds = time.monotonic() - started
    return Outcome(case, job.status, job.error_message, seconds, check(stack, job, case))


def check(stack: Stack, job: Any, case: Case) -> list[str]:
    """What is wrong with how the job ended; empty when all is as it must be."""
    import json

    folder = stack.storage / job.results_dir
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    results = folder / job.results_filename
    problems = []
    if job.status != case.expect:
        problems.append(f"ended {job.status}, expected {case.expect}")
    if case.expect == "COMPLETED":
        lines = results.read_text().count("\n") if results.exists() else 0
        if lines != case.samples:
            problems.append(f"results file holds {lines} of {case.samples} lines")
        return problems
    if "no space left" not in job.error_message.lower():
        problems.append(f"message does not say 'no space left': {job.error_message!r}")
    if results.exists():
        problems.append("a results file was left (half-written?)")
    summary = folder / "summary.json"
    if summary.exists() and json.loads(summary.read_text())["status"] == "COMPLETED":
        problems.append("summary.json says COMPLETED")
    leftovers = [f for f in files if f.endswith(".tmp") or f.startswith("parts/")]
    if leftovers:
        problems.append(f"left behind: {', '.join(leftovers[:5])}")
    return problems


def mount_tmpfs(target: Path) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0755", "batchstudio-chaos",
             str(target)],
            capture_output=True, text=True,
        )  # fmt: skip
    except OSError as exc:  # no mount command at all
        print(f"cannot mount a tmpfs ({exc}): tmpfs cases skipped")
        return False
    if mounted.returncode:
        print(f"mount -t tmpfs not permitted ({mounted.stderr.strip()}): tmpfs cases skipped")
    return mounted.returncode == 0


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """RLIMIT_FSIZE for the processes started meanwhile (Python ignores SIGXFSZ: EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def used_bytes(target: Path) -> int:
    usage = shutil.disk_usage(target)
    return usage.total - usage.free


def report(title: str, outcomes: list[Outcome]) -> None:
    print(f"\n{title}")
    print(f"{'case':<56} {'samples':>8} {'status':<10} {'seconds':>7}  message")
    for o in outcomes:
        mark = "ok" if not o.problems else "PROBLEM: " + "; ".join(o.problems)
        print(f"{o.case.name:<56} {o.case.samples:>8,} {o.status:<10} {o.seconds:>7.1f}  {mark}")
        if o.message:
            print(f"{'':<56}   “{o.message}”")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    args = parser.parse_args(argv)

    stack = Stack(keep=args.keep)
    outcomes: list[Outcome] = []
    results_root = stack.storage / "results"
    mounted = False
    try:
        stack.start()
        data = stack.var / "data"
        print(f"temp stack in {stack.var}", file=sys.stderr)
        mounted = mount_tmpfs(results_root)
        if mounted:
            with Worker(stack, 2):
                tmpfs = [run_case(stack, case, data) for case in TMPFS_CASES]
            outcomes += tmpfs
            report(f"Results disk: a {TMPFS_BYTES // 1024} KiB tmpfs, 2 worker processes", tmpfs)
            print(
                f"used on the tmpfs after all cases: {used_bytes(results_root) // 1024} KiB "
                f"of {TMPFS_BYTES // 1024} KiB"
            )
            subprocess.run(["umount", str(results_root)], check=True)
            mounted = False
        with ExitStack() as workers:
            with file_size_limit(FILE_LIMIT_BYTES):  # the worker inherits it; we do not keep it
                workers.enter_context(Worker(stack, 2))
            limited = [run_case(stack, LIMIT_CASE, data)]
        outcomes += limited
        report(
            f"File size limit {FILE_LIMIT_BYTES // 2**20} MiB on the worker (ulimit -f), "
            "2 worker processes",
            limited,
        )
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(results_root)], check=False)
        stack.close()
    failed = [o for o in outcomes if o.problems]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} cases ended as they must.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
