"""The process launcher shared by `make run`, the test stacks and the benchmark, on real child processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bakery_shared.launcher import ServiceProcess, ServiceStartError, free_port, is_healthy, run_step, stop_all

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

#: a server that answers 200 on / and records how it stopped
SERVER = """
import http.server, signal, sys
def bye(*_):
    print("stopped by SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("serving", flush=False)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def server(tmp_path: Path, name: str = "server") -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        name,
        ["-c", SERVER, str(port)],
        ENV,
        health_url=f"http://127.0.0.1:{port}/",
        log_path=tmp_path / f"{name}.log",
        cwd=tmp_path,
    )


def test_start_waits_until_healthy_and_stop_is_graceful_with_unbuffered_output(tmp_path: Path) -> None:
    proc = server(tmp_path).start()
    proc.wait_healthy(timeout=20)
    assert proc.alive and proc.pid is not None
    assert is_healthy(proc.health_url or "")
    assert proc.stop() == 0
    assert not proc.alive
    # PYTHONUNBUFFERED=1 by default: the line printed without a flush is in the log before the process ended
    assert "serving" in proc.log() and "stopped by SIGTERM" in proc.log()


def test_a_process_that_exits_while_starting_raises_with_its_log(tmp_path: Path) -> None:
    proc = ServiceProcess(
        "broken",
        ["-c", "import sys; print('no database configured'); sys.exit(3)"],
        ENV,
        health_url=f"http://127.0.0.1:{free_port()}/",
        log_path=tmp_path / "broken.log",
    ).start()
    with pytest.raises(ServiceStartError, match=r"broken exited with code 3 while starting; log:\nno database"):
        proc.wait_healthy(timeout=20)


def test_a_process_that_never_gets_healthy_is_stopped_and_named(tmp_path: Path) -> None:
    proc = ServiceProcess(
        "silent",
        ["-c", "import time; time.sleep(60)"],
        ENV,
        health_url=f"http://127.0.0.1:{free_port()}/",
        log_path=tmp_path / "silent.log",
    ).start()
    with pytest.raises(ServiceStartError, match=r"silent did not become healthy at http://127\.0\.0\.1:\d+/ within 1s"):
        proc.wait_healthy(timeout=1)
    assert not proc.alive


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    proc = ServiceProcess("stubborn", ["-c", stubborn], ENV, log_path=tmp_path / "stubborn.log").start()
    deadline = time.monotonic() + 20
    while "ready" not in proc.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    began = time.monotonic()
    assert proc.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - began < 10


def test_a_restarted_process_appends_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / "once.log"
    for word in ("first", "second"):
        proc = ServiceProcess("once", ["-c", f"print({word!r})"], ENV, log_path=log).start()
        assert proc.popen is not None
        proc.popen.wait(timeout=20)
    assert log.read_text().split() == ["first", "second"]


def test_stop_all_stops_in_reverse_start_order(tmp_path: Path) -> None:
    order = tmp_path / "order"
    script = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        f"    open({str(order)!r}, 'a').write(sys.argv[1] + ' ')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    procs = [
        ServiceProcess(name, ["-c", script, name], ENV, log_path=tmp_path / f"{name}.log").start()
        for name in ("sandbox", "tenant", "notification")
    ]
    deadline = time.monotonic() + 20
    while not all("ready" in p.log() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_all(procs, timeout=10)
    assert not any(p.alive for p in procs)
    assert order.read_text().split() == ["notification", "tenant", "sandbox"]


def test_run_step_raises_with_the_output_of_a_failed_step(tmp_path: Path) -> None:
    marker = tmp_path / "migrated"
    run_step(["-c", f"open({str(marker)!r}, 'w').write('ok')"], ENV, cwd=tmp_path, quiet=True)
    assert marker.read_text() == "ok"
    with pytest.raises(ServiceStartError, match=r"failed with code 2\n.*revision xyz not found"):
        run_step(["-c", "print('revision xyz not found'); raise SystemExit(2)"], ENV, quiet=True)
