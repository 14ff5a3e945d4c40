"""Suppliers answer from WhatsApp (issue 16), played through the sandbox: its real signed inbound webhooks reach the
service over HTTP. Taps on the purchase-order buttons (button and interactive, with and without ``context``, with
and without a phone number), second taps, replies linked by context and by latest message, opt-out and opt-in
(another bakery unaffected), and the confirmation reply that goes back inside the customer-service window. SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from bakery_shared.db import create_engine

from .helpers import po_event, token
from .sandbox_stack import E2E, NUMBER, eventually, sandbox_stack

OTHER_NUMBER = "200000000000002"
SUPPLIER = "+34600000111"


@pytest.fixture
async def e2e(database_url: str) -> AsyncIterator[E2E]:
    async with sandbox_stack(
        database_url, outbound_events_url="http://platform.invalid/events", outbound_events_secret="platform-secret"
    ) as stack:
        stack.url = database_url  # type: ignore[attr-defined]
        yield stack


async def table(e2e: E2E, name: str, where: str = "1=1", **params: Any) -> list[dict[str, Any]]:
    engine = create_engine(e2e.url)  # type: ignore[attr-defined]
    try:
        async with engine.connect() as conn:
            query = sa.text(f"SELECT * FROM {name} WHERE {where}")  # noqa: S608 - the tests' own SQL
            return [dict(r) for r in (await conn.execute(query, params)).mappings()]
    finally:
        await engine.dispose()


async def inbound_outcome(e2e: E2E, wamid: str) -> str | None:
    rows = await table(e2e, "inbound_messages", "wamid = :w", w=wamid)
    return str(rows[0]["outcome"]) if rows else None


async def handled(e2e: E2E, wamid: str) -> str:
    """Wait until the service has handled the inbound message ``wamid``; its outcome."""

    async def done() -> bool:
        return (await inbound_outcome(e2e, wamid)) not in (None, "received")

    await eventually(done)
    outcome = await inbound_outcome(e2e, wamid)
    assert outcome is not None
    return outcome


async def tap(e2e: E2E, wamid: str, **body: Any) -> dict[str, Any]:
    r = await e2e.sandbox.post(f"/_sandbox/messages/{wamid}/tap", json=body)
    assert r.status_code == 200, r.text
    message: dict[str, Any] = r.json()["message"]
    return message


async def send_po(e2e: E2E, tenant: Any, phone: str = SUPPLIER, number: str = "PO-2026-0042") -> dict[str, Any]:
    r = await e2e.api.post(
        "/api/v1/events/purchase-orders",
        json=po_event(tenant, supplier={"phone": phone}, purchase_order={"id": f"id-{number}", "number": number}),
        headers=token(e2e.dispatcher.settings, "service"),
    )
    assert r.status_code == 202, r.text
    await e2e.dispatcher.drain()
    return await e2e.message(str(r.json()["notification_id"]))


async def test_confirm_tap_decides_acknowledges_and_records_the_event(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    po = await send_po(e2e, tenant)
    sent = (await e2e.sandbox.get("/_sandbox/messages", params={"wamid": po["wamid"]})).json()[0]
    buttons = [c for c in sent["request"]["template"]["components"] if c["type"] == "button"]
    assert [(b["sub_type"], b["index"]) for b in buttons] == [("quick_reply", "0"), ("quick_reply", "1")]
    payloads = [b["parameters"][0]["payload"] for b in buttons]
    assert all(len(p) <= 64 for p in payloads) and payloads[0] != payloads[1]

    tapped = await tap(e2e, po["wamid"], button="confirm")
    assert tapped["button"] == {"payload": payloads[0], "text": "Confirmar"}
    assert await handled(e2e, tapped["id"]) == "decision"

    shown = await e2e.message(po["id"])
    assert shown["supplier_decision"]["decision"] == "confirmed"
    assert [r["button_text"] for r in shown["replies"]] == ["Confirmar"]
    events = await table(e2e, "outbound_events")
    assert [e["name"] for e in events] == ["purchase_order.supplier_confirmed"]
    body = events[0]["payload"]
    body = body if isinstance(body, dict) else __import__("json").loads(body)
    assert body["purchase_order"] == {"id": "id-PO-2026-0042", "number": "PO-2026-0042"}
    assert body["decision"] == "confirmed" and body["supplier"]["phone"] == SUPPLIER
    assert body["tenant_id"] == str(tenant) and body["notification_id"] == po["id"]
    assert events[0]["http_status"] == "pending"

    # the confirmation reply: a free-form text through the same queue, inside the window the tap opened
    ack_id = shown["supplier_decision"]["ack_message_id"]
    assert ack_id is not None
    await e2e.dispatcher.drain()
    ack = await e2e.message(ack_id)
    assert ack["kind"] == "supplier_ack" and ack["status"] in ("sent", "delivered", "read"), ack
    texts = [m for m in (await e2e.sandbox.get("/_sandbox/messages", params={"to": SUPPLIER})).json()]
    assert texts[-1]["type"] == "text" and "PO-2026-0042" in texts[-1]["rendered_body"]
    assert texts[-1]["rendered_body"].startswith("Gracias")


async def test_second_tap_is_recorded_and_the_first_decision_stands(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    po = await send_po(e2e, tenant)
    first = await tap(e2e, po["wamid"], button="reject", interactive=True, omit_context=True)
    assert "context" not in first and first["interactive"]["type"] == "button_reply"
    assert await handled(e2e, first["id"]) == "decision"
    second = await tap(e2e, po["wamid"], button="confirm")
    assert await handled(e2e, second["id"]) == "later_tap"

    shown = await e2e.message(po["id"])
    assert shown["supplier_decision"]["decision"] == "rejected"
    assert [r["outcome"] for r in shown["replies"]] == ["decision", "later_tap"]
    assert "the first decision stands: rejected" in shown["replies"][1]["outcome_detail"]
    assert [e["name"] for e in await table(e2e, "outbound_events")] == ["purchase_order.supplier_rejected"]
    acks = await table(e2e, "whatsapp_messages", "kind = 'supplier_ack'")
    assert len(acks) == 1  # one confirmation reply, for the decision only


async def test_tap_without_phone_number_is_linked_by_the_payload(e2e: E2E) -> None:
    """A supplier whose number Meta withholds (business-scoped user ID only) taps without ``context``."""
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    await e2e.sandbox.post("/_sandbox/users", json={"phone": SUPPLIER, "username": "harinas", "hide_phone": True})
    po = await send_po(e2e, tenant)
    tapped = await tap(e2e, po["wamid"], button=0, omit_context=True)
    assert "from" not in tapped and tapped["from_user_id"]
    assert await handled(e2e, tapped["id"]) == "decision"
    row = (await table(e2e, "inbound_messages", "wamid = :w", w=tapped["id"]))[0]
    assert row["from_phone"] is None and row["from_user_id"] == tapped["from_user_id"]
    assert row["supplier_phone"] == SUPPLIER  # from the message it answers
    owner = token(e2e.dispatcher.settings, "owner", tenant)
    mine = (await e2e.api.get(f"/api/v1/messages/{po['id']}", headers=owner)).json()
    assert mine["supplier_decision"]["decision"] == "confirmed"
    assert mine["replies"][0]["from_user_id"] is None  # owners never see user IDs
    admin = await e2e.message(po["id"])
    assert admin["replies"][0]["from_user_id"] == tapped["from_user_id"]


async def test_replies_linked_by_context_and_by_latest_message(e2e: E2E) -> None:
    tenant = e2e.tenants.add(phone_number_id=NUMBER)
    older = await send_po(e2e, tenant, number="PO-1")
    newer = await send_po(e2e, tenant, number="PO-2")
    quoting = await e2e.sandbox.post(
        "/_sandbox/inbound",
        json={"from": SUPPLIER, "phone_number_id": NUMBER, "text": "Llego el martes", "context_wamid": older["wamid"]},
    )
    plain = await e2e.sandbox.post(
        "/_sandbox/inbound", json={"from": SUPPLIER, "phone_number_id": NUMBER, "text": "¿Y el pan de centeno?"}
    )
    assert await handled(e2e, quoting.json()["message"]["id"]) == "reply"
    assert await handled(e2e, plain.json()["message"]["id"]) == "reply"
    assert [r["text"] for r in (await e2e.message(older["id"]))["replies"]] == ["Llego el martes"]
    assert [r["text"] for r in (await e2e.message(newer["id"]))["replies"]] == ["¿Y el pan de centeno?"]
    events = await table(e2e, "outbound_events")
    assert sorted((e["name"], e["ordering_key"]) for e in events) == [
        ("purchase_order.supplier_replied", f"po:{tenant}:id-PO-1"),
        ("purchase_order.supplier_replied", f"po:{tenant}:id-PO-2"),
    ]
    # the admin's inbound log shows them (newest first; these two may share one batch, so one time)
    log = (await e2e.api.get("/api/v1/admin/whatsapp/inbound", headers=e2e.admin)).json()["items"]
    assert sorted(i["text"] for i in log) == ["Llego el martes", "¿Y el pan de centeno?"]
    assert {i["purchase_order_number"] for i in log} == {"PO-1", "PO-2"}


async def test_opt_out_and_opt_in_per_bakery(e2e: E2E) -> None:
    bakery = e2e.tenants.add(phone_number_id=NUMBER)
    other = e2e.tenants.add(phone_number_id=OTHER_NUMBER, name="Horno de Lola")
    await send_po(e2e, bakery)
    stop = await e2e.sandbox.post(
        "/_sandbox/inbound", json={"from": SUPPLIER, "phone_number_id": NUMBER, "text": " Baja "}
    )
    assert await handled(e2e, stop.json()["message"]["id"]) == "opted_out"

    skipped = await send_po(e2e, bakery, number="PO-3")
    assert skipped["status"] == "skipped" and skipped["status_reason"].startswith("supplier_opted_out:")
    elsewhere = await send_po(e2e, other, number="PO-4")
    assert elsewhere["status"] in ("sent", "delivered", "read")  # another bakery is not affected

    owner = token(e2e.dispatcher.settings, "owner", bakery)
    listed = (await e2e.api.get(f"/api/v1/tenants/{bakery}/whatsapp/opted-out", headers=owner)).json()
    assert [(s["supplier_phone"], s["word"]) for s in listed["suppliers"]] == [(SUPPLIER, "Baja")]
    other_owner = token(e2e.dispatcher.settings, "owner", other)
    assert (await e2e.api.get(f"/api/v1/tenants/{bakery}/whatsapp/opted-out", headers=other_owner)).status_code == 403
    assert (await e2e.api.get(f"/api/v1/tenants/{other}/whatsapp/opted-out", headers=other_owner)).json()[
        "suppliers"
    ] == []

    # a sentence with the word is a reply, not an opt-in; the opt-in word lifts it
    chat = await e2e.sandbox.post(
        "/_sandbox/inbound", json={"from": SUPPLIER, "phone_number_id": NUMBER, "text": "alta de nuevo por favor"}
    )
    assert await handled(e2e, chat.json()["message"]["id"]) == "reply"
    start = await e2e.sandbox.post(
        "/_sandbox/inbound", json={"from": SUPPLIER, "phone_number_id": NUMBER, "text": "ALTA"}
    )
    assert await handled(e2e, start.json()["message"]["id"]) == "opted_in"
    again = await send_po(e2e, bakery, number="PO-5")
    assert again["status"] in ("sent", "delivered", "read")
    names = [e["name"] for e in await table(e2e, "outbound_events")]
    assert names.count("supplier.opted_out") == 1 and names.count("supplier.opted_in") == 1
