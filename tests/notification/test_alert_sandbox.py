"""Staff alerts against the WhatsApp sandbox (issue 17): the sandbox knows the alert templates (its seed) and
delivers; the status webhooks come back over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .helpers import token
from .sandbox_stack import E2E, NUMBER, eventually, sandbox_stack
from .test_alert_ingestion import inventory_event


@pytest.fixture
async def e2e(sqlite_url: str) -> AsyncIterator[E2E]:
    async with sandbox_stack(sqlite_url) as stack:
        yield stack


async def test_an_inventory_alert_reaches_two_staff_numbers_and_not_a_third_switched_off(e2e: E2E) -> None:
    """Three staff numbers: two take inventory alerts, the third has them switched off (production only)."""
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    e2e.tenants.tenants[tenant].update(
        {
            "enable_inventory_alerts": True,
            "enable_production_alerts": True,
            "staff_numbers": [
                {"phone": "+34600000201", "name": "Ana", "kinds": ["inventory_alert", "production_alert"]},
                {"phone": "+34600000202", "name": "Luis", "kinds": ["inventory_alert"]},
                {"phone": "+34600000203", "name": "Eva", "kinds": ["production_alert"]},
            ],
        }
    )
    r = await e2e.api.post(
        "/api/v1/events/inventory-alerts",
        json=inventory_event(tenant),
        headers=token(e2e.dispatcher.settings, "service"),
    )
    assert r.status_code == 202, r.text
    ids = r.json()["notification_ids"]
    assert len(ids) == 2
    await e2e.dispatcher.drain()

    async def delivered() -> bool:
        statuses = [(await e2e.message(i))["status"] for i in ids]
        return all(status in ("delivered", "read") for status in statuses)

    await eventually(delivered)
    received = (await e2e.sandbox.get("/_sandbox/messages", params={"phone_number_id": NUMBER})).json()
    assert sorted(m["to"] if "to" in m else m["wa_id"] for m in received) in (
        ["+34600000201", "+34600000202"],
        ["34600000201", "34600000202"],
    )
    assert (await e2e.sandbox.get("/_sandbox/messages", params={"to": "+34600000203"})).json() == []
