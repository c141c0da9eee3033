"""The whole gateway as a subprocess, as systemd runs it: a free loopback port for its listener,
the sd_notify socket it reports to, and `run_gateway()` that starts `edge-gateway run` on a
config with NOTIFY_SOCKET set and kills it at the end if the test did not stop it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NotifySocket:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.path = path

    def wait_for(self, prefix: str, timeout: float = 20) -> list[str]:
        """Messages up to and including the first with a line starting with `prefix`."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            seen.append(message)
            if any(line.startswith(prefix) for line in message.splitlines()):
                return seen
        raise TimeoutError(f"no {prefix} within {timeout} s; saw {seen}")


@contextlib.contextmanager
def run_gateway(config: Path) -> Iterator[tuple[subprocess.Popen, NotifySocket]]:
    """`edge-gateway run --config CONFIG` reporting to a notify socket beside the config; its
    stdout and stderr together on `proc.stdout` (text)."""
    notify = NotifySocket(str(config.parent / "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc, notify
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        notify.sock.close()
        os.unlink(notify.path)  # so the same config can run again
