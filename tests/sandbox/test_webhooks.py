"""Webhooks over real HTTP: envelope, signature, status sequences and every knob, retries, other fields."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from wa_sandbox.webhooks import serialize, sign

from .conftest import (
    APP_SECRET,
    AUTH,
    CUSTOMER,
    CUSTOMER_WA_ID,
    PNID,
    PNID2,
    WABA_ID,
    Receiver,
    make_settings,
    signature_of,
    template_body,
    wait_until,
)

URL = f"/v23.0/{PNID}/messages"
Hooked = tuple[httpx.AsyncClient, Receiver]


async def send(client: httpx.AsyncClient, **kwargs: Any) -> str:
    response = await client.post(URL, json=template_body(**kwargs), headers=AUTH)
    assert response.status_code == 200, response.text
    wamid: str = response.json()["messages"][0]["id"]
    return wamid


async def statuses_settled(client: httpx.AsyncClient, count: int, wamid: str | None = None) -> list[dict[str, Any]]:
    async def done() -> bool:
        params = {"field": "messages", "delivered": "true"}
        if wamid:
            params["wamid"] = wamid
        return len((await client.get("/_sandbox/webhooks", params=params)).json()) >= count

    await wait_until(done)
    await asyncio.sleep(0.05)  # nothing more should come
    params = {"field": "messages", **({"wamid": wamid} if wamid else {})}
    items: list[dict[str, Any]] = (await client.get("/_sandbox/webhooks", params=params)).json()
    return items


def test_sign_helper_matches_hmac() -> None:
    raw = serialize({"a": "Panadería/ñ"})
    assert raw == b'{"a":"Panader\\u00eda\\/\\u00f1"}'
    assert sign(raw, "k") == "sha256=" + hmac.new(b"k", raw, hashlib.sha256).hexdigest()
    assert json.loads(raw) == {"a": "Panadería/ñ"}


async def test_full_status_sequence_signed(hooked: Hooked) -> None:
    client, receiver = hooked
    wamid = await send(client, callback_data="tenant=42;notif=9f1c")
    await statuses_settled(client, 3, wamid)
    assert receiver.statuses(wamid) == ["sent", "delivered", "read"]
    for item in receiver.received:
        assert item.headers["content-type"] == "application/json"
        assert item.headers["x-hub-signature-256"] == signature_of(item.raw)
        assert hmac.compare_digest(
            item.headers["x-hub-signature-256"].removeprefix("sha256="),
            hmac.new(APP_SECRET.encode(), item.raw, hashlib.sha256).hexdigest(),
        )
    payload = receiver.received[0].json
    assert payload["object"] == "whatsapp_business_account"
    entry = payload["entry"][0]
    assert entry["id"] == WABA_ID
    change = entry["changes"][0]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": "34612345678", "phone_number_id": PNID}
    sent = value["statuses"][0]
    assert sent["id"] == wamid and sent["status"] == "sent"
    assert sent["recipient_id"] == CUSTOMER_WA_ID
    assert isinstance(sent["timestamp"], str) and abs(int(sent["timestamp"]) - time.time()) < 60
    assert sent["biz_opaque_callback_data"] == "tenant=42;notif=9f1c"
    assert sent["pricing"] == {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    assert sent["conversation"]["origin"] == {"type": "utility"}  # v23.0 still carries conversation
    read = receiver.received[2].json["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert "pricing" not in read and read["biz_opaque_callback_data"] == "tenant=42;notif=9f1c"
    records = (await client.get("/_sandbox/messages")).json()
    assert records[0]["statuses"] == ["sent", "delivered", "read"]


async def test_v24_drops_conversation(hooked: Hooked) -> None:
    client, receiver = hooked
    response = await client.post(f"/v24.0/{PNID}/messages", json=template_body(), headers=AUTH)
    wamid = response.json()["messages"][0]["id"]
    items = await statuses_settled(client, 3, wamid)
    assert all("conversation" not in d["body"]["entry"][0]["changes"][0]["value"]["statuses"][0] for d in items)


async def test_delay_between_statuses(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/knobs", json={"knobs": {"status_delay_seconds": 0.15}})
    started = time.monotonic()
    wamid = await send(client)
    await asyncio.sleep(0.05)
    assert receiver.statuses(wamid) == []
    await statuses_settled(client, 3, wamid)
    assert time.monotonic() - started >= 0.45


async def test_duplicate_reorder_drop(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/knobs", json={"next": 1, "knobs": {"duplicate": True}})
    dup = await send(client)
    await statuses_settled(client, 6, dup)
    assert receiver.statuses(dup) == ["sent", "sent", "delivered", "delivered", "read", "read"]

    await client.post("/_sandbox/knobs", json={"next": 1, "knobs": {"reorder": True}})
    reordered = await send(client, to="+34600000001")
    await statuses_settled(client, 3, reordered)
    assert receiver.statuses(reordered) == ["read", "delivered", "sent"]

    await client.post("/_sandbox/knobs", json={"next": 1, "knobs": {"drop_delivered": True}})
    dropped = await send(client, to="+34600000002")
    await statuses_settled(client, 2, dropped)
    assert receiver.statuses(dropped) == ["sent", "read"]

    normal = await send(client, to="+34600000003")  # one-shot knobs are used up
    await statuses_settled(client, 3, normal)
    assert receiver.statuses(normal) == ["sent", "delivered", "read"]


async def test_stop_after(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/knobs", json={"phone_number_id": PNID, "knobs": {"stop_after": "sent"}})
    await client.post("/_sandbox/knobs", json={"phone_number_id": PNID2, "knobs": {"stop_after": "delivered"}})
    only_sent = await send(client)
    response = await client.post(f"/v23.0/{PNID2}/messages", json=template_body(), headers=AUTH)
    two = response.json()["messages"][0]["id"]
    await statuses_settled(client, 3)
    assert receiver.statuses(only_sent) == ["sent"]
    assert receiver.statuses(two) == ["sent", "delivered"]


async def test_async_failure(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/knobs", json={"to": "+34 600 111 222", "knobs": {"fail_code": 131026}})
    wamid = await send(client, callback_data="n=1")
    items = await statuses_settled(client, 1, wamid)
    assert receiver.statuses(wamid) == ["failed"]
    failed = items[0]["body"]["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert failed["biz_opaque_callback_data"] == "n=1"
    assert "pricing" not in failed
    error = failed["errors"][0]
    assert error["code"] == 131026
    assert error["title"] == error["message"] == "Message undeliverable"
    assert error["error_data"]["details"]

    await client.post(
        "/_sandbox/knobs",
        json={"next": 1, "knobs": {"fail_code": 131049, "fail_after_sent": True, "fail_details": "custom"}},
    )
    other = await send(client, to="+34600000009")
    items = await statuses_settled(client, 2, other)
    assert receiver.statuses(other) == ["sent", "failed"]
    assert items[-1]["body"]["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]["error_data"] == {
        "details": "custom"
    }


async def test_sent_before_response(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/knobs", json={"knobs": {"sent_before_response": True, "status_delay_seconds": 0.2}})
    response = await client.post(URL, json=template_body(), headers=AUTH)
    wamid = response.json()["messages"][0]["id"]
    # the webhook receiver already has `sent` for this wamid when the HTTP answer arrives
    assert receiver.statuses(wamid) == ["sent"]
    await statuses_settled(client, 3, wamid)
    assert receiver.statuses(wamid) == ["sent", "delivered", "read"]


async def test_retries_until_200(hooked: Hooked) -> None:
    client, receiver = hooked
    receiver.script.extend([500, 503])
    await client.post("/_sandbox/knobs", json={"knobs": {"stop_after": "sent"}})
    wamid = await send(client)
    items = await statuses_settled(client, 1, wamid)
    assert receiver.answered == [500, 503, 200]
    delivery = items[0]
    assert [a["http_status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["delivered"] is True and delivery["gave_up"] is False
    # each retry re-sends the very same signed bytes
    assert len({r.raw for r in receiver.received}) == 1
    assert len({r.headers["x-hub-signature-256"] for r in receiver.received}) == 1


async def test_gives_up_after_max_attempts(hooked: Hooked) -> None:
    client, receiver = hooked
    receiver.script.extend([500] * 10)
    await client.post("/_sandbox/knobs", json={"knobs": {"stop_after": "sent"}})
    await client.post("/_sandbox/webhook", json={"max_attempts": 3, "retry_base_seconds": 0.01})
    await send(client)

    async def gave_up() -> bool:
        items = (await client.get("/_sandbox/webhooks")).json()
        return bool(items) and items[0]["gave_up"]

    await wait_until(gave_up)
    assert receiver.answered == [500, 500, 500]


async def test_unreachable_callback_is_retried(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/webhook", json={"url": "http://127.0.0.1:9/nowhere", "max_attempts": 2})
    await client.post("/_sandbox/knobs", json={"knobs": {"stop_after": "sent"}})
    await send(client)

    async def gave_up() -> bool:
        items = (await client.get("/_sandbox/webhooks")).json()
        return bool(items) and items[0]["gave_up"]

    await wait_until(gave_up)
    attempts = (await client.get("/_sandbox/webhooks")).json()[0]["attempts"]
    assert len(attempts) == 2 and all(a["error"] for a in attempts)


async def test_webhooks_off(client: httpx.AsyncClient) -> None:
    wamid = await send(client)
    await asyncio.sleep(0.1)
    assert (await client.get("/_sandbox/webhooks")).json() == []
    record = (await client.get("/_sandbox/messages", params={"wamid": wamid})).json()[0]
    assert record["statuses"] == ["sent", "delivered", "read"]


async def test_inbound_text_and_button(hooked: Hooked) -> None:
    client, receiver = hooked
    wamid = await send(client)
    text = await client.post(
        "/_sandbox/inbound",
        json={"from": "+34 600 111 222", "phone_number_id": PNID, "text": "¿Abrís hoy?", "name": "Lucía"},
    )
    assert text.status_code == 200
    button = await client.post(
        "/_sandbox/inbound",
        json={"from": "34600111222", "phone_number_id": PNID, "button": {"payload": "CONFIRM", "text": "Confirmar"},
              "context_message_id": wamid},
    )  # fmt: skip
    assert button.status_code == 200

    async def arrived() -> bool:
        return len((await client.get("/_sandbox/webhooks", params={"delivered": "true"})).json()) >= 5

    await wait_until(arrived)
    inbound = [r.json for r in receiver.received if "messages" in r.json["entry"][0]["changes"][0]["value"]]
    assert len(inbound) == 2
    value = inbound[0]["entry"][0]["changes"][0]["value"]
    assert value["contacts"][0]["profile"] == {"name": "Lucía"} and value["contacts"][0]["wa_id"] == CUSTOMER_WA_ID
    message = value["messages"][0]
    assert message["from"] == CUSTOMER_WA_ID and message["type"] == "text"
    assert message["text"] == {"body": "¿Abrís hoy?"} and message["id"].startswith("wamid.")
    press = inbound[1]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert press["type"] == "button" and press["button"] == {"payload": "CONFIRM", "text": "Confirmar"}
    assert press["context"] == {"from": "34612345678", "id": wamid}
    for item in receiver.received:
        assert item.headers["x-hub-signature-256"] == signature_of(item.raw)


async def test_tap_sends_the_payload_the_send_carried(hooked: Hooked) -> None:
    """Play the supplier (issue 16): the tap's webhook carries the payload of that button of the send, the button's
    label from the template, ``context`` unless omitted, and no ``from`` for a user whose phone is withheld."""
    client, receiver = hooked
    body = template_body()
    body["template"]["components"] += [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(i),
            "parameters": [{"type": "payload", "payload": p}],
        }
        for i, p in enumerate(["v1.c.SIGNED", "v1.r.SIGNED"])
    ]
    response = await client.post(URL, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    wamid = response.json()["messages"][0]["id"]
    first = await client.post(f"/_sandbox/messages/{wamid}/tap", json={"button": "reject"})
    assert first.status_code == 200, first.text
    tapped = first.json()["message"]
    assert tapped["type"] == "button" and tapped["button"] == {"payload": "v1.r.SIGNED", "text": "Rechazar"}
    assert tapped["context"]["id"] == wamid and tapped["from"] == CUSTOMER_WA_ID
    await client.post("/_sandbox/users", json={"phone": CUSTOMER, "hide_phone": True})
    second = (
        await client.post(
            f"/_sandbox/messages/{wamid}/tap", json={"button": 0, "interactive": True, "omit_context": True}
        )
    ).json()["message"]
    assert second["type"] == "interactive" and "context" not in second and "from" not in second
    assert second["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "v1.c.SIGNED", "title": "Confirmar"},
    }
    assert (await client.post("/_sandbox/messages/wamid.NOPE/tap", json={})).status_code == 404
    assert (await client.post(f"/_sandbox/messages/{wamid}/tap", json={"button": 5})).status_code == 422

    async def arrived() -> bool:
        return sum("messages" in r.json["entry"][0]["changes"][0]["value"] for r in receiver.received) >= 2

    await wait_until(arrived)
    for item in receiver.received:
        assert item.headers["x-hub-signature-256"] == signature_of(item.raw)


async def test_inbound_opens_window_and_text_needs_it(hooked: Hooked) -> None:
    client, receiver = hooked
    text = {"messaging_product": "whatsapp", "to": "+34600111222", "type": "text", "text": {"body": "hola"}}
    first = (await client.post(URL, json=text, headers=AUTH)).json()["messages"][0]["id"]
    await statuses_settled(client, 1, first)
    assert receiver.statuses(first) == ["failed"]
    error = (await client.get("/_sandbox/webhooks", params={"wamid": first})).json()[0]["body"]
    assert error["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]["code"] == 131047

    await client.post("/_sandbox/inbound", json={"from": "+34600111222", "phone_number_id": PNID, "text": "hola"})
    await client.put(
        "/_sandbox/pricing", json={"send_date": "2026-09-30"}
    )  # service still free (tests/sandbox/test_pricing.py)
    second = (await client.post(URL, json=text, headers=AUTH)).json()["messages"][0]["id"]
    items = await statuses_settled(client, 3, second)
    assert receiver.statuses(second) == ["sent", "delivered", "read"]
    pricing = items[0]["body"]["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"]
    assert pricing["type"] == "free_customer_service" and pricing["billable"] is False


async def test_template_status_webhook(hooked: Hooked) -> None:
    client, receiver = hooked
    response = await client.post(
        "/_sandbox/templates/status", json={"name": "po_notification", "language": "es", "status": "PAUSED"}
    )
    assert response.json()["templates"][0]["webhook_id"] is not None

    async def arrived() -> bool:
        return len(receiver.received) >= 1

    await wait_until(arrived)
    payload = receiver.received[0].json
    assert receiver.received[0].headers["x-hub-signature-256"] == signature_of(receiver.received[0].raw)
    entry = payload["entry"][0]
    assert entry["id"] == WABA_ID and isinstance(entry["time"], int)
    change = entry["changes"][0]
    assert change["field"] == "message_template_status_update"
    value = change["value"]
    assert value["event"] == "PAUSED"
    assert value["message_template_id"] == 300000000000001
    assert value["message_template_name"] == "po_notification"
    assert value["message_template_language"] == "es"
    assert value["message_template_category"] == "UTILITY"
    assert value["reason"] == "NONE"
    same = await client.post(
        "/_sandbox/templates/status", json={"name": "po_notification", "language": "es", "status": "PAUSED"}
    )
    assert same.json()["templates"][0]["webhook_id"] is None  # no change, no webhook


async def test_created_template_auto_approved(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/limits", json={"template_auto_approve_seconds": 0.05})
    created = await client.post(
        f"/v23.0/{WABA_ID}/message_templates",
        json={
            "name": "pickup",
            "language": "es",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi"}],
        },
        headers=AUTH,
    )
    template_id = created.json()["id"]

    async def approved() -> bool:
        return bool(receiver.received)

    await wait_until(approved)
    value = receiver.received[0].json["entry"][0]["changes"][0]["value"]
    assert value["event"] == "APPROVED" and value["message_template_id"] == int(template_id)
    read = await client.get(f"/v23.0/{template_id}?fields=status", headers=AUTH)
    assert read.json()["status"] == "APPROVED"


async def test_quality_webhook(hooked: Hooked) -> None:
    client, receiver = hooked
    response = await client.post(f"/_sandbox/phone_numbers/{PNID}", json={"quality_rating": "YELLOW"})
    assert response.json()["webhook_event"] == "FLAGGED"

    async def arrived() -> bool:
        return bool(receiver.received)

    await wait_until(arrived)
    entry = receiver.received[0].json["entry"][0]
    assert entry["changes"][0]["field"] == "phone_number_quality_update"
    assert entry["changes"][0]["value"]["event"] == "FLAGGED"
    assert entry["changes"][0]["value"]["display_phone_number"] == "34612345678"
    read = await client.get(f"/v23.0/{PNID}?fields=quality_rating", headers=AUTH)
    assert read.json()["quality_rating"] == "YELLOW"

    tier = await client.post(f"/_sandbox/phone_numbers/{PNID}", json={"messaging_limit_tier": "TIER_10K"})
    assert tier.json()["webhook_event"] == "UPGRADE"
    high = await client.post(f"/_sandbox/phone_numbers/{PNID2}", json={"throughput_level": "HIGH"})
    assert high.json()["webhook_event"] == "THROUGHPUT_UPGRADE"
    assert high.json()["throughput_per_second"] == 1000.0


async def test_wrong_app_secret_signature_does_not_verify(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/webhook", json={"app_secret": "rotated-secret"})
    await client.post("/_sandbox/knobs", json={"knobs": {"stop_after": "sent"}})
    await send(client)
    await statuses_settled(client, 1)
    item = receiver.received[0]
    assert item.headers["x-hub-signature-256"] != signature_of(item.raw)
    assert item.headers["x-hub-signature-256"] == signature_of(item.raw, "rotated-secret")


async def test_verification_handshake(hooked: Hooked) -> None:
    client, _ = hooked
    result = (await client.post("/_sandbox/webhook/verify")).json()
    assert result["ok"] is True and result["http_status"] == 200
    await client.post("/_sandbox/webhook", json={"verify_token": "wrong"})
    result = (await client.post("/_sandbox/webhook/verify")).json()
    assert result["ok"] is False and result["http_status"] == 403


async def test_settings_webhook_url_is_used(receiver: Receiver) -> None:
    from wa_sandbox.app import create_app

    app = create_app(make_settings(sandbox_webhook_url=receiver.url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        wamid = await send(client)
        await statuses_settled(client, 3, wamid)
        assert receiver.statuses(wamid) == ["sent", "delivered", "read"]
    await app.state.dispatcher.aclose()


async def test_webhook_posts_go_out_concurrently_up_to_the_setting() -> None:
    """``SANDBOX_WEBHOOK_CONCURRENCY`` POSTs in flight at once (Meta delivers concurrently), never more."""
    import re

    from wa_sandbox.state import SandboxState
    from wa_sandbox.webhooks import WebhookDispatcher

    in_flight = peak = 0
    enough = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, peak
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            found = re.search(rb"content-length: *(\d+)", head, re.I)
            await reader.readexactly(int(found.group(1)) if found else 0)
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight >= 3:
                enough.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enough.wait(), timeout=5)
            in_flight -= 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state = SandboxState(
        make_settings(sandbox_webhook_url=f"http://127.0.0.1:{port}/hook", sandbox_webhook_concurrency=3)
    )
    dispatcher = WebhookDispatcher(state)
    try:
        deliveries = [dispatcher.send("messages", {"n": i}) for i in range(7)]
        for _ in range(500):
            if all(d is not None and d.delivered for d in deliveries):
                break
            await asyncio.sleep(0.01)
        assert all(d is not None and d.delivered for d in deliveries)
        assert peak == 3
    finally:
        await dispatcher.aclose()
        server.close()
        await server.wait_closed()


# ------------------------------------------------------------------ business-scoped user IDs (Meta, 2026)
def _value(delivery: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = delivery["body"]["entry"][0]["changes"][0]["value"]
    return value


async def test_statuses_carry_user_ids_and_failed_omits_contacts(hooked: Hooked) -> None:
    client, receiver = hooked
    user = (await client.post("/_sandbox/users", json={"phone": CUSTOMER, "username": "lucia.harinas"})).json()
    wamid = await send(client)
    items = await statuses_settled(client, 3, wamid)
    sent, delivered, read = (_value(d) for d in items)
    for value in (sent, delivered, read):
        status = value["statuses"][0]
        assert status["recipient_id"] == CUSTOMER_WA_ID and status["recipient_user_id"] == user["user_id"]
        contact = value["contacts"][0]
        assert contact["wa_id"] == CUSTOMER_WA_ID and contact["user_id"] == user["user_id"]
        assert "parent_user_id" not in contact
    assert "profile" not in sent["contacts"][0]  # the username only on delivered and read
    assert delivered["contacts"][0]["profile"] == {"username": "lucia.harinas"}

    # failed after a send to a phone number: no contacts and no recipient_user_id, the phone stays
    await client.post("/_sandbox/knobs", json={"next": 1, "knobs": {"fail_code": 131026}})
    failed_wamid = await send(client)
    failed = _value((await statuses_settled(client, 1, failed_wamid))[0])
    assert "contacts" not in failed
    status = failed["statuses"][0]
    assert status["status"] == "failed" and status["recipient_id"] == CUSTOMER_WA_ID
    assert "recipient_user_id" not in status


async def test_user_with_username_and_no_phone(hooked: Hooked) -> None:
    client, receiver = hooked
    user = (
        await client.post(
            "/_sandbox/users",
            json={"phone": CUSTOMER, "username": "molinos_ana", "hide_phone": True, "parent_user_id": True},
        )
    ).json()
    assert user["parent_user_id"].startswith("ES.ENT.")
    assert (await client.get("/_sandbox/users")).json() == [user]

    # inbound: from_user_id and no `from`; the contact has no wa_id
    response = await client.post("/_sandbox/inbound", json={"from": CUSTOMER, "phone_number_id": PNID, "text": "hola"})
    message = response.json()["message"]
    assert "from" not in message and message["from_user_id"] == user["user_id"]
    assert message["from_parent_user_id"] == user["parent_user_id"]

    async def arrived() -> bool:
        return len((await client.get("/_sandbox/webhooks", params={"delivered": "true"})).json()) >= 1

    await wait_until(arrived)
    inbound = receiver.received[0].json["entry"][0]["changes"][0]["value"]
    assert inbound["contacts"] == [
        {
            "profile": {"name": "Cliente Sandbox", "username": "molinos_ana"},
            "user_id": user["user_id"],
            "parent_user_id": user["parent_user_id"],
        }
    ]
    assert inbound["messages"][0] == message

    # a send by user ID: its statuses carry no phone number; a failed one keeps recipient_user_id (no contacts)
    body = template_body()
    del body["to"]
    body["recipient"] = user["user_id"]
    await client.post("/_sandbox/knobs", json={"to": CUSTOMER, "knobs": {"fail_code": 131026, "fail_after_sent": True}})
    wamid = (await client.post(URL, json=body, headers=AUTH)).json()["messages"][0]["id"]
    sent, failed = (_value(d) for d in await statuses_settled(client, 2, wamid))
    assert "recipient_id" not in sent["statuses"][0] and sent["statuses"][0]["recipient_user_id"] == user["user_id"]
    assert sent["statuses"][0]["recipient_parent_user_id"] == user["parent_user_id"]
    assert sent["contacts"] == [{"user_id": user["user_id"], "parent_user_id": user["parent_user_id"]}]
    assert "contacts" not in failed
    assert "recipient_id" not in failed["statuses"][0]
    assert failed["statuses"][0]["recipient_user_id"] == user["user_id"]

    # a send to the phone number shows it again (Meta's contact book), and reset forgets the user
    await client.delete("/_sandbox/knobs")
    by_phone = await send(client)
    value = _value((await statuses_settled(client, 3, by_phone))[0])
    assert value["statuses"][0]["recipient_id"] == CUSTOMER_WA_ID and value["contacts"][0]["wa_id"] == CUSTOMER_WA_ID
    assert (await client.delete("/_sandbox/users")).json() == {"deleted": 1}
    assert (await client.get("/_sandbox/users")).json() == []


async def test_user_request_is_checked(hooked: Hooked) -> None:
    client, _ = hooked
    assert (await client.post("/_sandbox/users", json={"phone": "12"})).status_code == 422
    assert (await client.post("/_sandbox/users", json={"phone": CUSTOMER, "username": ""})).status_code == 422


async def test_statuses_batched_into_one_signed_post_per_waba(receiver: Receiver) -> None:
    """``SANDBOX_WEBHOOK_BATCH_MAX`` > 1: the statuses that fall due together go out in one signed POST (Meta
    aggregates up to 1,000 updates), one ``changes[]`` item each with its own metadata; the control API still finds
    each status by wamid and status; never more than the maximum per POST."""
    from wa_sandbox.app import create_app

    settings = make_settings(sandbox_webhook_batch_max=4, sandbox_webhook_batch_window_seconds=0.2)
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
        assert (await client.post("/_sandbox/webhook", json={"url": receiver.url})).status_code == 200
        assert (await client.post("/_sandbox/knobs", json={"knobs": {"status_delay_seconds": 0.01}})).status_code == 200
        wamids = [await send(client)]
        response = await client.post(f"/v23.0/{PNID2}/messages", json=template_body(), headers=AUTH)
        wamids.append(response.json()["messages"][0]["id"])
        await wait_until(lambda: _true(sum(len(_statuses_of(r.json)) for r in receiver.received) >= 6))
        for item in receiver.received:
            assert item.headers["x-hub-signature-256"] == signature_of(item.raw)
            assert 1 <= len(_statuses_of(item.json)) <= 4
            assert [e["id"] for e in item.json["entry"]] == [WABA_ID]
        assert len(receiver.received) < 6  # batched: fewer POSTs than statuses
        for wamid, number in zip(wamids, (PNID, PNID2), strict=True):
            assert receiver.statuses(wamid) == ["sent", "delivered", "read"]
            changes = [c for r in receiver.received for c in r.json["entry"][0]["changes"]]
            mine = [c["value"] for c in changes if c["value"]["statuses"][0]["id"] == wamid]
            assert all(v["metadata"]["phone_number_id"] == number and len(v["statuses"]) == 1 for v in mine)
        found = (await client.get("/_sandbox/webhooks", params={"wamid": wamids[1], "status": "read"})).json()
        assert (
            len(found) == 1 and {"wamid": wamids[1], "status": "read", "phone_number_id": PNID2} in found[0]["statuses"]
        )
        assert (await client.get("/_sandbox/webhooks", params={"wamid": "wamid.nope"})).json() == []
    await app.state.dispatcher.aclose()


def _statuses_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for e in payload["entry"] for c in e["changes"] for s in c["value"].get("statuses", [])]


async def _true(value: bool) -> bool:
    return value
