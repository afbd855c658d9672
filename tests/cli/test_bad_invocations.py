"""Every way of holding the CLI wrong ends in one line on stderr and an exit status, never
a traceback: the table below runs each as a subprocess against a live server."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from apps.core.storage import storage_path
from apps.jobs.models import Job
from tests.cli.test_cli import _big_dataset
from tests.conftest import ROOT, wait_for_job
from tests.factories import make_project, sentiment_job

pytestmark = pytest.mark.worker


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


@dataclass
class Case:
    name: str
    args: list[str]
    status: int = 1  # the exit status expected
    says: str = ""  # a regex the one stderr line (or stdout, when status is 0) matches
    env: dict[str, str] = field(default_factory=dict)
    then: Callable[[], bool] | None = None  # what must be true afterwards


def _cases(tmp: Path, job: Job, html: str) -> list[Case]:
    jid, results = str(job.pk), job.results_filename
    (tmp / "existing-folder").mkdir()
    (tmp / "a-file").write_text("not a folder")
    (tmp / "settings.txt").write_text("batch_size=8")
    (tmp / "settings-list.json").write_text("[1, 2]")
    (tmp / "corrupt" / "batchstudio").mkdir(parents=True)
    (tmp / "corrupt" / "batchstudio" / "config.json").write_text('{"host": "http://x", tok')
    (tmp / "data.txt").write_text("good\n")
    expected = storage_path(job.results_relpath).read_bytes()
    html_env = {"BATCHSTUDIO_TOKEN": "bst_x"}
    create = [
        "job", "create", "--project", "Demo", "--job", "new", "--model-checkpoint",
        "vader-sentiment", "--dataset", "finance_sentiment",
    ]  # fmt: skip
    return [
        # -o: a trailing slash is a folder (created with its parents), never a file name.
        Case(
            "download into missing folders",
            ["job", "download", jid, "-o", "out/a/b/c/"],
            status=0,
            says="Saved out/a/b/c/",
            then=lambda: (tmp / "out/a/b/c" / results).read_bytes() == expected,
        ),
        Case(
            "download into a new folder",
            ["job", "download", jid, "-o", "newdir/"],
            status=0,
            then=lambda: (
                (tmp / "newdir").is_dir() and (tmp / "newdir" / results).read_bytes() == expected
            ),
        ),
        Case(
            "zip into a new folder",
            ["job", "download", jid, "--zip", "-o", "zipdir/"],
            status=0,
            then=lambda: (tmp / "zipdir" / f"job-{jid}-results.zip").stat().st_size > 0,
        ),
        Case(
            "download into an existing folder named without slash",
            ["job", "download", jid, "-o", "existing-folder"],
            status=0,
            then=lambda: (tmp / "existing-folder" / results).read_bytes() == expected,
        ),
        Case(
            "download to a place that cannot be written",
            ["job", "download", jid, "-o", "/proc/nope.txt"],
            says=r"^Cannot save /proc/nope\.txt: ",
        ),
        Case(
            "download into a file as if a folder",
            ["job", "download", jid, "-o", "a-file/"],
            says="it is a file, not a folder",
        ),
        Case("download of an unknown job", ["job", "download", "nope"], says=r"No job 'nope'"),
        # Where the server is, and whether it is one.
        Case(
            "host that is not a URL",
            ["job", "list"],
            env={"BATCHSTUDIO_HOST": "notaurl"},
            says="BATCHSTUDIO_HOST is not a server address",
        ),
        Case(
            "host with another scheme",
            ["job", "list"],
            env={"BATCHSTUDIO_HOST": "ftp://x"},
            says=r"BATCHSTUDIO_HOST .* http:// or https://",
        ),
        Case(
            "login to a host that is not a URL",
            ["login", "--host", "notaurl", "--token", "x"],
            status=2,
            says="--host 'notaurl' is not a server address",
        ),
        Case(
            "server that is down",
            ["job", "list"],
            env={"BATCHSTUDIO_HOST": _closed_port_url()},
            says="connection refused",
        ),
        Case(
            "an HTML 500 page",
            ["job", "list"],
            env={"BATCHSTUDIO_HOST": f"{html}/500", **html_env},
            says=r"^Internal Server Error: [^<]*\(HTTP 500\)$",
        ),
        Case(
            "a proxy's HTML 413 page for an upload",
            ["dataset", "add", "d", "--ml-app", "sentiment-analysis", "--file", "data.txt"],
            env={"BATCHSTUDIO_HOST": f"{html}/413", **html_env},
            says=r"^Request Entity Too Large: [^<]*larger[^<]*\(HTTP 413\)$",
        ),
        Case(
            "a web page where the API should be",
            ["login", "--host", f"{html}/200", "--token", "bst_x"],
            says=r"not the API's JSON \(HTTP 200\)",
        ),
        Case(
            "a corrupt config file",
            ["job", "list"],
            env={"XDG_CONFIG_HOME": str(tmp / "corrupt")},
            says=r"config .*\(not valid JSON\).*batchstudio login",
        ),
        # Names and numbers the command line gets wrong.
        Case("empty job name", ["job", "info", ""], status=2, says="not an empty string"),
        Case(
            "empty project name",
            ["job", "info", "x", "--project", " "],
            status=2,
            says="give a project name or id",
        ),
        Case("name of dots", ["job", "info", ".."], says=r"No job '\.\.'"),
        Case(
            "name with a slash",
            ["job", "info", "a/b", "--project", "Demo"],
            says=r"No job named 'a/b'",
        ),
        Case(  # a web server turns %2F back into "/": the CLI sends the id instead
            "name with a slash that exists",
            ["job", "info", "team/run-1", "--project", "Demo"],
            status=0,
            says=r"(?m)^name +team/run-1$",
        ),
        Case("negative limit", ["job", "list", "--limit", "-1"], status=2, says="0 or more"),
        Case("unknown status", ["job", "list", "--status", "DONE"], says=r"status.*\(HTTP 400\)"),
        Case("unknown command", ["job", "frobnicate"], status=2, says="invalid choice"),
        Case("missing option", ["job", "create", "--job", "x"], status=2, says="required"),
        Case(
            "--settings without =",
            [*create, "--settings", "batch_size"],
            status=2,
            says="give KEY=VALUE",
        ),
        Case(
            "missing --settings-file",
            [*create, "--settings-file", "nope.json"],
            says=r"Cannot read --settings-file nope\.json: No such file",
        ),
        Case(
            "--settings-file that is not JSON",
            [*create, "--settings-file", "settings.txt"],
            says="is not valid JSON",
        ),
        Case(
            "--settings-file that is not an object",
            [*create, "--settings-file", "settings-list.json"],
            says="must hold a JSON object",
        ),
        # Adding models and datasets: one source, named right.
        Case(
            "dataset add with an absolute --folder",
            ["dataset", "add", "d", "--ml-app", "sentiment-analysis", "--folder", "/etc"],
            status=2,
            says="--folder is a path relative to the server's storage root",
        ),
        Case(
            "dataset add with neither --file nor --folder",
            ["dataset", "add", "d", "--ml-app", "sentiment-analysis"],
            status=2,
            says=r"^Give --file .* or --folder",
        ),
        Case(
            "dataset add with both",
            [
                "dataset",
                "add",
                "d",
                "--ml-app",
                "sentiment-analysis",
                "--file",
                "data.txt",
                "--folder",
                "x",
            ],  # fmt: skip
            status=2,
            says="not both",
        ),
        Case(
            "model add with an absolute --folder",
            ["model", "add", "m", "--ml-app", "sentiment-analysis", "--folder", "/etc"],
            status=2,
            says="--folder is a path relative to the server's storage root",
        ),
        Case(
            "model add with neither",
            ["model", "add", "m", "--ml-app", "sentiment-analysis"],
            status=2,
            says=r"^Give --file .* or --folder",
        ),
        Case(
            "dataset add of a missing file",
            ["dataset", "add", "d", "--ml-app", "sentiment-analysis", "--file", "nope.txt"],
            says="No such file or folder: nope.txt",
        ),
        # Not failures, but they must say what happened.
        Case(
            "stop a job that has ended",
            ["job", "stop", jid],
            status=0,
            says=rf"^Job {jid} \({job.name}\) had already ended: COMPLETED\.$",
        ),
        Case(
            "list everything with --limit 0",
            ["job", "list", "--limit", "0", "--json"],
            status=0,
        ),
    ]


def test_each_bad_invocation_ends_in_one_line_and_an_exit_status(
    live_worker, cli, owner, tmp_path, html_server
):
    job = wait_for_job(sentiment_job(owner).pk)
    assert job.status == "COMPLETED", job.error_message
    slashed = sentiment_job(owner, project=job.project, name="team/run-1")
    problems = []
    assert slashed.name == "team/run-1"
    for case in _cases(tmp_path, job, html_server):
        result = cli(*case.args, check=False, extra_env=case.env, input="")
        out, err = result.stdout, result.stderr
        where = f"{case.name}: exit {result.returncode}\nstdout: {out!r}\nstderr: {err!r}"
        if "Traceback" in out + err:
            problems.append(f"traceback in {where}")
        elif result.returncode != case.status:
            problems.append(f"expected exit {case.status} in {where}")
        elif case.status != 0 and (err.count("\n") != 1 or not err.startswith("batchstudio")):
            problems.append(f"not one line on stderr in {where}")
        elif case.status == 0 and err:
            problems.append(f"stderr not empty in {where}")
        elif case.says and not re.search(
            case.says, (err.split(": ", 1)[1] if case.status else out).strip()
        ):
            problems.append(f"{case.says!r} not said in {where}")
        elif case.then is not None and not case.then():
            problems.append(f"afterwards not as expected in {where}")
        elif "<" in err:
            problems.append(f"markup on stderr in {where}")
    assert not problems, "\n\n".join(problems)


def test_limit_zero_lists_every_job_and_a_limit_cuts(live_worker, cli, owner):
    project = make_project(owner, "many")
    for i in range(3):
        sentiment_job(owner, project=project, name=f"job-{i}")
    every = json.loads(cli("job", "list", "--limit", "0", "--json").stdout)
    assert sorted(j["name"] for j in every) == ["job-0", "job-1", "job-2"]
    newest = json.loads(cli("job", "list", "--limit", "1", "--json").stdout)
    assert [j["name"] for j in newest] == ["job-2"]


def test_a_closed_pipe_ends_quietly(cli, tmp_path):
    """`batchstudio job list | head -1`: the reader leaves before the table is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "job", "list"],
        cwd=ROOT,
        env=_logged_in_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # no reader left: the first write gets EPIPE
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b""


def _logged_in_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the `cli` fixture (which has logged in to the live server)."""
    import os

    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "BATCHSTUDIO_HOST": "",
        "BATCHSTUDIO_TOKEN": "",
    }


def _create_long_job(tmp_path: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "job",
            "create",
            "--project",
            "long",
            "--job",
            name,
            "--model-checkpoint",
            "vader-sentiment",
            "--dataset",
            "big",
            "--path",
            "big.txt",
            "--wait",
        ],  # fmt: skip
        cwd=tmp_path,
        env=_logged_in_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _share_of(job: Job) -> str:
    return f"{100 * (job.done_samples + job.failed_samples) / job.total_samples:.1f}"


def test_wait_without_a_terminal_prints_plain_lines_and_a_stopped_job_its_real_share(
    live_worker, cli, owner, tmp_path
):
    make_project(owner, "long")
    _big_dataset(owner)
    proc = _create_long_job(tmp_path, "followed")
    assert proc.stderr is not None
    first = proc.stderr.readline()  # printed at once, then every few seconds
    assert re.match(r"^Job \d+ \(followed\): ", first) and "\r" not in first, first
    job = Job.objects.get(name="followed")
    wait_for_job(job.pk, statuses=("RUNNING",))
    cli("job", "stop", str(job.pk))
    out, rest = proc.communicate(timeout=120)
    job = wait_for_job(job.pk)
    assert job.status == "STOPPED" and 0 < job.done_samples < job.total_samples
    assert proc.returncode == 1, (out, rest)  # --wait: exit 1 unless the job completed
    lines = (first + rest).splitlines()
    assert "Traceback" not in out + rest and "\r" not in rest
    share = _share_of(job)
    assert re.search(rf": {re.escape(share)}% STOPPED [\d,]+/400,000 samples", lines[-2]), lines
    assert lines[-1] == (
        f"batchstudio: Job {job.pk} (followed) ended STOPPED at {share}% "
        f"({job.done_samples + job.failed_samples:,}/400,000 samples); finished samples are kept."
    )
    assert "100.0%" not in rest
    again = cli("job", "stop", str(job.pk))
    assert again.stdout == f"Job {job.pk} (followed) had already ended: STOPPED.\n"
    assert again.stderr == ""


def test_ctrl_c_while_waiting_says_the_job_goes_on(live_worker, cli, owner, tmp_path):
    make_project(owner, "long")
    # Long enough (about 90 s on two workers) that the job cannot end between being seen
    # RUNNING and the Ctrl-C; it is stopped below, so the length costs nothing.
    _big_dataset(owner, lines=2_000_000)
    proc = _create_long_job(tmp_path, "interrupted")
    assert proc.stderr is not None
    proc.stderr.readline()  # it is following the job now
    job = wait_for_job(Job.objects.get(name="interrupted").pk, statuses=("RUNNING",))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"batchstudio: Interrupted: Job {job.pk} (interrupted) goes on running on the server "
        f"(stop it with: batchstudio job stop {job.pk})."
    )
    assert Job.objects.get(pk=job.pk).status in ("RUNNING", "COMPLETED")
    stopped = cli("job", "stop", str(job.pk), "--wait")
    assert re.match(rf"^Job {job.pk} \(interrupted\) stopped at [\d.]+% ", stopped.stdout)


def _help(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def _commands(help_text: str) -> dict[str, str]:
    """{command: its one-line description} from the `commands:` part of a --help."""
    part = help_text.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    found = {}
    for line in part.splitlines():
        match = re.match(r"^    (\S+)\s*(.*)$", line)
        if match:
            found[match[1]] = match[2].strip()
    return found


def test_help_describes_every_command_and_subcommand():
    groups = _commands(_help())
    assert set(groups) == {"login", "job", "project", "app", "model", "dataset", "webhook"}
    assert all(groups.values()), groups
    expected = {
        "job": {
            *("create", "list", "info", "stop", "delete", "download", "upload", "exports"),
            "webhooks",
        },
        "project": {"create", "list", "delete"},
        "app": {"list"},
        "model": {"list", "add", "delete"},
        "dataset": {"list", "add", "delete", "resume"},
        "webhook": {"list", "add", "remove"},
    }
    for group, names in expected.items():
        commands = _commands(_help(group))
        assert set(commands) == names, (group, commands)
        assert all(commands.values()), (group, commands)
        for name in names:  # and each command's own --help opens with that sentence
            assert commands[name][:20].lower() in _help(group, name).lower(), (group, name)


def test_a_server_that_never_answers_is_one_line():
    """A listening socket nobody accepts from: the request goes out, no answer comes."""
    from cli.client import Client, CliError
    from cli.config import Config

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        host = f"http://127.0.0.1:{sock.getsockname()[1]}"
        client = Client(Config(host=host, token="bst_x"), timeout=0.5)
        with pytest.raises(CliError, match=r"did not answer within 0\.5 s"):
            client.get("/jobs")


def test_a_bug_is_still_one_line(monkeypatch, capsys):
    """The last resort: an exception nobody foresaw is one line, exit status 1."""
    from cli import catalog
    from cli.main import main

    def broken(args: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(catalog, "cmd_app_list", broken)
    assert main(["app", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.match(
        r"^batchstudio: internal error: RuntimeError: boom at test_bad_invocations\.py:\d+ "
        r"\(please report this",
        err,
    ), err
