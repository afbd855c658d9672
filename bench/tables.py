"""Tables benchmark (not a test): `.venv/bin/python -m bench.tables [--rows N]`.

The same sentences as a text file, as a CSV (the text column read), as the CSV with its
ID column chosen (joined results written, IDs checked over the whole table), and as
Parquet with the ID; a VADER job on 2 worker processes over each. Prints planning time
(created → RUNNING: counting the rows, finding each shard's first byte, checking the IDs),
samples/s and the workers' peak RSS; the CSV against the text file (target: ≤ 1.2× the
time), and the CSV's peak RSS at N/10 and N rows (target: flat, ≤ 1.2×). The default N,
10 million rows, makes a CSV of about 1 GB.
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import write_sentences
from bench.stack import Stack, Worker

MIB = 1024 * 1024


@dataclass
class Run:
    label: str
    rows: int
    planning: float = 0.0
    seconds: float = 0.0
    rss: int = 0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def as_csv(text: Path, target: Path) -> Path:
    with text.open(encoding="utf-8") as src, target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        for i, line in enumerate(src):
            writer.writerow([f"row-{i:09d}", line.rstrip("\n")])
    return target


def as_parquet(text: Path, target: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    with text.open(encoding="utf-8") as src, pq.ParquetWriter(target, schema) as writer:
        ids: list[str] = []
        texts: list[str] = []
        for i, line in enumerate(src):
            ids.append(f"row-{i:09d}")
            texts.append(line.rstrip("\n"))
            if len(ids) == 200_000:
                writer.write_table(pa.table({"id": ids, "text": texts}, schema=schema))
                ids, texts = [], []
        if ids:
            writer.write_table(pa.table({"id": ids, "text": texts}, schema=schema))
    return target


def run(stack: Stack, label: str, path: Path, rows: int, settings: dict[str, Any]) -> Run:
    from apps.jobs.models import Job

    dataset = stack.dataset("sentiment-analysis", [path])
    result = Run(label, rows)
    with Worker(stack, 2) as worker:
        start = time.perf_counter()
        job = stack.job_create(
            ml_app="sentiment-analysis",
            model="vader-sentiment",
            dataset=dataset,
            path=path.name,
            settings={"batch_size": 32, **settings},
        )
        while True:
            job = Job.objects.get(pk=job.pk)
            if job.started_at and not result.planning:
                result.planning = (job.started_at - job.created_at).total_seconds()
            if job.is_terminal:
                break
            time.sleep(0.2)
        result.seconds = time.perf_counter() - start
        result.rss = worker.peak_rss()
    if job.status != "COMPLETED" or job.done_samples != rows:
        raise RuntimeError(f"{label}: {job.status} with {job.done_samples}: {job.error_message}")
    return result


def report(runs: list[Run], rows: int, sizes: dict[str, int]) -> str:
    lines = [f"tables: a VADER job on 2 worker processes, {rows:,} rows"]
    for r in runs:
        size = sizes.get(r.label, 0)
        lines.append(
            f"  {r.label:<24} {size / MIB:8.0f} MiB  planning {r.planning:6.1f} s  "
            f"{r.rate:9,.0f} samples/s  {r.seconds:7.1f} s  peak worker RSS {r.rss / MIB:6.0f} MiB"
        )
    by = {r.label: r for r in runs}
    text, table = by["text file"], by["CSV, text column"]
    ratio = table.seconds / text.seconds
    verdict = "ok" if ratio <= 1.2 else "MISSED"
    lines.append(f"  CSV / text file time: {ratio:.2f}x (target <= 1.2x: {verdict})")
    joined = by["CSV, ID, joined jsonl"].seconds / text.seconds
    lines.append(f"  CSV with ID and joined results / text file time: {joined:.2f}x")
    small = by.get("CSV, N/10 rows")
    if small:
        growth = table.rss / small.rss
        lines.append(
            f"  CSV peak worker RSS at N vs N/10: {growth:.2f}x "
            f"(target <= 1.2x: {'ok' if growth <= 1.2 else 'MISSED'})"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    stack = Stack(keep=args.keep)
    try:
        stack.start()
        inputs = stack.var / "inputs"
        text = write_sentences(inputs / "sentences.txt", args.rows, seed=7)
        small_text = write_sentences(inputs / "small.txt", args.rows // 10, seed=8)
        table = as_csv(text, inputs / "sentences.csv")
        small_table = as_csv(small_text, inputs / "small.csv")
        parquet = as_parquet(text, inputs / "sentences.parquet")
        sizes = {
            "text file": text.stat().st_size,
            "CSV, text column": table.stat().st_size,
            "CSV, ID, joined jsonl": table.stat().st_size,
            "CSV, N/10 rows": small_table.stat().st_size,
            "Parquet, ID, joined": parquet.stat().st_size,
        }
        joined = {"id_column": "id", "input_column": "text"}
        runs = [
            run(stack, "text file", text, args.rows, {}),
            run(stack, "CSV, text column", table, args.rows, {"input_column": "text"}),
            run(stack, "CSV, N/10 rows", small_table, args.rows // 10, {"input_column": "text"}),
            run(stack, "CSV, ID, joined jsonl", table, args.rows, joined),
            run(stack, "Parquet, ID, joined", parquet, args.rows, joined),
        ]
        print(report(runs, args.rows, sizes))
    finally:
        stack.close()


if __name__ == "__main__":
    main()
