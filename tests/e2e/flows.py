"""HTTP steps the end-to-end tests share (real requests against the real processes of a Stack)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from tests.helpers import Tokens
from tests.stack import Stack

T = TypeVar("T")
tokens = Tokens()


def wait_for(check: Callable[[], T], timeout: float = 15, interval: float = 0.05, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def enable_whatsapp(stack: Stack, tenant_id: uuid.UUID | str, phone_number_id: str, language: str = "es") -> None:
    r = httpx.post(
        f"{stack.tenant_url}/api/v1/admin/whatsapp/tenants/{tenant_id}/assign-phone",
        json={"phone_number_id": phone_number_id},
        headers=tokens.admin(),
    )
    assert r.status_code == 200, r.text
    r = httpx.put(
        f"{stack.tenant_url}/api/v1/tenants/{tenant_id}/settings/notifications",
        json={"whatsapp_enabled": True, "whatsapp_default_language": language},
        headers=tokens.owner(tenant_id),
    )
    assert r.status_code == 200, r.text


def po_event(
    tenant_id: uuid.UUID | str,
    *,
    phone: str = "+34 612 000 111",
    number: str = "PO-1",
    amount: str = "1250.00",
    language: str | None = None,
    supplier: str = "Harinas Ana",
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": str(tenant_id),
        "occurred_at": datetime.now(UTC).isoformat(),
        "purchase_order": {
            "id": f"po-{uuid.uuid4().hex[:8]}",
            "number": number,
            "total_amount": amount,
            "currency": "EUR",
            "delivery_date": None,
        },
        "supplier": {"name": supplier, "phone": phone, "language": language},
    }


def post_event(stack: Stack, body: dict[str, Any], client: httpx.Client | None = None) -> dict[str, Any]:
    http = client or httpx
    r = http.post(f"{stack.notification_url}/api/v1/events/purchase-orders", json=body, headers=tokens.service())
    assert r.status_code == 202, r.text
    data: dict[str, Any] = r.json()
    return data


def message(stack: Stack, notification_id: str) -> dict[str, Any]:
    r = httpx.get(f"{stack.notification_url}/api/v1/messages/{notification_id}", headers=tokens.admin())
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def sandbox_messages(stack: Stack) -> list[dict[str, Any]]:
    data = httpx.get(f"{stack.sandbox_url}/_sandbox/messages", timeout=30).json()
    return data if isinstance(data, list) else data.get("messages", data.get("items", []))


def sandbox_control(stack: Stack, path: str, body: dict[str, Any] | None = None) -> Any:
    r = httpx.post(f"{stack.sandbox_url}/_sandbox/{path.lstrip('/')}", json=body or {})
    assert r.status_code < 300, r.text
    return r.json() if r.content else None
