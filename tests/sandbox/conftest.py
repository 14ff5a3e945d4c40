"""Fixtures for the sandbox tests: an in-process sandbox (ASGITransport), real uvicorn servers on free
ports (a webhook receiver, or the sandbox itself when a test needs real sockets), and small helpers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from wa_sandbox.app import create_app
from wa_sandbox.settings import SandboxSettings

TOKEN = "sandbox-access-token"
APP_SECRET = "sandbox-app-secret"
VERIFY_TOKEN = "sandbox-verify-token"
WABA_ID = "100000000000001"
PNID = "200000000000001"
PNID2 = "200000000000002"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = "+34 600 111 222"
CUSTOMER_WA_ID = "34600111222"
SANDBOX_TODAY = date(2026, 12, 3)


def make_settings(**overrides: Any) -> SandboxSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "whatsapp_access_token": TOKEN,
        "whatsapp_business_account_id": WABA_ID,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_webhook_verify_token": VERIFY_TOKEN,
        "sandbox_webhook_url": "",
        "sandbox_status_delay_seconds": 0.01,
        "sandbox_webhook_retry_base_seconds": 0.02,
        "sandbox_webhook_retry_max_seconds": 0.1,
        "sandbox_webhook_max_attempts": 4,
        "sandbox_webhook_timeout_seconds": 2.0,
        # the sandbox refuses Graph versions past their end: a fixed day keeps the pinned /v23.0/ URLs valid
        "sandbox_today": SANDBOX_TODAY,
    }
    values.update(overrides)
    return SandboxSettings(_env_file=None, **values)  # type: ignore[call-arg]


def template_body(
    to: str = CUSTOMER,
    params: list[str] | None = None,
    *,
    name: str = "po_notification",
    language: str = "es",
    callback_data: str | None = None,
) -> dict[str, Any]:
    values = ["Ana", "OC-2026-0001", "12,50 €"] if params is None else params
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}],
        },
    }
    if callback_data is not None:
        body["biz_opaque_callback_data"] = callback_data
    return body


def signature_of(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class InLoopServer:
    """A uvicorn server running as a task of the current event loop, on a free port."""

    def __init__(self, app: Any) -> None:
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        self.sock.close()


class ThreadServer:
    """A uvicorn server in its own thread and event loop (for sync clients such as pywa)."""

    def __init__(self, app: Any) -> None:
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=lambda: self.server.run(sockets=[self.sock]), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.raw)


@dataclass
class Receiver:
    """A webhook endpoint: records every POST (raw bytes + headers) and answers from a script of statuses."""

    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    url: str = ""

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            if request.method == "GET":
                if request.query_params.get("hub.verify_token") == VERIFY_TOKEN:
                    return PlainTextResponse(request.query_params.get("hub.challenge", ""))
                return PlainTextResponse("forbidden", status_code=403)
            self.received.append(Received(dict(request.headers), await request.body()))
            status = self.script.pop(0) if self.script else 200
            self.answered.append(status)
            return PlainTextResponse("ok" if status == 200 else "nope", status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["GET", "POST"])])

    def statuses(self, wamid: str) -> list[str]:
        result = []
        for item in self.received:
            for entry in item.json["entry"]:
                for change in entry["changes"]:
                    for status in change["value"].get("statuses", []):
                        if status["id"] == wamid:
                            result.append(status["status"])
        return result


@pytest.fixture
def settings() -> SandboxSettings:
    return make_settings()


@pytest.fixture
async def client(settings: SandboxSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        c.app = app  # type: ignore[attr-defined]
        yield c
    await app.state.dispatcher.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    server = InLoopServer(rec.app())
    await server.start()
    rec.url = server.url + "/hook"
    yield rec
    await server.stop()


@pytest.fixture
async def hooked(client: httpx.AsyncClient, receiver: Receiver) -> AsyncIterator[tuple[httpx.AsyncClient, Receiver]]:
    """The in-process sandbox with its webhooks pointed at the receiver."""
    response = await client.post("/_sandbox/webhook", json={"url": receiver.url})
    assert response.status_code == 200
    yield client, receiver


@pytest.fixture
def thread_server() -> Iterator[Callable[[Any], ThreadServer]]:
    servers: list[ThreadServer] = []

    def start(app: Any) -> ThreadServer:
        server = ThreadServer(app)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
