"""Issue 9: a purchase-order flow run in-process shows up in ``/metrics`` and in the JSON logs, and no secret
(access token, app secret, verify token, JWT secret) appears in any log line or response."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from bakery_shared.launcher import ServiceProcess, free_port
from bakery_shared.logging import configure_logging
from bakery_shared.settings import DEV_JWT_SECRET
from notification_service import metrics
from notification_service.app import create_app
from notification_service.config import NotificationSettings
from notification_service.dispatch.worker import Dispatcher
from notification_service.metrics import reason_code
from notification_service.migrate import upgrade
from tests.notification.helpers import (
    APP_SECRET,
    TOKEN,
    VERIFY_TOKEN,
    Clock,
    FakeGraph,
    FakeTenantService,
    graph_error,
    make_settings,
    po_event,
    token,
)
from tests.notification.webhook_helpers import UTILITY, post_signed, status_item, statuses_body, wait_applied

#: loggers of the notification service whose lines are not about sending, statuses, holds or webhooks
QUIET_LOGGERS = {"notification.tenant_client", "notification.wakeup"}
SECRETS = {"access token": TOKEN, "app secret": APP_SECRET, "verify token": VERIFY_TOKEN, "jwt secret": DEV_JWT_SECRET}


# ---------------------------------------------------------------- helpers


@dataclass
class Flow:
    settings: NotificationSettings
    graph: FakeGraph
    tenants: FakeTenantService
    client: httpx.AsyncClient
    dispatcher: Dispatcher
    clock: Clock
    tenant_request_ids: list[str | None]
    app: FastAPI
    responses: list[httpx.Response] = field(default_factory=list)

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, url, **kwargs)
        self.responses.append(response)
        return response

    async def queue(self, tenant_id: uuid.UUID, **headers: str) -> str:
        response = await self.call(
            "POST",
            "/api/v1/events/purchase-orders",
            json=po_event(tenant_id),
            headers={**token(self.settings, "service"), **headers},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["notification_id"])

    async def message(self, nid: str) -> dict[str, Any]:
        response = await self.call("GET", f"/api/v1/messages/{nid}", headers=token(self.settings, "admin"))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = await self.call("GET", "/metrics", headers=token(self.settings, "admin"))
        assert response.status_code == 200, response.text
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The production log set-up (JSON, context filter, redaction), written to a buffer.

    No secret values are handed to the redaction filter: the test proves they are never logged at all."""
    stream = io.StringIO()
    configure_logging("INFO", secrets=None, service="notification-service")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_bakery", False))
    original = handler.stream  # type: ignore[attr-defined]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        handler.stream = original  # type: ignore[attr-defined]


@pytest.fixture
async def flow(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Flow]:
    monkeypatch.setattr(metrics.QUEUE_GAUGES, "min_interval", 0.0)  # every scrape reads the database
    await asyncio.to_thread(upgrade, sqlite_url)
    settings = make_settings(sqlite_url)
    graph, tenants = FakeGraph(), FakeTenantService()
    seen: list[str | None] = []

    def tenant_handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("X-Request-ID"))
        return tenants.handler(request)

    tenant_transport = httpx.MockTransport(tenant_handler)
    app = create_app(settings, graph_transport=graph.transport(), tenant_transport=tenant_transport)
    clock = Clock()
    async with LifespanManager(app) as manager:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://notification")
        dispatcher = Dispatcher(
            settings, graph_transport=graph.transport(), tenant_transport=tenant_transport, clock=clock
        )
        try:
            yield Flow(settings, graph, tenants, client, dispatcher, clock, seen, app)
        finally:
            await dispatcher.aclose()
            await client.aclose()


# ---------------------------------------------------------------- the flow


async def test_po_flow_metrics_logs_and_no_secrets(flow: Flow, json_logs: io.StringIO) -> None:
    assert (await flow.call("GET", "/metrics")).status_code == 401
    before = await flow.scrape()
    bakery = flow.tenants.add(phone_number_id="200000000000001")
    other = flow.tenants.add(phone_number_id="200000000000002")
    idle = flow.tenants.add(phone_number_id="200000000000003")

    # 1. accepted by Meta, then a signed "delivered" webhook with pricing
    first = await flow.queue(bakery, **{"X-Request-ID": "req-ops-metrics-1"})
    await flow.dispatcher.drain()
    sent = await flow.message(first)
    assert sent["status"] == "sent"
    wamid = sent["wamid"]
    body = statuses_body(
        "200000000000001", [status_item(wamid, "delivered", int(time.time()), pricing=UTILITY, callback=None)]
    )
    response = await post_signed(flow.client, body)
    flow.responses.append(response)
    assert response.status_code == 200, response.text
    await wait_applied(flow.app, response.json()["event_id"])
    assert (await flow.message(first))["status"] == "delivered"

    # 2. a timeout that may have reached Meta: no webhook in the grace period → re-sent, a possible duplicate
    ambiguous = await flow.queue(bakery)
    flow.graph.script = [httpx.ReadTimeout("no answer")]
    await flow.dispatcher.drain()
    assert (await flow.message(ambiguous))["status"] == "queued"
    flow.clock.advance(flow.settings.ambiguous_grace_seconds + 1)
    await flow.dispatcher.drain()
    resent = await flow.message(ambiguous)
    assert resent["status"] == "sent" and resent["possible_duplicates"] == 1

    # 3. the token expired (190): the account is held
    held = await flow.queue(other)
    flow.graph.script = [graph_error(190, "Error validating access token: Session has expired", 401)]
    await flow.dispatcher.drain()
    assert (await flow.message(held))["status"] == "held"

    # 4. one message still waiting
    waiting = await flow.queue(idle)

    after = await flow.scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # messages by status and reason (transitions)
    assert delta("whatsapp_messages_total", status="queued", reason="ingested") == 4
    assert delta("whatsapp_messages_total", status="sent", reason="accepted") == 2
    assert delta("whatsapp_messages_total", status="delivered", reason="webhook") == 1
    assert delta("whatsapp_messages_total", status="queued", reason="ambiguous_timeout") == 1
    assert delta("whatsapp_messages_total", status="held", reason="credential") == 1
    assert delta("whatsapp_message_status_total", status="delivered") == 1
    # sends and cost per tenant (fresh tenant ids: absolute values)
    assert value(after, "whatsapp_sends_total", tenant_id=str(bakery)) == 2
    assert value(after, "whatsapp_sends_total", tenant_id=str(other)) == 0
    assert value(after, "whatsapp_cost_eur_total", tenant_id=str(bakery)) == pytest.approx(
        0.0172
    )  # ES utility, shipped rate card
    # Graph send latency and errors by code and retry class
    assert delta("whatsapp_send_duration_seconds_count", outcome="accepted") == 2
    assert delta("whatsapp_send_duration_seconds_count", outcome="error") == 2
    assert delta("whatsapp_send_duration_seconds_sum", outcome="accepted") > 0
    assert delta("whatsapp_graph_errors_total", code="190", retry_class="credential") == 1
    assert delta("whatsapp_graph_errors_total", code="timeout", retry_class="ambiguous") == 1
    assert delta("whatsapp_possible_duplicates_total") == 1
    # read from the database at scrape time
    assert value(after, "whatsapp_queue_depth", status="queued") == 1
    assert value(after, "whatsapp_queue_depth", status="sending") == 0
    assert value(after, "whatsapp_queue_depth", status="held") == 1
    assert 0 <= value(after, "whatsapp_queue_oldest_age_seconds") < 60
    assert value(after, "whatsapp_holds", scope="account", kind="credential") == 1
    assert value(after, "whatsapp_held_numbers") == 0
    assert value(after, "whatsapp_queue_metrics_refreshed_timestamp_seconds") > time.time() - 60
    # webhooks and HTTP requests
    assert delta("whatsapp_webhooks_received_total", field="messages") == 1
    assert (
        delta(
            "http_requests_total",
            service="notification-service",
            method="POST",
            route="/api/v1/events/purchase-orders",
            status="202",
        )
        == 4
    )
    assert (
        delta(
            "http_request_duration_seconds_count",
            service="notification-service",
            method="POST",
            route="/api/v1/whatsapp/webhook",
        )
        == 1
    )

    # the dispatcher sends a per-batch request id to the tenant service
    assert flow.tenant_request_ids and all(
        rid is not None and rid.startswith("dispatch-") for rid in flow.tenant_request_ids
    )

    # ---------------------------------------------------------------- logs
    text = json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all(line["service"] == "notification-service" for line in lines)

    def about(nid: str) -> list[dict[str, Any]]:
        return [line for line in lines if line.get("notification_id") == nid]

    for nid, tenant in ((first, bakery), (ambiguous, bakery), (held, other), (waiting, idle)):
        events = about(nid)
        assert events, f"no log line for {nid}"
        for line in events:
            assert line["tenant_id"] == str(tenant)
            assert "whatsapp" in json.dumps(line, ensure_ascii=False)  # `docker logs … | grep whatsapp`
    queued_line = next(line for line in about(first) if line["message"].startswith("whatsapp message queued"))
    assert queued_line["request_id"] == "req-ops-metrics-1"
    sent_line = next(line for line in about(first) if line["message"].startswith("whatsapp message sent"))
    assert sent_line["logger"] == "notification.whatsapp.dispatcher" and sent_line["request_id"].startswith("dispatch-")
    assert any("→ delivered (webhook)" in line["message"] for line in about(first))
    assert any("possible duplicate" in line["message"] for line in about(ambiguous))
    held_line = next(line for line in about(held) if line["message"].startswith("whatsapp message held"))
    assert "(190)" in held_line["message"] and held_line["error_code"] == "190"
    assert any(line["message"].startswith("sending paused for account master") for line in lines)
    # every line about sending, statuses, holds and webhooks can be found with `grep whatsapp`
    for line in lines:
        if line["logger"].startswith("notification.") and line["logger"] not in QUIET_LOGGERS:
            assert "whatsapp" in json.dumps(line, ensure_ascii=False), line

    # ---------------------------------------------------------------- no secret anywhere
    haystacks = {"logs": text}
    for i, response in enumerate(flow.responses):
        haystacks[f"response {i} {response.request.method} {response.request.url.path}"] = (
            response.text + " " + json.dumps(dict(response.headers))
        )
    for where, hay in haystacks.items():
        for name, secret in SECRETS.items():
            assert secret not in hay, f"the {name} appears in {where}"


def test_reason_codes_stay_low_cardinality() -> None:
    assert reason_code("rate_limited: pacing messages to this recipient") == "rate_limited"
    assert reason_code("credential: (190) Error validating access token") == "credential"
    assert reason_code("retry requested by admin-7f3a") == "retry"
    assert reason_code(None) == "none"
    assert reason_code("  ") == "none"
    assert reason_code("(weird) text") == "other"


# ---------------------------------------------------------------- the stand-alone dispatcher's metrics port


def test_standalone_dispatcher_serves_metrics_on_its_port(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"
    upgrade(url)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
        "ENVIRONMENT": "test",
        "JWT_SECRET": DEV_JWT_SECRET,
        "NOTIFICATION_DATABASE_URL": url,
        "WHATSAPP_GRAPH_URL": "http://127.0.0.1:9",
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "TENANT_SERVICE_URL": "http://127.0.0.1:9",
        "DISPATCH_LISTEN_NOTIFY": "false",
        "DISPATCHER_METRICS_PORT": str(port),
    }
    log_path = tmp_path / "dispatcher.log"
    proc = ServiceProcess(
        "dispatcher", ["-m", "notification_service.dispatch"], env, log_path=log_path, cwd=tmp_path
    ).start()
    try:
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline:
            assert proc.alive, proc.log()
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                if 'whatsapp_queue_depth{status="queued"} 0.0' in text:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert 'whatsapp_queue_depth{status="queued"} 0.0' in text, text[-2000:]
        assert "whatsapp_queue_oldest_age_seconds 0.0" in text
    finally:
        proc.stop()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("whatsapp dispatcher metrics served on") for line in lines), lines
    assert all(line["service"] == "notification-dispatcher" for line in lines)
    assert TOKEN not in log_path.read_text() and APP_SECRET not in log_path.read_text()
