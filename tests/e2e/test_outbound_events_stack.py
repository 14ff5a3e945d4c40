"""Events for the platform through real processes on PostgreSQL: the API process and a stand-alone dispatcher
(``python -m notification_service.dispatch``) both run the delivery worker (woken by NOTIFY), each event reaches the
HTTP subscriber once and in order per purchase order, a refused event is dead, and ``bakery-admin events list`` / ``redrive`` bring
it (and the event that waited behind it) through."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bakery_shared.db import create_engine, create_session_factory
from bakery_shared.launcher import free_port, run_step
from notification_service.config import NotificationSettings
from tests.e2e.flows import wait_for
from tests.helpers import TEST_JWT_SECRET
from tests.notification.outbound_helpers import store_events
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.e2e

SECRET = "e2e-subscriber-secret"


class _Subscriber:
    """A threaded HTTP subscriber: answers 422 to the events of the purchase orders in ``refuse`` (known before the
    event is stored: a worker woken by the store's NOTIFY may deliver it before the test learns its id), 200 to
    the others."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event_id = self.headers.get("X-Bakery-Event-Id", "")
                status = 422 if json.loads(body)["purchase_order"]["id"] in outer.refuse else 200
                if status == 200:
                    with outer.lock:
                        outer.received.append((event_id, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}/events"

    def ids(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def subscriber() -> Iterator[_Subscriber]:
    sub = _Subscriber()
    yield sub
    sub.close()


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "JWT_SECRET": TEST_JWT_SECRET,
        "BAKERY_NOTIFICATION_URL": stack.notification_url,
        "COLUMNS": "240",
    }
    return subprocess.run(
        [sys.executable, "-m", "bakery_cli", *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def _store(url: str, tenant: uuid.UUID, pos: list[str], per_po: int = 1) -> list[uuid.UUID]:
    settings = NotificationSettings(
        _env_file=None,  # type: ignore[call-arg]
        notification_database_url=url,
        outbound_events_url="http://127.0.0.1:9/unused",
        outbound_events_secret=SECRET,
    )

    async def run() -> list[uuid.UUID]:
        engine = create_engine(url)
        try:
            return await store_events(create_session_factory(engine), settings, tenant, pos, per_po=per_po)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_api_and_standalone_dispatcher_deliver_once_in_order_and_the_cli_redrives(
    tmp_path: Path, postgres_url: str, subscriber: _Subscriber
) -> None:
    stack = Stack(tmp_path, tenant_db=f"sqlite+aiosqlite:///{tmp_path / 'tenant.db'}", notification_db=postgres_url)
    run_step(["-m", "notification_service.migrate", "upgrade", "head"], stack.env(), cwd=ROOT)
    delivery = {
        "OUTBOUND_EVENTS_URL": subscriber.url,
        "OUTBOUND_EVENTS_SECRET": SECRET,
        "OUTBOUND_EVENTS_RETRY_BASE_SECONDS": "0.2",
        "OUTBOUND_EVENTS_MAX_ATTEMPTS": "3",
        "OUTBOUND_EVENTS_BATCH_SIZE": "2",  # small claims: the processes share the work
        "OUTBOUND_EVENTS_POLL_INTERVAL_SECONDS": "5",  # the NOTIFY wakes them: the poll is only the safety net
        "DISPATCHER_ENABLED": "false",
        "WHATSAPP_SYNC_ENABLED": "false",
    }
    try:
        stack.start_notification(**delivery)
        stack.start_dispatcher(**delivery)
        for name in ("notification", "dispatcher"):  # both processes run the delivery worker
            wait_for(
                lambda name=name: "outbound event delivery started: http" in stack.procs[name].log(),
                timeout=30,
                what=f"the {name} process's delivery worker",
            )
        tenant = uuid.uuid4()
        pos = [f"po-{n}" for n in range(8)]
        ids = _store(postgres_url, tenant, pos, per_po=3)
        wait_for(lambda: len(subscriber.ids()) >= len(ids), timeout=30, what="every event delivered")

        # a refused event is dead at once; the next event of its purchase order waits for it
        subscriber.refuse.add("po-x")
        (refused,) = _store(postgres_url, tenant, ["po-x"])
        (waiting,) = _store(postgres_url, tenant, ["po-x"])
        listed = wait_for(
            lambda: json.loads(_cli(stack, "--json", "events", "list", "--status", "dead").stdout or "{}").get(
                "events"
            ),
            timeout=30,
            what="the refused event listed as dead",
        )
        assert [e["id"] for e in listed] == [str(refused)]
        assert listed[0]["http"]["last_error"].startswith("HTTP 422")
        table = _cli(stack, "events", "list")
        assert table.returncode == 0 and str(refused) in table.stdout and "dead" in table.stdout, table.stderr
        assert str(waiting) not in subscriber.ids()

        subscriber.refuse.clear()
        result = _cli(stack, "events", "redrive", str(refused))
        assert result.returncode == 0 and "Re-driven purchase_order.supplier_confirmed" in result.stdout, result.stderr
        wait_for(lambda: str(waiting) in subscriber.ids(), timeout=30, what="the re-driven event and its follower")
        again = _cli(stack, "events", "redrive", str(refused))
        assert again.returncode == 1 and "no dead delivery" in again.stderr
        unknown = _cli(stack, "events", "redrive", str(uuid.uuid4()))
        assert unknown.returncode == 1
    except AssertionError:
        print(stack.logs())
        raise
    finally:
        stack.stop_all()
    received = subscriber.ids()
    assert len(received) == len(set(received)) == len(ids) + 2
    per_po: dict[str, list[str]] = {}
    for event_id, _headers, body in subscriber.received:
        per_po.setdefault(json.loads(body)["purchase_order"]["id"], []).append(event_id)
    for n, po in enumerate(pos):
        assert per_po[po] == [str(i) for i in ids[n :: len(pos)]]
    assert per_po["po-x"] == [str(refused), str(waiting)]
    logs = "".join(p.log() for p in stack.procs.values())
    assert logs.count("delivered to http") == len(ids) + 2  # whichever process delivered each: once
    assert SECRET not in logs
