"""The services as child processes: start, wait until healthy, stop. One way for `make run`, the test stacks and
the benchmark.

A :class:`ServiceProcess` runs ``python <args>`` with the current interpreter (so the workspace's environment),
an explicit environment (``PYTHONUNBUFFERED=1`` unless the caller says otherwise) and its output appended to a log
file, or left on our own output when no log file is given (``make run``). It is healthy when its health URL answers
200; it stops on SIGTERM, and is killed when it has not stopped within the timeout. A process that exits or stays
unhealthy while starting raises :class:`ServiceStartError` with the end of its log, and is stopped first.

It lives in the shared library because that is the one package importable, unchanged and type-checked, by
``scripts/run_stack.py``, ``tests/`` and ``bench/`` alike; it needs nothing beyond the standard library.
"""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: urllib without proxies: health URLs are local, and an HTTP_PROXY in the environment must not catch them
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: how much of a log a start failure quotes
LOG_TAIL_CHARS = 3000


class ServiceStartError(RuntimeError):
    """A service process exited, or did not answer its health URL, while starting (or a set-up step failed)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers 200 within ``timeout`` seconds."""
    try:
        with _LOCAL.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):  # refused, reset, timed out, an HTTP error status, garbage
        return False


@dataclass
class ServiceProcess:
    """One service (or helper server) run as ``python <args>``."""

    name: str
    args: Sequence[str]
    env: Mapping[str, str]
    health_url: str | None = None
    log_path: Path | None = None
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> ServiceProcess:
        """Start the process (not waiting for it to be healthy); its output is appended to ``log_path``."""
        env = {"PYTHONUNBUFFERED": "1", **self.env}
        command = [sys.executable, *self.args]
        if self.log_path is None:
            self.popen = subprocess.Popen(command, env=env, cwd=self.cwd)  # noqa: S603 - our own modules
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - our own modules
                command, env=env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_healthy(self, timeout: float = 30.0, interval: float = 0.1) -> None:
        """Wait until the health URL answers 200; stop the process and raise if it exits or times out first."""
        if self.health_url is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is None or self.popen.poll() is not None:
                code = None if self.popen is None else self.popen.returncode
                raise ServiceStartError(f"{self.name} exited with code {code} while starting{self._quoted_log()}")
            if is_healthy(self.health_url):
                return
            time.sleep(interval)
        self.stop()
        raise ServiceStartError(
            f"{self.name} did not become healthy at {self.health_url} within {timeout:.0f}s{self._quoted_log()}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send ``sig`` (SIGTERM: a graceful stop) and wait; SIGKILL when still running after ``timeout`` s."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def log(self) -> str:
        """Everything the process wrote (empty when it writes to our output)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _quoted_log(self) -> str:
        return f"; log:\n{self.log()[-LOG_TAIL_CHARS:]}" if self.log_path is not None else ""


def stop_all(processes: Iterable[ServiceProcess], timeout: float = 20.0) -> None:
    """Stop the processes in the reverse of the given (start) order, so dependents stop before what they call."""
    for process in reversed(list(processes)):
        process.stop(timeout=timeout)


def run_step(
    args: Sequence[str], env: Mapping[str, str], *, cwd: Path | None = None, quiet: bool = False, timeout: float = 300
) -> None:
    """Run a one-shot ``python <args>`` (a migration, the seed) to completion; raise with its output if it fails.

    ``quiet`` captures the output (quoted only on failure) instead of leaving it on ours.
    """
    result = subprocess.run(  # noqa: S603 - our own modules
        [sys.executable, *args], env={"PYTHONUNBUFFERED": "1", **env}, cwd=cwd, capture_output=quiet, timeout=timeout
    )
    if result.returncode != 0:
        output = (result.stdout or b"").decode(errors="replace") + (result.stderr or b"").decode(errors="replace")
        raise ServiceStartError(f"python {' '.join(args)} failed with code {result.returncode}\n{output[-4000:]}")
