"""Inbound ``messages[]`` sent as signed webhooks straight to the service (issue 16): payloads that must change
nothing (forged, altered, another bakery's, another supplier's, replayed wamid), a tap delivered after the window
closed, the dispatcher's window rule for free-form texts, and the decision, its event and its inbound row committed
in one transaction. SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bakery_shared.db import utcnow
from notification_service.domain import button_payloads
from notification_service.domain.button_payloads import Action
from notification_service.repositories import outbound_events as outbound_repo

from .conftest import Env, EnvFactory
from .helpers import DEV_JWT_SECRET, Clock, po_event
from .webhook_helpers import envelope, post_applied, post_signed, rows, wait_applied

NUMBER = "200000000000001"
OTHER_NUMBER = "200000000000002"
KEY = button_payloads.derive_key("", DEV_JWT_SECRET)


def inbound_body(phone_number_id: str, message: dict[str, Any], wa_id: str | None = "34612345000") -> dict[str, Any]:
    contact: dict[str, Any] = {"profile": {"name": "Proveedor"}, "user_id": "ES.1234567890"}
    if wa_id is not None:
        contact["wa_id"] = wa_id
    return envelope(
        "messages",
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "34612345678", "phone_number_id": phone_number_id},
            "contacts": [contact],
            "messages": [message],
        },
    )


def button(payload: str, *, sender: str | None = "34612345000", ts: int | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"wamid.IN{uuid.uuid4().hex[:16]}",
        "timestamp": str(ts if ts is not None else int(time.time())),
        "type": "button",
        "button": {"payload": payload, "text": "Confirmar"},
        "from_user_id": "ES.1234567890",
        **extra,
    }
    if sender is not None:
        item["from"] = sender
    return item


def refused(reason: str) -> float:
    value = REGISTRY.get_sample_value("whatsapp_supplier_payloads_refused_total", {"reason": reason})
    return value or 0.0


async def sent_po(env: Env, number: str = NUMBER, phone: str = "+34 612 345 000") -> tuple[uuid.UUID, dict[str, Any]]:
    tenant = env.tenants.add(phone_number_id=number)
    accepted = await env.post_event(po_event(tenant, supplier={"phone": phone}))
    assert accepted.status_code == 202, accepted.text
    await env.dispatcher().drain()
    message = await env.message(accepted.json()["notification_id"])
    assert message["status"] == "sent", message
    return tenant, message


async def outcome_of(env: Env, wamid: str) -> dict[str, Any]:
    found = [r for r in await rows(env, "inbound_messages") if r["wamid"] == wamid]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
async def env(make_env: EnvFactory, database_url: str) -> Env:
    return await make_env(database_url)


async def test_the_send_carries_signed_payloads(env: Env) -> None:
    _, message = await sent_po(env)
    components = env.graph.sends[-1]["payload"]["template"]["components"]
    payloads = [c["parameters"][0]["payload"] for c in components if c["type"] == "button"]
    assert payloads == [
        button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.CONFIRM),
        button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.REJECT),
    ]


async def test_forged_altered_and_foreign_payloads_change_nothing(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    tenant, message = await sent_po(env)
    message_id = uuid.UUID(message["id"])
    good = button_payloads.sign(KEY, message_id, Action.CONFIRM)
    other_key = button_payloads.derive_key("another-deployment-secret", "")
    cases = {
        "forged": (button_payloads.sign(other_key, message_id, Action.CONFIRM), "bad_signature"),
        # the action flipped: the tag no longer matches
        "altered": (good.replace("v1.c.", "v1.r.", 1), "bad_signature"),
        "garbage": ("CONFIRM", "malformed"),
        "unknown": (button_payloads.sign(KEY, uuid.uuid4(), Action.CONFIRM), "unknown_message"),
    }
    before = {reason: refused(reason) for _, reason in cases.values()}
    for name, (payload, reason) in cases.items():
        item = button(payload)
        assert (await post_applied(env, inbound_body(NUMBER, item))).status_code == 200
        row = await outcome_of(env, item["id"])
        assert (row["outcome"], row["outcome_detail"]) == ("payload_refused", reason), name
    for reason, count in before.items():
        expected = sum(1 for _, r in cases.values() if r == reason)
        assert refused(reason) == count + expected
    # the same good payload tapped at another bakery's number (cross-bakery), and by someone else
    other_tenant, _ = await sent_po(env, number=OTHER_NUMBER, phone="+34 612 999 999")
    assert other_tenant != tenant
    cross = button(good)
    await post_applied(env, inbound_body(OTHER_NUMBER, cross))
    assert (await outcome_of(env, cross["id"]))["outcome_detail"] == "other_number"
    stranger = button(good, sender="34699999999")
    await post_applied(env, inbound_body(NUMBER, stranger, wa_id="34699999999"))
    assert (await outcome_of(env, stranger["id"]))["outcome_detail"] == "other_supplier"

    assert await rows(env, "supplier_decisions") == []
    assert await rows(env, "outbound_events") == []
    assert (await env.message(message["id"]))["supplier_decision"] is None
    assert all(good not in record.getMessage() for record in caplog.records)  # no payload in any log line

    # the genuine tap still decides
    real = button(good)
    await post_applied(env, inbound_body(NUMBER, real))
    assert (await outcome_of(env, real["id"]))["outcome"] == "decision"


async def test_payload_of_a_message_now_belonging_to_another_bakery(env: Env) -> None:
    """The receiving number's bakery (the tenant of its latest message) is not the message's: refused."""
    _, message = await sent_po(env)
    newer = env.tenants.add(phone_number_id=NUMBER)  # the number went to another bakery, which sent since
    accepted = await env.post_event(po_event(newer, supplier={"phone": "+34 612 111 222"}))
    assert accepted.status_code == 202
    await env.dispatcher().drain()
    item = button(button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.CONFIRM))
    await post_applied(env, inbound_body(NUMBER, item))
    assert (await outcome_of(env, item["id"]))["outcome_detail"] == "other_tenant"


async def test_the_same_inbound_wamid_twice_is_handled_once(env: Env) -> None:
    _, message = await sent_po(env)
    item = button(button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.REJECT))
    replayed = refused("replayed")
    await post_applied(env, inbound_body(NUMBER, item))
    # the same item in another body (Meta's retries are byte-identical; this one is not, so it is stored again)
    body = inbound_body(NUMBER, item)
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Otro"
    await post_applied(env, body)
    assert len([r for r in await rows(env, "inbound_messages") if r["wamid"] == item["id"]]) == 1
    assert len(await rows(env, "supplier_decisions")) == 1
    assert [e["name"] for e in await rows(env, "outbound_events")] == ["purchase_order.supplier_rejected"]
    assert len([m for m in await rows(env, "whatsapp_messages") if m["kind"] == "supplier_ack"]) == 1
    assert refused("replayed") == replayed + 1


async def test_tap_delivered_after_the_window_closed_gets_no_reply(env: Env) -> None:
    """Meta retries a webhook for days: a tap written 25 hours ago still decides, but no free-form reply goes."""
    _, message = await sent_po(env)
    old = int((utcnow() - timedelta(hours=25)).timestamp())
    item = button(button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.CONFIRM), ts=old)
    await post_applied(env, inbound_body(NUMBER, item))
    decision = (await env.message(message["id"]))["supplier_decision"]
    assert decision["decision"] == "confirmed" and decision["ack_message_id"] is None
    assert decision["ack_skipped_reason"].startswith("outside_service_window:")
    assert [m for m in await rows(env, "whatsapp_messages") if m["kind"] == "supplier_ack"] == []


async def test_reply_whose_window_closes_before_the_send_is_skipped(env: Env) -> None:
    """The dispatcher checks the window at send time: a reply queued inside it but dispatched after it closed is
    skipped with the reason, never sent."""
    _, message = await sent_po(env)
    item = button(button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.CONFIRM))
    await post_applied(env, inbound_body(NUMBER, item))
    ack_id = (await env.message(message["id"]))["supplier_decision"]["ack_message_id"]
    assert ack_id is not None
    sends = len(env.graph.sends)
    later = Clock()
    later.offset = timedelta(hours=24, seconds=1)  # the dispatcher gets to it after the tap's window closed
    await env.dispatcher(clock=later).drain()
    ack = await env.message(str(ack_id))
    assert ack["status"] == "skipped" and ack["status_reason"].startswith("outside_service_window:")
    assert len(env.graph.sends) == sends


async def test_reply_inside_the_window_is_sent_as_text(env: Env) -> None:
    _, message = await sent_po(env)
    item = button(button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.REJECT))
    await post_applied(env, inbound_body(NUMBER, item))
    await env.dispatcher().drain()
    sent = env.graph.sends[-1]
    assert sent["phone_number_id"] == NUMBER and sent["payload"]["type"] == "text"
    assert sent["payload"]["to"] == "+34612345000" and "PO-2026-0042" in sent["payload"]["text"]["body"]


async def test_decision_event_and_inbound_row_commit_together(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the outbound event cannot be stored, nothing of the tap is: the webhook event stays unprocessed and is
    applied once the outbox works again (then exactly once)."""
    _, message = await sent_po(env)
    original = outbound_repo.insert

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(outbound_repo, "insert", broken)
    item = button(button_payloads.sign(KEY, uuid.UUID(message["id"]), Action.CONFIRM))
    response = await post_signed(env.client, inbound_body(NUMBER, item))
    assert response.status_code == 200
    event_id = response.json()["event_id"]
    await wait_applied(env, event_id)  # fails as a batch, then event by event: the item is skipped
    events = [e for e in await rows(env, "webhook_events") if e["id"] == event_id]
    assert await rows(env, "supplier_decisions") == [] and await rows(env, "outbound_events") == []
    assert [r for r in await rows(env, "inbound_messages") if r["wamid"] == item["id"]] == []
    assert events[0]["processed_at"] is not None and "messages[0]" in (events[0]["last_error"] or "")

    # the item-by-item path recorded it as invalid (nothing of it stored); a later delivery of the same message
    # applies once the outbox works again
    monkeypatch.setattr(outbound_repo, "insert", original)
    body = inbound_body(NUMBER, item)
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Retry"
    retried = await post_signed(env.client, body)
    await wait_applied(env, retried.json()["event_id"])
    assert len(await rows(env, "supplier_decisions")) == 1
    assert [e["name"] for e in await rows(env, "outbound_events")] == ["purchase_order.supplier_confirmed"]


async def test_inbound_without_phone_and_unknown_number_is_kept(env: Env) -> None:
    item = {
        "id": "wamid.NOPHONE1",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": "hola"},
        "from_user_id": "ES.999",
    }
    await post_applied(env, inbound_body("200000000000009", item, wa_id=None))
    row = await outcome_of(env, "wamid.NOPHONE1")
    assert row["from_phone"] is None and row["from_user_id"] == "ES.999"
    assert row["tenant_id"] is None and row["outcome"] == "unlinked"
