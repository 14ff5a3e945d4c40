"""Signed webhook payloads for the notification service's tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from .helpers import APP_SECRET, WABA_ID

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
    recipient: str = "34612345678",
) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": recipient}
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
