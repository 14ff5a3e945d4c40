"""Signed webhook payloads for the notification service's tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from bakery_shared.db import create_engine

from .conftest import Env
from .helpers import APP_SECRET, WABA_ID, po_event

WEBHOOK = "/api/v1/whatsapp/webhook"


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def raw_json(body: dict[str, Any]) -> bytes:
    """Like Meta: compact, ASCII with \\u escapes."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


def envelope(field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": field, "value": value}]}],
    }


def status_item(
    wamid: str,
    status: str,
    ts: int,
    *,
    callback: str | None = None,
    pricing: dict[str, Any] | None = None,
    error_code: int | None = None,
    recipient: str | None = "34612345678",
    user_id: str | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` item; ``recipient`` None: no phone number (``recipient_id``), ``user_id``: the
    ``recipient_user_id`` (business-scoped user ID)."""
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(ts)}
    if recipient is not None:
        item["recipient_id"] = recipient
    if user_id is not None:
        item["recipient_user_id"] = user_id
    if callback:
        item["biz_opaque_callback_data"] = callback
    if pricing:
        item["pricing"] = pricing
    if error_code is not None:
        item["errors"] = [
            {
                "code": error_code,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }
        ]
    return item


UTILITY = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}


def statuses_body(phone_number_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return envelope(
        "messages",
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "34612345678", "phone_number_id": phone_number_id},
            "statuses": items,
        },
    )


async def post_signed(
    client: httpx.AsyncClient, body: dict[str, Any] | bytes, secret: str = APP_SECRET
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else raw_json(body)
    return await client.post(
        WEBHOOK, content=raw, headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, secret)}
    )


async def wait_applied(env: Env | FastAPI, *event_ids: int, timeout: float = 15.0) -> None:
    """Wait until the applier of ``env``'s app has processed every given event (``processed_at`` set), polling the
    database; fails after ``timeout`` seconds. The POST only stores a body: tests that look at its effects wait
    here."""
    app = env.app if isinstance(env, Env) else env
    sessions = app.state.runtime.sessions
    query = sa.text("SELECT count(*) FROM webhook_events WHERE processed_at IS NULL AND id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    deadline = time.monotonic() + timeout
    while True:
        async with sessions() as session:
            left = int((await session.execute(query, {"ids": list(event_ids)})).scalar_one())
        if left == 0:
            return
        assert time.monotonic() < deadline, f"webhook events {event_ids}: {left} not applied after {timeout} s"
        await asyncio.sleep(0.01)


async def post_applied(env: Env, body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> httpx.Response:
    """:func:`post_signed`, then wait until the applier has applied the stored body (when one was stored)."""
    response = await post_signed(env.client, body, secret)
    if response.status_code == 200:
        await wait_applied(env, response.json()["event_id"])
    return response


async def rows(env: Env, table: str) -> list[dict[str, Any]]:
    """Every row of ``table``, in insertion order (a fresh connection: what other transactions committed)."""
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            query = sa.text(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 - our own table names
            return [dict(r) for r in (await conn.execute(query)).mappings()]
    finally:
        await engine.dispose()


async def sent_messages(env: Env, count: int, number: str = "200000000000001") -> list[dict[str, Any]]:
    """``count`` purchase orders of one bakery on ``number``, sent (so status webhooks can find them)."""
    tenant = env.tenants.add(phone_number_id=number)
    ids = []
    for i in range(count):
        accepted = await env.post_event(po_event(tenant, supplier={"phone": f"+34 612 345 {i:03d}"}))
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["notification_id"])
    await env.dispatcher().drain()
    messages = [await env.message(i) for i in ids]
    assert all(m["status"] == "sent" for m in messages), messages
    return messages
