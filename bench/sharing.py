"""Sharing benchmark (not a test): `.venv/bin/python -m bench.sharing [--lines N]`.

One big VADER job (1,000,000 lines by default) runs on one worker with 2 processes while 20
small jobs (the 40-line finance_sentiment set) arrive from 3 other users at random times
(the same seed each run). Measured three ways in the same run:

- alone: the big job with nothing beside it, and one small job with nothing beside it;
- FIFO: SHARDS_IN_FLIGHT so large that every shard is queued at planning (what the
  platform did before fair share: a small job waits behind the big job's shards);
- fair share: the default SHARDS_IN_FLIGHT (worker processes + 1).

For each small job: wait (created → its first shard starts) and turnaround (created →
finished), p50/p95; and how much longer the big job took than alone, against the small
jobs' own work (20 × one small job's turnaround alone). Targets: p95 wait ≤ 5 s; the big
job's growth ≤ the small jobs' own work.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

from bench.data import write_sentences
from bench.stack import BENCH_PASSWORD, Stack, Worker

SMALL_JOBS = 20
USERS = 3


def _wait_done(ids: list[int], timeout: float = 1800) -> None:
    from apps.jobs.models import ACTIVE_STATUSES, Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk__in=ids, status__in=ACTIVE_STATUSES).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs still active after {timeout}s")
        time.sleep(0.2)


def _small(user: Any, project: Any, name: str) -> Any:
    from apps.catalog.models import Dataset, MLApp, MLModel
    from apps.jobs.services import job_create

    return job_create(
        user=user,
        project=project,
        name=name,
        ml_app=MLApp.objects.get(key="sentiment-analysis"),
        model=MLModel.objects.get(name="vader-sentiment"),
        dataset=Dataset.objects.get(name="finance_sentiment"),
        dataset_path="test.txt",
        settings={},
    )


def _timings(job_id: int) -> tuple[float, float]:
    """(wait, turnaround) in seconds: created → first shard started, created → finished."""
    from django.db.models import Min

    from apps.jobs.models import Job

    job = Job.objects.get(pk=job_id)
    first = job.shards.aggregate(at=Min("started_at"))["at"] or job.finished_at
    assert job.status == "COMPLETED", (job.pk, job.status, job.error_message)
    return (first - job.created_at).total_seconds(), (
        job.finished_at - job.created_at
    ).total_seconds()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def scenario(stack: Stack, big_file: str, dataset: Any, people: list[tuple[Any, Any]],
             schedule: list[float], label: str) -> dict[str, Any]:  # fmt: skip
    """The big job and the small ones at `schedule` seconds after it; their figures."""
    from apps.jobs.models import Job

    big = stack.job_create(ml_app="sentiment-analysis", model="vader-sentiment",
                           dataset=dataset, path=big_file, settings={})  # fmt: skip
    started = time.monotonic()
    small_ids = []
    for n, at in enumerate(schedule):
        time.sleep(max(0.0, at - (time.monotonic() - started)))
        user, project = people[n % len(people)]
        small_ids.append(_small(user, project, f"{label}-{n}").pk)
    _wait_done([big.pk, *small_ids])
    big_job = Job.objects.get(pk=big.pk)
    row: dict[str, Any] = {
        "label": label,
        "big_seconds": (big_job.finished_at - big_job.created_at).total_seconds(),
    }
    if small_ids:
        waits, turns = zip(*(_timings(i) for i in small_ids), strict=True)
        row |= {
            "wait_p50": statistics.median(waits),
            "wait_p95": _pct(list(waits), 0.95),
            "turn_p50": statistics.median(turns),
            "turn_p95": _pct(list(turns), 0.95),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()

    stack = Stack()
    try:
        stack.start()
        from apps.accounts.services import user_create
        from apps.projects.services import project_create

        text = write_sentences(stack.var / "big.txt", args.lines, seed=7)
        dataset = stack.dataset("sentiment-analysis", [Path(text)])
        people = []
        for n in range(USERS):
            user = user_create(username=f"sharer{n}", password=BENCH_PASSWORD)
            people.append((user, project_create(owner=user, name=f"small-{n}")))

        rows = []
        with Worker(stack, 2):
            small = _small(*people[0], "alone")
            _wait_done([small.pk])
            _, small_alone = _timings(small.pk)
            alone = scenario(stack, "big.txt", dataset, people, [], "alone")
        # The small jobs arrive over the first half of the big job's time alone.
        rng = random.Random(11)
        spread = alone["big_seconds"] * 0.5
        schedule = sorted(rng.uniform(1.0, spread) for _ in range(SMALL_JOBS))
        for label, in_flight in (("FIFO", "100000"), ("fair share", "")):
            if in_flight:
                os.environ["SHARDS_IN_FLIGHT"] = in_flight
            else:
                os.environ.pop("SHARDS_IN_FLIGHT", None)
            with Worker(stack, 2):  # a new worker reads the setting
                rows.append(scenario(stack, "big.txt", dataset, people, schedule, label))
        own_work = SMALL_JOBS * small_alone

        print(f"\nSharing: one {args.lines:,}-line VADER job on 2 worker processes, "
              f"{SMALL_JOBS} small jobs (40 lines) from {USERS} users over "
              f"{spread:.0f} s")  # fmt: skip
        print(f"  alone: big job {alone['big_seconds']:.1f} s; a small job "
              f"{small_alone:.2f} s (20 of them: {own_work:.1f} s of work)")  # fmt: skip
        print(f"  {'':<11}{'wait p50':>9}{'wait p95':>10}{'turn p50':>10}{'turn p95':>10}"
              f"{'big job':>9}{'big +':>8}")  # fmt: skip
        for row in rows:
            grew = row["big_seconds"] - alone["big_seconds"]
            print(f"  {row['label']:<11}{row['wait_p50']:>8.1f}s{row['wait_p95']:>9.1f}s"
                  f"{row['turn_p50']:>9.1f}s{row['turn_p95']:>9.1f}s"
                  f"{row['big_seconds']:>8.1f}s{grew:>+7.1f}s")  # fmt: skip
        fair = rows[-1]
        grew = fair["big_seconds"] - alone["big_seconds"]
        print(f"  targets: p95 wait ≤ 5 s: {fair['wait_p95']:.1f} s "
              f"({'met' if fair['wait_p95'] <= 5 else 'MISSED'}); big job growth ≤ small jobs' "
              f"own work: {grew:+.1f} s vs {own_work:.1f} s "
              f"({'met' if grew <= own_work else 'MISSED'})")  # fmt: skip
    finally:
        stack.close()


if __name__ == "__main__":
    main()
