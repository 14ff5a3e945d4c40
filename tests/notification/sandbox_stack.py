"""The notification service over real HTTP (uvicorn) with the WhatsApp sandbox in-process, on a chosen day:
the sandbox's clock and the service's ``today`` are set together (Graph API versions' end dates)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import uvicorn
from asgi_lifespan import LifespanManager

from notification_service.app import create_app
from notification_service.dispatch.worker import Dispatcher
from wa_sandbox.app import create_app as create_sandbox
from wa_sandbox.settings import SandboxSettings

from .conftest import migrate
from .helpers import APP_SECRET, VERIFY_TOKEN, FakeTenantService, make_settings, po_event, token

NUMBER = "200000000000001"
SANDBOX_TOKEN = "sandbox-access-token"


@dataclass
class E2E:
    api: httpx.AsyncClient  # the notification service, over real HTTP
    sandbox: httpx.AsyncClient  # the sandbox's control API (in-process)
    dispatcher: Dispatcher
    tenants: FakeTenantService
    admin: dict[str, str]

    async def message(self, message_id: str) -> dict[str, Any]:
        r = await self.api.get(f"/api/v1/messages/{message_id}", headers=self.admin)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def send_po(self, tenant: Any, phone: str = "+34 600 000 111") -> str:
        r = await self.api.post(
            "/api/v1/events/purchase-orders",
            json=po_event(tenant, supplier={"phone": phone}),
            headers=token(self.dispatcher.settings, "service"),
        )
        assert r.status_code == 202, r.text
        await self.dispatcher.drain()
        return str(r.json()["notification_id"])


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


#: the day the issue was written: every version from v21.0 on works, v21.0 ends within 90 days
DAY = date(2026, 12, 3)


@contextlib.asynccontextmanager
async def sandbox_stack(
    url: str, *, today: date = DAY, sandbox: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[E2E]:
    """The service (settings ``overrides``) and the sandbox (settings ``sandbox``), both on ``today``; webhooks flow
    over real HTTP."""
    await migrate(url)
    sandbox_app = create_sandbox(
        SandboxSettings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            sandbox_webhook_url="",
            whatsapp_app_secret=APP_SECRET,
            whatsapp_webhook_verify_token=VERIFY_TOKEN,
            sandbox_status_delay_seconds=0.01,
            sandbox_webhook_retry_base_seconds=0.05,
            sandbox_webhook_retry_max_seconds=0.2,
            sandbox_today=today,
            **(sandbox or {}),
        )
    )
    values: dict[str, Any] = {"whatsapp_access_token": SANDBOX_TOKEN, "whatsapp_graph_url": "http://sandbox"}
    settings = make_settings(url, **(values | overrides))
    tenants = FakeTenantService()
    async with LifespanManager(sandbox_app) as sandbox_manager:
        transport = httpx.ASGITransport(app=sandbox_manager.app)
        app = create_app(settings, graph_transport=transport, tenant_transport=tenants.transport(), today=lambda: today)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve())
        await eventually(lambda: asyncio.sleep(0, result=server.started))
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        sandbox = httpx.AsyncClient(transport=transport, base_url="http://sandbox")
        r = await sandbox.post("/_sandbox/webhook", json={"url": f"{base}/api/v1/whatsapp/webhook"})
        assert r.status_code == 200, r.text
        dispatcher = Dispatcher(settings, graph_transport=transport, tenant_transport=tenants.transport())
        api = httpx.AsyncClient(base_url=base, timeout=10)
        try:
            yield E2E(api, sandbox, dispatcher, tenants, token(settings, "admin"))
        finally:
            await dispatcher.aclose()
            await api.aclose()
            await sandbox.aclose()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
