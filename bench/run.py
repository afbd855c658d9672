"""The measurements: a bare loop, jobs through Redis and real workers, quit latency.

Every phase also records the CPU time it used and how busy the rest of the machine was
meanwhile: on a shared 2-core machine a neighbour's load lowers the samples/s of whatever
runs at that moment, while CPU seconds per sample stay a fair measure of the engine's cost.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cases import Case
from bench.stack import ROOT, Stack, Worker, machine_busy_seconds

# Throughput runs poll gently (the poller shares the cores); the quit timing closely.
POLL_SECONDS = 0.1
QUIT_POLL_SECONDS = 0.01
# Above this many cores used by other processes, a phase's figures are flagged as noisy.
NOISY_CORES = 0.2


@dataclass
class Phase:
    wall: float = 0.0  # seconds
    cpu: float = 0.0  # CPU seconds of the measured processes
    others: float = 0.0  # cores kept busy by everything else on the machine, on average

    def rate(self, samples: int) -> float:
        return samples / self.wall if self.wall else 0.0


class Meter:
    """Wall time, CPU time of the measured processes and the rest of the machine's load."""

    def __init__(self, own_cpu: Any = None) -> None:
        # () -> CPU seconds of the measured processes; None: this (the bench) process.
        self.own_cpu = own_cpu

    def __enter__(self) -> Meter:
        self.phase = Phase()
        self._wall = time.perf_counter()
        self._cpu = self.own_cpu() if self.own_cpu else 0.0
        self._bench = time.process_time()
        self._busy = machine_busy_seconds()
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self._wall
        bench = time.process_time() - self._bench
        cpu = self.own_cpu() - self._cpu if self.own_cpu else bench
        others = machine_busy_seconds() - self._busy - cpu - (bench if self.own_cpu else 0.0)
        self.phase = Phase(wall=wall, cpu=cpu, others=max(others, 0.0) / wall)


@dataclass
class Result:
    case: str
    samples: int
    batch_size: int
    bare: Phase = field(default_factory=Phase)
    one_worker: Phase = field(default_factory=Phase)
    two_workers: Phase = field(default_factory=Phase)
    rss_small: int = 0  # peak RSS of the single pool process at samples // 10
    rss_large: int = 0  # the same at `samples`
    quit_seconds: list[float] = field(default_factory=list)
    targets: dict[str, float | None] = field(default_factory=dict)

    def ratio(self, phase: Phase) -> float:
        return self.bare.wall / phase.wall if phase.wall else 0.0

    @property
    def rss_ratio(self) -> float:
        return self.rss_large / self.rss_small if self.rss_small else 0.0


def wait_terminal(job_id: int, timeout: float = 3600, poll: float = POLL_SECONDS) -> Any:
    from apps.jobs.models import TERMINAL_STATUSES, Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in TERMINAL_STATUSES:
            return job
        time.sleep(poll)
    raise RuntimeError(f"job {job_id} did not finish in {timeout} s")


def children_cpu_seconds() -> float:
    times = os.times()
    return times.children_user + times.children_system


def bare_loop(case: Case, path: Path) -> int:
    """The case's bare loop in a fresh interpreter (bench/bare.py says why)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bare", case.name, str(path), str(case.batch_size)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.split()[-1])


def run_job(stack: Stack, case: Case, dataset: Any, path: Path, samples: int) -> None:
    """Create the job as the web app does and wait until it is COMPLETED."""
    job = stack.job_create(
        ml_app=case.ml_app,
        model=case.model,
        dataset=dataset,
        path=path.name,
        settings=case.settings,
    )
    job = wait_terminal(job.pk)
    if job.status != "COMPLETED" or job.done_samples != samples:
        raise RuntimeError(f"job ended {job.status} with {job.done_samples}: {job.error_message}")


def quit_latency(stack: Stack, case: Case, dataset: Any, path: Path) -> float | None:
    """Seconds from a user's Quit to the job being STOPPED, shards busy when it is asked;
    None when the job finished before the quit (too few samples to measure it)."""
    from apps.jobs.models import Job
    from apps.jobs.services import job_quit

    job = stack.job_create(
        ml_app=case.ml_app,
        model=case.model,
        dataset=dataset,
        path=path.name,
        settings=case.settings,
    )
    while not Job.objects.filter(pk=job.pk, status="RUNNING", done_samples__gt=0).exists():
        time.sleep(QUIT_POLL_SECONDS)
    time.sleep(0.5)  # well inside the shards' work, not at a boundary
    start = time.perf_counter()
    job_quit(job=Job.objects.get(pk=job.pk))
    job = wait_terminal(job.pk, poll=QUIT_POLL_SECONDS)
    seconds = time.perf_counter() - start
    if job.status == "COMPLETED":
        return None
    if job.status != "STOPPED":
        raise RuntimeError(f"quit job ended {job.status}: {job.error_message}")
    return seconds


def measure(stack: Stack, case: Case, samples: int, quits: int, log: Any) -> Result:
    result = Result(case=case.name, samples=samples, batch_size=case.batch_size)
    result.targets = {"one_worker": case.one_worker_target, "two_workers": case.two_worker_target}
    inputs = stack.var / "inputs"
    log(f"[{case.name}] writing {samples:,} and {samples // 10:,} samples")
    large = case.write_input(inputs, samples)
    small = case.write_input(inputs, samples // 10)
    extra = case.companions(inputs / "companions") if case.companions else []
    large_ds = stack.dataset(case.ml_app, [large, *extra])
    small_ds = stack.dataset(case.ml_app, [small, *extra])

    log(f"[{case.name}] bare loop")
    with Meter(children_cpu_seconds) as meter:
        done = bare_loop(case, large)
    result.bare = meter.phase
    if done != samples:
        raise RuntimeError(f"bare loop predicted {done} of {samples}")

    # A fresh worker for each memory figure: VmHWM is a lifetime peak.
    log(f"[{case.name}] job, 1 worker process, {samples // 10:,} samples")
    with Worker(stack, 1) as worker:
        run_job(stack, case, small_ds, small, samples // 10)
        result.rss_small = worker.peak_rss()
    log(f"[{case.name}] job, 1 worker process, {samples:,} samples")
    with Worker(stack, 1) as worker:
        with Meter(worker.cpu_seconds) as meter:
            run_job(stack, case, large_ds, large, samples)
        result.one_worker = meter.phase
        result.rss_large = worker.peak_rss()
    log(f"[{case.name}] job, 2 worker processes")
    with Worker(stack, 2) as worker:
        with Meter(worker.cpu_seconds) as meter:
            run_job(stack, case, large_ds, large, samples)
        result.two_workers = meter.phase
        for i in range(quits):
            log(f"[{case.name}] quit {i + 1}/{quits}")
            seconds = quit_latency(stack, case, large_ds, large)
            if seconds is None:
                log(f"[{case.name}] the job finished before the quit: use more samples")
                break
            result.quit_seconds.append(seconds)
    return result


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _phase_line(label: str, result: Result, phase: Phase, target: float | None) -> str:
    rate = phase.rate(result.samples)
    line = (
        f"  {label:<24}{rate:>9,.{0 if rate >= 100 else 2}f} samples/s {phase.wall:7.1f} s"
        f"  {1e6 * phase.cpu / result.samples:6.1f} CPU-us/sample  others {phase.others:.2f} cores"
    )
    if phase is not result.bare:
        line += f"  {result.ratio(phase):.2f}x bare"
    if target:
        line += f" (target >= {target}x: {_verdict(result.ratio(phase) >= target)})"
    return line


def report(result: Result) -> list[str]:
    mib = 1024 * 1024
    quit_median = statistics.median(result.quit_seconds) if result.quit_seconds else 0.0
    quit_max = max(result.quit_seconds, default=0.0)
    efficiency = result.bare.cpu / result.one_worker.cpu if result.one_worker.cpu else 0.0
    return [
        f"case {result.case}: {result.samples:,} samples, batch size {result.batch_size}",
        _phase_line("bare loop", result, result.bare, None),
        _phase_line("job, 1 worker process", result, result.one_worker,
                    result.targets["one_worker"]),
        _phase_line("job, 2 worker processes", result, result.two_workers,
                    result.targets["two_workers"]),
        f"  CPU per sample, bare loop / job with 1 worker: {efficiency:.2f}"
        " (what the engine costs, whatever else runs on the machine)",
        f"  peak worker RSS at {result.samples // 10:>9,} samples"
        f"  {result.rss_small / mib:7.1f} MiB",
        f"  peak worker RSS at {result.samples:>9,} samples  {result.rss_large / mib:7.1f} MiB"
        f"  {result.rss_ratio:.2f}x (target <= 1.2x: {_verdict(result.rss_ratio <= 1.2)})",
        f"  quit -> STOPPED  {quit_median:.2f} s median, {quit_max:.2f} s max of"
        f" {len(result.quit_seconds)} (target <= 2 s: {_verdict(quit_max <= 2.0)})",
    ] + _noise_note(result)  # fmt: skip


def speed_kept(cases: list[Case], results: list[Result]) -> list[str]:
    """A line for each case held to a share of another case's job speed (same run)."""
    by_name = {r.case: r for r in results}
    lines = []
    for case in cases:
        if case.keeps_speed_of is None or case.name not in by_name:
            continue
        other, share = case.keeps_speed_of
        if other not in by_name:
            lines.append(f"{case.name} vs {other}: run both cases to compare their speeds")
            continue
        mine, theirs = by_name[case.name], by_name[other]
        for label in ("one_worker", "two_workers"):
            a = getattr(mine, label).rate(mine.samples)
            b = getattr(theirs, label).rate(theirs.samples)
            ratio = a / b if b else 0.0
            lines.append(
                f"{case.name} vs {other}, job with {label.replace('_', ' ')}: {a:,.0f} vs "
                f"{b:,.0f} samples/s = {ratio:.2f}x (target >= {share}x: "
                f"{_verdict(ratio >= share)})"
            )
    return lines


def _noise_note(result: Result) -> list[str]:
    busiest = max(p.others for p in (result.bare, result.one_worker, result.two_workers))
    if busiest < NOISY_CORES:
        return []
    return [
        f"  note: other processes kept up to {busiest:.2f} cores busy during a phase; the"
        " samples/s and ratios of that phase are lower than on an idle machine"
    ]
