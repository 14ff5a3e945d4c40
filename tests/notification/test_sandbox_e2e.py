"""End to end with the WhatsApp sandbox in-process: its real signed webhooks reach the service over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from .helpers import token
from .sandbox_stack import E2E, NUMBER, eventually, sandbox_stack


@pytest.fixture
async def e2e(sqlite_url: str) -> AsyncIterator[E2E]:
    async with sandbox_stack(sqlite_url) as stack:
        yield stack


async def test_sandbox_handshake(e2e: E2E) -> None:
    result = (await e2e.sandbox.post("/_sandbox/webhook/verify")).json()
    assert result["ok"] is True, result


async def test_sandbox_reordered_duplicated_statuses_and_cost(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    await e2e.sandbox.post("/_sandbox/knobs", json={"knobs": {"duplicate": True, "reorder": True}})
    message_id = await e2e.send_po(tenant)

    async def read() -> bool:
        return (await e2e.message(message_id))["status"] == "read"

    await eventually(read)
    await asyncio.sleep(0.3)  # let every duplicate land
    m = await e2e.message(message_id)
    assert m["status"] == "read" and m["delivered_at"] and m["read_at"]
    costs = (await e2e.api.get("/api/v1/admin/whatsapp/costs", headers=e2e.admin)).json()
    row = next(r for r in costs["tenants"] if r["tenant_id"] == str(tenant))
    assert row["billable"] == 1 and Decimal(row["cost_eur"]) == Decimal("0.0172")
    deliveries = (await e2e.sandbox.get("/_sandbox/webhooks", params={"wamid": m["wamid"]})).json()
    items = deliveries if isinstance(deliveries, list) else deliveries.get("items", deliveries.get("webhooks", []))
    assert len(items) >= 6  # 3 statuses, each twice, all answered 200


async def test_sandbox_fail_code(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    await e2e.sandbox.post("/_sandbox/knobs", json={"to": "+34600111222", "knobs": {"fail_code": 131026}})
    message_id = await e2e.send_po(tenant, phone="+34600111222")

    async def failed() -> bool:
        return (await e2e.message(message_id))["status"] == "failed"

    await eventually(failed)
    m = await e2e.message(message_id)
    assert m["error_code"] == "131026"


async def test_sandbox_bad_signature_not_stored(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    await e2e.sandbox.post("/_sandbox/webhook", json={"app_secret": "not-the-secret", "max_attempts": 1})
    message_id = await e2e.send_po(tenant)
    await asyncio.sleep(0.5)
    assert (await e2e.message(message_id))["status"] == "sent"  # nothing applied


async def test_sandbox_quality_and_template_holds(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    sync = await e2e.api.post("/api/v1/admin/whatsapp/sync", headers=e2e.admin)
    assert sync.status_code == 200 and sync.json()["numbers"] == 10, sync.text

    async def number_held(expected: bool) -> bool:
        data = (await e2e.api.get("/api/v1/admin/whatsapp/quality", headers=e2e.admin)).json()
        return any(n["phone_number_id"] == NUMBER and n["held"] is expected for n in data["numbers"])

    await e2e.sandbox.post(f"/_sandbox/phone_numbers/{NUMBER}", json={"quality_rating": "RED"})
    await eventually(lambda: number_held(True))
    held_id = await e2e.send_po(tenant)
    assert (await e2e.message(held_id))["status"] == "held"
    await e2e.sandbox.post(f"/_sandbox/phone_numbers/{NUMBER}", json={"quality_rating": "GREEN"})
    await eventually(lambda: number_held(False))
    await e2e.dispatcher.drain()

    async def delivered(mid: str) -> bool:
        return (await e2e.message(mid))["status"] in ("delivered", "read")

    await eventually(lambda: delivered(held_id))

    # template paused at Meta → held; approved again → sent
    await e2e.sandbox.post(
        "/_sandbox/templates/status", json={"name": "po_notification", "language": "es", "status": "PAUSED"}
    )

    async def template_status(status: str) -> bool:
        data = (await e2e.api.get("/api/v1/admin/whatsapp/templates", headers=e2e.admin)).json()
        return any(
            t["name"] == "po_notification"
            and any(x["language"] == "es" and x["status"] == status for x in t["languages"])
            for t in data["templates"]
        )

    await eventually(lambda: template_status("PAUSED"))
    paused_id = await e2e.send_po(tenant)
    assert (await e2e.message(paused_id))["status"] == "held"
    await e2e.sandbox.post(
        "/_sandbox/templates/status", json={"name": "po_notification", "language": "es", "status": "APPROVED"}
    )
    await eventually(lambda: template_status("APPROVED"))
    await e2e.dispatcher.drain()
    await eventually(lambda: delivered(paused_id))


async def test_sandbox_user_ids_with_and_without_phone_numbers(e2e: E2E) -> None:
    """Meta page "Business-scoped user IDs" (2026), as the sandbox models it: a supplier with a username whose
    number Meta withholds. The PO still goes to the phone number; the statuses' user ID is kept (admin view); a
    failed status (no contacts, no user ID) applies by wamid; the supplier's reply, without ``from``, is kept."""
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    user = (
        await e2e.sandbox.post(
            "/_sandbox/users", json={"phone": "+34600000111", "username": "harinas_ana", "hide_phone": True}
        )
    ).json()
    message_id = await e2e.send_po(tenant, phone="+34600000111")

    async def read() -> bool:
        return (await e2e.message(message_id))["status"] == "read"

    await eventually(read)
    m = await e2e.message(message_id)
    assert m["recipient_user_id"] == user["user_id"] and m["recipient_phone"] == "+34600000111"
    sent = (await e2e.sandbox.get("/_sandbox/messages", params={"wamid": m["wamid"]})).json()[0]
    assert sent["to"] == "+34600000111" and sent["recipient_user_id"] is None  # sent to the phone, not the ID

    await e2e.sandbox.post("/_sandbox/knobs", json={"next": 1, "knobs": {"fail_code": 131026}})
    failed_id = await e2e.send_po(tenant, phone="+34600000222")

    async def failed() -> bool:
        return (await e2e.message(failed_id))["status"] == "failed"

    await eventually(failed)
    assert (await e2e.message(failed_id))["recipient_user_id"] is None

    reply = await e2e.sandbox.post(
        "/_sandbox/inbound", json={"from": "+34600000111", "phone_number_id": NUMBER, "text": "ok"}
    )
    assert "from" not in reply.json()["message"]

    async def reply_delivered() -> bool:
        deliveries = (
            await e2e.sandbox.get("/_sandbox/webhooks", params={"wamid": reply.json()["message"]["id"]})
        ).json()
        return bool(deliveries) and deliveries[0]["delivered"]

    await eventually(reply_delivered)  # HTTP 200: stored (the applier processes it like any other body)


async def test_reconciliation_with_meta_pricing_analytics(e2e: E2E) -> None:
    """The sync reads the sandbox's pricing_analytics (what it delivered), stores it, and the admin's costs report
    shows the estimate beside Meta's figure per bakery with the difference."""
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    # Meta's own rate differs from our card's (0.0172): the difference must show
    await e2e.sandbox.put("/_sandbox/pricing", json={"rates": {"ES": {"utility": "0.0200"}}})
    first, second = await e2e.send_po(tenant), await e2e.send_po(tenant, phone="+34 600 000 222")

    async def both_read() -> bool:
        return all([(await e2e.message(m))["status"] == "read" for m in (first, second)])

    await eventually(both_read)
    synced = await e2e.api.post("/api/v1/admin/whatsapp/sync", headers=e2e.admin)
    assert synced.status_code == 200, synced.text
    assert synced.json()["pricing_points"] == 1 and not synced.json().get("errors")
    costs = (await e2e.api.get("/api/v1/admin/whatsapp/costs", headers=e2e.admin)).json()
    row = next(r for r in costs["tenants"] if r["tenant_id"] == str(tenant))
    assert row["cost_eur"] == "0.034400"
    assert row["reconciliation"] == {
        "phone_numbers": ["34612345678"],
        "estimate_cost_eur": "0.034400",
        "meta_messages": 2,
        "meta_by_category": {"utility": 2},
        "meta_cost_eur": "0.040000",
        "difference_eur": "-0.005600",
    }
    total = costs["reconciliation"]
    assert total["meta_cost_eur"] == "0.040000" and total["difference_eur"] == "-0.005600"
    assert total["meta_synced_at"] is not None and total["unattributed"] == []
    # the owner's report of the same month carries no Meta figures
    owner = await e2e.api.get(
        f"/api/v1/tenants/{tenant}/whatsapp/costs", headers=token(e2e.dispatcher.settings, "owner", tenant)
    )
    assert owner.status_code == 200 and owner.json()["reconciliation"] is None


async def test_in_window_utility_charged_from_2026_10_01(e2e: E2E) -> None:
    """The supplier just wrote (window open): before 2026-10-01 Meta reports the utility send free, from then
    regular; the product follows the webhook, not the window."""
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    await e2e.sandbox.post("/_sandbox/inbound", json={"from": "+34600000111", "phone_number_id": NUMBER, "text": "?"})
    costs: dict[str, str] = {}
    for day in ("2026-09-30", "2026-10-01"):
        await e2e.sandbox.put("/_sandbox/pricing", json={"send_date": day})
        message_id = await e2e.send_po(tenant)

        async def read(mid: str = message_id) -> bool:
            return (await e2e.message(mid))["status"] == "read"

        await eventually(read)
        rows = (await e2e.api.get("/api/v1/admin/whatsapp/costs", headers=e2e.admin)).json()
        costs[day] = next(r for r in rows["tenants"] if r["tenant_id"] == str(tenant))["cost_eur"]
    assert costs == {"2026-09-30": "0.000000", "2026-10-01": "0.017200"}


async def test_batched_status_webhooks_applied_like_single_ones(sqlite_url: str) -> None:
    """The sandbox's batching (``SANDBOX_WEBHOOK_BATCH_MAX``, as Meta aggregates updates): one signed POST carrying
    the statuses of several messages and numbers is stored once and every status in it is applied."""
    batching = {"sandbox_webhook_batch_max": 50, "sandbox_webhook_batch_window_seconds": 0.1}
    async with sandbox_stack(sqlite_url, sandbox=batching) as e2e:
        first = e2e.tenants.add(phone_number_id=NUMBER)
        second = e2e.tenants.add(phone_number_id="200000000000002")
        ids = [await e2e.send_po(first), await e2e.send_po(first, phone="+34 600 000 222"), await e2e.send_po(second)]

        async def all_read() -> bool:
            return [(await e2e.message(i))["status"] for i in ids] == ["read"] * 3

        await eventually(all_read)
        deliveries = (await e2e.sandbox.get("/_sandbox/webhooks", params={"field": "messages"})).json()
        carried = sum(len(d["statuses"]) for d in deliveries)
        assert carried == 9 and len(deliveries) < 9 and all(d["delivered"] for d in deliveries)
        costs = (await e2e.api.get("/api/v1/admin/whatsapp/costs", headers=e2e.admin)).json()
        billable = {r["tenant_id"]: r["billable"] for r in costs["tenants"]}
        assert billable == {str(first): 2, str(second): 1}
