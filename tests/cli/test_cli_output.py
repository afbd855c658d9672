"""What `batchstudio` prints, run as a subprocess against a fake API of canned JSON (a real
job is too fast, too slow or too racy to hold in a given state): cut table cells, rounded
figures beside settings as given, the bar's rate and ETA, the plain line of a job that
does not move, and server text that would spoof the terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import unicodedata
from typing import Any

from cli.output import one_line
from tests.cli.conftest import FakeApi
from tests.conftest import ROOT

CREATE = [
    "job", "create", "--project", "demo", "--job", "nightly", "--model-checkpoint",
    "vader-sentiment", "--dataset", "finance_sentiment", "--wait",
]  # fmt: skip


def _job(**fields: Any) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": 7,
        "name": "nightly",
        "project": "demo",
        "type": "batch_predict",
        "ml_app": "sentiment-analysis",
        "model": "vader-sentiment",
        "dataset": "finance_sentiment",
        "settings": {},
        "status": "QUEUED",
        "total_samples": 1000,
        "done_samples": 0,
        "failed_samples": 0,
        **fields,
    }


def _record(stdout: str) -> dict[str, str]:
    """`job info`'s lines as {field: what is printed after it}."""
    return dict(line.split(None, 1) for line in stdout.splitlines())


def test_a_long_name_is_cut_and_leaves_the_table_narrow(fake_api: FakeApi):
    long_name = "n" * 60 + "m" * 40
    fake_api.answer("GET /jobs", [_job(id=8, name=long_name), _job(name="short")])
    header, long_row, short_row = fake_api.cli("job", "list").stdout.splitlines()
    assert long_row.split()[1] == "n" * 39 + "…"
    name_at, project_at = header.index("NAME"), header.index("PROJECT")
    assert project_at - name_at == 40 + 2  # the cut cell and the gap, not 100 characters
    assert short_row[project_at:].startswith("demo ")


def test_job_info_rounds_measured_figures_and_shows_settings_as_given(fake_api: FakeApi):
    settings = {"temperature": 1.15, "top_p": 0.123456, "threshold": 1234.5, "batch_size": 64}
    fake_api.answer(
        "GET /jobs/7",
        _job(
            status="RUNNING",
            done_samples=333,
            settings=settings,
            progress_percent=33.33333,
            samples_per_second=1234.5678,
            tokens_per_second=0.012345,
            eta_seconds=12.345,
        ),
    )
    shown = _record(fake_api.cli("job", "info", "7").stdout)
    assert shown["settings"] == "temperature=1.15, top_p=0.123456, threshold=1234.5, batch_size=64"
    assert shown["progress_percent"] == "33.3"
    assert shown["samples_per_second"] == "1,235"
    assert shown["tokens_per_second"] == "0.012"
    assert shown["eta_seconds"] == "12.3"


def _stderr_on_a_terminal(api: FakeApi, *args: str) -> str:
    """What `batchstudio` writes to stderr when stderr is a terminal (a pseudo-terminal)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=api.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)  # the child holds it: reading ends when the child has exited
    chunks = []
    try:
        while chunk := os.read(leader, 4096):
            chunks.append(chunk)
    except OSError:  # EIO: no process holds the terminal any more
        pass
    finally:
        os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_the_bar_shows_samples_per_second_and_eta_until_the_job_ends(fake_api: FakeApi):
    fake_api.answer(
        "POST /jobs",
        _job(status="RUNNING", done_samples=500, samples_per_second=1234.5678, eta_seconds=200),
    )
    fake_api.answer(
        "GET /jobs/7",
        _job(status="COMPLETED", done_samples=1000, samples_per_second=1100.0, eta_seconds=0),
    )
    shown = _stderr_on_a_terminal(fake_api, *CREATE)
    frames = [frame.rstrip() for frame in shown.split("\r") if frame.strip()]
    assert frames == [
        f"Job 7 (nightly) [{'#' * 15}{' ' * 15}]  50.0% RUNNING 500/1,000 samples, "
        "1,235 samples/s, ETA 3m 20s",
        f"Job 7 (nightly) [{'#' * 30}] 100.0% COMPLETED 1,000/1,000 samples, 1,100 samples/s",
    ]


def test_without_a_terminal_a_job_that_does_not_move_is_still_reported(fake_api: FakeApi):
    """A CI log must show that the CLI is alive while the job waits for a worker."""
    fake_api.answer("POST /jobs", _job())
    # The CLI asks every second and prints every 5 s: 7 polls of QUEUED span two lines.
    fake_api.answer("GET /jobs/7", *[_job()] * 7, _job(status="COMPLETED", done_samples=1000))
    lines = fake_api.cli(*CREATE).stderr.splitlines()
    queued = "Job 7 (nightly): 0.0% QUEUED 0/1,000 samples"
    assert lines.count(queued) >= 2, lines
    assert lines[-1] == "Job 7 (nightly): 100.0% COMPLETED 1,000/1,000 samples", lines


SPOOF = "report\u202egnp.exe\u200b\u2066x\u2069\u2028y\u2029z\ufeff"


def _spoofing(text: str) -> list[str]:
    """The characters of `text` that change how a terminal shows what follows them."""
    return [c for c in text if unicodedata.category(c) in ("Cf", "Zl", "Zp")]


def test_one_line_escapes_format_characters_and_line_separators():
    assert one_line(SPOOF) == ("report\\u202egnp.exe\\u200b\\u2066x\\u2069\\u2028y\\u2029z\\ufeff")
    assert one_line("tag\U000e0041") == "tag\\U000e0041"
    assert one_line("café ☕ 名前") == "café ☕ 名前"  # letters and symbols stay as they are


def test_server_text_that_could_spoof_the_terminal_is_escaped(fake_api: FakeApi):
    job = _job(name=SPOOF, status="RUNNING", error_message=f"bad {SPOOF}")
    fake_api.answer("GET /jobs", [job])
    fake_api.answer("GET /jobs/7", job)
    fake_api.answer("POST /jobs/7/quit", job)
    fake_api.answer("DELETE /jobs/7", {"message": f"Deleted job '{SPOOF}'."})
    fake_api.answer("GET /jobs/8", {"message": f"No job '{SPOOF}'."}, status=404)
    fake_api.answer("POST /jobs", _job(name=SPOOF, status="COMPLETED", done_samples=1000))
    fake_api.answer("GET /me", {"username": SPOOF})
    runs = {
        "table": ["job", "list"],
        "record": ["job", "info", "7"],
        "sentence": ["job", "stop", "7"],
        "message": ["job", "delete", "7", "--yes"],
        "error": ["job", "info", "8"],
        "progress": CREATE,
        "login": ["login", "--host", fake_api.url, "--token", "bst_fake"],
    }
    shown = {}
    for what, args in runs.items():
        result = fake_api.cli(*args, check=False)
        shown[what] = result.stdout + result.stderr
    spoofed = {what: text for what, text in shown.items() if _spoofing(text)}
    assert not spoofed
    assert all("report\\u202egnp.exe\\u200b" in text for text in shown.values()), shown
