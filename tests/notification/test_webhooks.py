"""Webhook endpoint: handshake, signatures, storage, status processing (order, duplicates, routing), pricing."""

from __future__ import annotations

import itertools
import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from bakery_shared.db import create_engine
from notification_service.domain.message import Message
from notification_service.domain.pricing import RateCard
from notification_service.domain.transitions import reported
from notification_service.domain.webhook_security import signature_problem
from notification_service.services.webhooks import WebhookProcessor

from .conftest import Env, EnvFactory
from .helpers import APP_SECRET, VERIFY_TOKEN, WABA_ID, Clock, message_row, po_event, token
from .webhook_helpers import (
    UTILITY,
    WEBHOOK,
    post_applied,
    post_signed,
    raw_json,
    sign,
    status_item,
    statuses_body,
    wait_applied,
)

NUMBER = "200000000000001"
T0 = 1_780_000_000


async def table_rows(env: Env, table: str) -> list[dict[str, Any]]:
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(sa.text(f"SELECT * FROM {table}"))).mappings()]  # noqa: S608
    finally:
        await engine.dispose()


async def sent_message(env: Env, tenant: uuid.UUID | None = None) -> dict[str, Any]:
    tenant = tenant or env.tenants.add(phone_number_id=NUMBER)
    accepted = await env.post_event(po_event(tenant))
    await env.dispatcher().drain()
    message = await env.message(accepted.json()["notification_id"])
    assert message["status"] == "sent", message
    return message


# ---------------------------------------------------------------- handshake


async def test_handshake(env: Env) -> None:
    ok = await env.client.get(
        WEBHOOK, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ):
        assert (await env.client.get(WEBHOOK, params=params)).status_code == 403


async def test_handshake_refused_without_verify_token(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, whatsapp_webhook_verify_token="")
    r = await env.client.get(WEBHOOK, params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
    assert r.status_code == 403


# ---------------------------------------------------------------- signatures


def test_signature_function() -> None:
    raw = raw_json({"a": "é"})
    assert signature_problem(raw, sign(raw), APP_SECRET) is None
    assert signature_problem(raw, None, APP_SECRET) == "missing_signature"
    assert signature_problem(raw, "sha1=abc", APP_SECRET) == "bad_signature"
    assert signature_problem(raw, sign(raw, "other"), APP_SECRET) == "bad_signature"
    assert signature_problem(raw, "sha256=" + "é" * 64, APP_SECRET) == "bad_signature"


async def test_signatures(env: Env) -> None:
    body = statuses_body(NUMBER, [status_item("wamid.UNKNOWN", "sent", T0)])
    raw = raw_json(body)
    headers = {"Content-Type": "application/json"}
    missing = await env.client.post(WEBHOOK, content=raw, headers=headers)
    assert missing.status_code == 401
    assert missing.json()["code"] == "missing_signature"
    wrong = await env.client.post(WEBHOOK, content=raw, headers={**headers, "X-Hub-Signature-256": sign(raw, "nope")})
    assert wrong.status_code == 401
    altered = bytearray(raw)
    altered[-3] ^= 0x01  # one byte changed after signing
    r = await env.client.post(WEBHOOK, content=bytes(altered), headers={**headers, "X-Hub-Signature-256": sign(raw)})
    assert r.status_code == 401
    # re-serialised JSON (what a buggy receiver would hash) differs from the bytes sent
    assert (await table_rows(env, "webhook_events")) == []
    assert (await table_rows(env, "webhook_statuses")) == []

    good = await post_signed(env.client, raw)
    assert good.status_code == 200, good.text
    assert good.json()["duplicate"] is False
    again = await post_signed(env.client, raw)
    assert again.status_code == 200
    assert again.json() == {**good.json(), "duplicate": True}
    await wait_applied(env, good.json()["event_id"])
    events = await table_rows(env, "webhook_events")
    assert len(events) == 1 and events[0]["processed_at"] is not None


async def test_unicode_body_raw_bytes(env: Env) -> None:
    """Escaped unicode and raw UTF-8 both verify, because the raw bytes are hashed."""
    body = statuses_body(NUMBER, [status_item("wamid.X", "sent", T0, callback="café ☕ \\/ @")])
    escaped = raw_json(body).replace(b"/", b"\\/")
    utf8 = __import__("json").dumps(body, ensure_ascii=False).encode("utf-8")
    for raw in (escaped, utf8):
        r = await post_signed(env.client, raw)
        assert r.status_code == 200, r.text
    assert len(await table_rows(env, "webhook_events")) == 2


async def test_no_app_secret_refuses_everything(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, whatsapp_app_secret="")
    raw = raw_json(statuses_body(NUMBER, []))
    r = await env.client.post(WEBHOOK, content=raw, headers={"X-Hub-Signature-256": sign(raw, "")})
    assert r.status_code == 503
    assert "WHATSAPP_APP_SECRET" in r.json()["detail"]
    ready = (await env.ready()).json()
    assert ready["checks"]["webhooks"]["ok"] is False
    assert "WHATSAPP_APP_SECRET" in ready["checks"]["webhooks"]["detail"]
    assert ready["status"] == "degraded"
    assert await table_rows(env, "webhook_events") == []


async def test_rate_limit_and_body_limit(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(
        sqlite_url, whatsapp_webhook_burst=2, whatsapp_webhook_rate_per_second=0.001, max_body_bytes=2048
    )
    codes = [
        (await post_signed(env.client, statuses_body(NUMBER, [status_item(f"w{i}", "sent", T0)]))).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    # bad signatures are refused before the bucket and never stored
    raw = raw_json(statuses_body(NUMBER, []))
    assert (
        await env.client.post(WEBHOOK, content=raw, headers={"X-Hub-Signature-256": "sha256=00"})
    ).status_code == 401
    assert len(await table_rows(env, "webhook_events")) == 2
    # the webhook route takes more than MAX_BODY_BYTES (Meta's batches), other routes do not
    big = statuses_body(NUMBER, [status_item(f"wamid.{i:04d}", "sent", T0) for i in range(60)])
    assert len(raw_json(big)) > 2048
    assert (await post_signed(env.client, big)).status_code == 429  # past the size check, stopped by the bucket
    too_big = await env.client.post(
        "/api/v1/events/purchase-orders", content=b"x" * 4096, headers=token(env.settings, "service")
    )
    assert too_big.status_code == 413


async def test_the_lean_post_route_keeps_request_ids_access_logs_metrics_and_limits(
    make_env: EnvFactory, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``POST /api/v1/whatsapp/webhook`` is served by a plain ASGI function (``api/webhooks.receive_asgi``), not
    by FastAPI's request/response machinery: everything the shared middleware and handlers give the other routes
    must still be there, and the answer must be the bytes ``JSONResponse`` sent before."""
    env = await make_env(sqlite_url, whatsapp_webhook_max_body_bytes=4096)
    raw = raw_json(statuses_body(NUMBER, [status_item("wamid.LEAN", "sent", T0)]))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw), "X-Request-ID": "meta-req-1"}
    metric = (
        'http_requests_total{method="POST",route="/api/v1/whatsapp/webhook",service="notification-service",'
        'status="200"}'
    )

    def counted(text: str) -> float:
        line = next((line for line in text.splitlines() if line.startswith(metric)), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = counted((await env.client.get("/metrics", headers=token(env.settings, "admin"))).text)
    with caplog.at_level(logging.INFO, logger="notification-service.access"):
        r = await env.client.post(WEBHOOK, content=raw, headers=headers)
        again = await env.client.post(WEBHOOK, content=raw, headers={**headers, "X-Request-ID": "bad id\n"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "meta-req-1"
    assert r.headers["content-type"] == "application/json"
    event_id = r.json()["event_id"]
    assert r.content == f'{{"status":"received","event_id":{event_id},"duplicate":false}}'.encode()
    assert again.content == f'{{"status":"received","event_id":{event_id},"duplicate":true}}'.encode()
    assert len(again.headers["x-request-id"]) == 32  # an invalid id is replaced, as on every route
    access = [rec for rec in caplog.records if rec.name == "notification-service.access"]
    assert [(rec.route, rec.status, rec.http_method) for rec in access] == [  # type: ignore[attr-defined]
        ("/api/v1/whatsapp/webhook", 200, "POST")
    ] * 2
    after = counted((await env.client.get("/metrics", headers=token(env.settings, "admin"))).text)
    assert after == before + 2

    # refusals: the shared error shape, with the request id
    wrong = await env.client.post(
        WEBHOOK, content=raw, headers={**headers, "X-Hub-Signature-256": sign(raw, "other"), "X-Request-ID": "r-2"}
    )
    assert wrong.status_code == 401 and wrong.headers["x-request-id"] == "r-2"
    assert wrong.json() == {"detail": "Invalid X-Hub-Signature-256", "code": "bad_signature"}
    # the route's own body limit, declared or streamed (no Content-Length)
    big = b"x" * 5000
    declared = await env.client.post(WEBHOOK, content=big, headers={"X-Hub-Signature-256": sign(big)})
    assert declared.status_code == 413 and declared.json()["code"] == "payload_too_large"

    async def chunks() -> Any:
        for _ in range(5):
            yield b"x" * 1000

    streamed = await env.client.post(WEBHOOK, content=chunks(), headers={"X-Hub-Signature-256": sign(big)})
    assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"
    # an unusable body is acknowledged with the detail (JSON-encoded like before)
    invalid = await post_signed(env.client, b'{"object": "whatsapp_business_account"}')
    assert invalid.status_code == 200
    assert invalid.json() == {
        "status": "invalid",
        "event_id": invalid.json()["event_id"],
        "duplicate": False,
        "detail": "stored, not processed: entry: expected a list of entries",
    }
    assert len(await table_rows(env, "webhook_events")) == 2


async def test_the_post_route_is_documented(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url)
    schema = (await env.client.get("/openapi.json")).json()
    post = schema["paths"][WEBHOOK]["post"]
    assert post["tags"] == ["webhooks"] and {"200", "401", "429", "503"} <= set(post["responses"])
    assert "get" in schema["paths"][WEBHOOK]


# ---------------------------------------------------------------- statuses


async def test_status_lifecycle_pricing_and_cost(env: Env) -> None:
    message = await sent_message(env)
    wamid = message["wamid"]
    items = [
        status_item(wamid, "sent", T0, pricing=UTILITY),
        status_item(wamid, "delivered", T0 + 5, pricing=UTILITY),
        status_item(wamid, "read", T0 + 60),
    ]
    for item in items:
        assert (await post_applied(env, statuses_body(NUMBER, [item]))).status_code == 200
    after = await env.message(message["id"])
    assert after["status"] == "read"
    assert datetime.fromisoformat(after["delivered_at"].replace("Z", "+00:00")) == datetime.fromtimestamp(T0 + 5, UTC)
    assert datetime.fromisoformat(after["read_at"].replace("Z", "+00:00")) == datetime.fromtimestamp(T0 + 60, UTC)
    rows = [r for r in await table_rows(env, "whatsapp_messages") if r["wamid"] == wamid]
    assert rows[0]["pricing_category"] == "utility"
    assert bool(rows[0]["billable"]) is True
    assert Decimal(str(rows[0]["cost_eur"])) == Decimal("0.0172")


async def test_failed_records_meta_error_and_delivered_wins(env: Env) -> None:
    message = await sent_message(env)
    wamid = message["wamid"]
    await post_applied(env, statuses_body(NUMBER, [status_item(wamid, "failed", T0, error_code=131026)]))
    failed = await env.message(message["id"])
    assert failed["status"] == "failed"
    assert failed["error_code"] == "131026"
    assert failed["error_message"] == "Message undeliverable"
    assert failed["error_details"] == "Message Undeliverable."
    assert failed["status_reason"].startswith("delivery_failed: (131026)")
    # a late "sent" never resurrects it; a "delivered" (multi-device) does win
    await post_applied(env, statuses_body(NUMBER, [status_item(wamid, "sent", T0 - 1)]))
    assert (await env.message(message["id"]))["status"] == "failed"
    await post_applied(env, statuses_body(NUMBER, [status_item(wamid, "delivered", T0 + 1)]))
    delivered = await env.message(message["id"])
    assert delivered["status"] == "delivered"
    assert delivered["status_reason"] is None


async def test_unknown_wamid_is_stored_not_an_error(env: Env) -> None:
    r = await post_applied(env, statuses_body(NUMBER, [status_item("wamid.NOPE", "delivered", T0)]))
    assert r.status_code == 200
    rows = await table_rows(env, "webhook_statuses")
    assert [(x["wamid"], x["outcome"]) for x in rows] == [("wamid.NOPE", "unknown_message")]


async def test_cross_tenant_phone_number_rejected(env: Env) -> None:
    mine = await sent_message(env)
    other_number = "200000000000002"
    r = await post_applied(env, statuses_body(other_number, [status_item(mine["wamid"], "read", T0)]))
    assert r.status_code == 200  # acknowledged (Meta must not retry) but not applied
    assert (await env.message(mine["id"]))["status"] == "sent"
    # also through the callback data of another tenant's message
    r = await post_applied(
        env,
        statuses_body(other_number, [status_item("wamid.FORGED", "failed", T0, callback=f"notification:{mine['id']}")]),
    )
    assert (await env.message(mine["id"]))["status"] == "sent"
    outcomes = [x["outcome"] for x in await table_rows(env, "webhook_statuses")]
    assert outcomes == ["rejected_phone_number_mismatch", "rejected_phone_number_mismatch"]


async def test_status_before_send_response_resolves_ambiguous(env: Env) -> None:
    """The send timed out after reaching Meta; the status webhook (our callback data) settles it: no resend."""
    clock = Clock()
    tenant = env.tenants.add(phone_number_id=NUMBER)
    env.graph.script.append(httpx.ReadTimeout("read timed out"))
    accepted = await env.post_event(po_event(tenant))
    notification_id = accepted.json()["notification_id"]
    dispatcher = env.dispatcher(clock=clock)
    await dispatcher.drain()
    waiting = await env.message(notification_id)
    assert waiting["status"] == "queued"
    assert waiting["status_reason"].startswith("ambiguous_timeout")
    assert waiting["wamid"] is None
    item = status_item("wamid.FROM_META", "sent", T0, callback=f"notification:{notification_id}", pricing=UTILITY)
    assert (await post_applied(env, statuses_body(NUMBER, [item]))).status_code == 200
    settled = await env.message(notification_id)
    assert settled["status"] == "sent"
    assert settled["wamid"] == "wamid.FROM_META"
    assert settled["error_code"] is None
    clock.advance(120)
    await dispatcher.drain()
    assert len(env.graph.sends) == 1  # never re-sent
    await post_applied(env, statuses_body(NUMBER, [status_item("wamid.FROM_META", "delivered", T0 + 3)]))
    assert (await env.message(notification_id))["status"] == "delivered"


async def test_any_order_and_duplicates_same_final_state_in_db(env: Env) -> None:
    """Every permutation (with a duplicate) of one message's status webhooks, on fresh messages, ends the same."""
    tenant = env.tenants.add(phone_number_id=NUMBER)
    finals = []
    base = ["sent", "delivered", "read"]
    for order in itertools.permutations(base):
        message = await sent_message(env, tenant)
        wamid = message["wamid"]
        items = {
            "sent": status_item(wamid, "sent", T0, pricing=UTILITY),
            "delivered": status_item(wamid, "delivered", T0 + 2, pricing=UTILITY),
            "read": status_item(wamid, "read", T0 + 9),
        }
        for name in [*order, order[0]]:
            await post_applied(env, statuses_body(NUMBER, [items[name]]))
        m = await env.message(message["id"])
        finals.append((m["status"], m["delivered_at"], m["read_at"], m["error_code"]))
    assert len(set(finals)) == 1
    assert finals[0][0] == "read"


# ---------------------------------------------------------------- property: merge is order-independent

_STATUS_TS = {"sent": T0, "delivered": T0 + 4, "read": T0 + 30, "failed": T0 + 2}
_PROCESSOR = WebhookProcessor(sessions=None, rate_card=RateCard.load(None, None), serialise=False)  # type: ignore[arg-type]


def _initial_row() -> dict[str, Any]:
    sent_at = datetime.fromtimestamp(T0 + 1, UTC)
    return message_row("sent", at=sent_at, wamid="wamid.P", sent_at=sent_at, language="es", template_parameters=[])


def _apply_all(row: dict[str, Any], sequence: list[str]) -> dict[str, Any]:
    """Every status of ``sequence`` through the webhook's parsing and the domain's ``reported`` transition."""
    for name in sequence:
        pricing = UTILITY if name in ("sent", "delivered") else None
        item = status_item(
            "wamid.P", name, _STATUS_TS[name], pricing=pricing, error_code=131026 if name == "failed" else None
        )
        at = datetime.fromtimestamp(_STATUS_TS[name], UTC)
        message = Message.from_row(row)
        report = _PROCESSOR._report(message, name, at, "wamid.P", item)
        assert report is not None
        update = reported(message, report, datetime.fromtimestamp(T0 + 100, UTC))
        if update is not None:
            row = {**row, **update.columns()}
    row.pop("id")
    row.pop("updated_at")
    return row


@settings(max_examples=300, deadline=None)
@given(
    subset=st.sets(st.sampled_from(["sent", "delivered", "read", "failed"]), min_size=1),
    data=st.data(),
)
def test_property_any_permutation_and_duplication_same_final_state(subset: set[str], data: st.DataObject) -> None:
    base = sorted(subset)
    extra = data.draw(st.lists(st.sampled_from(base), max_size=6), label="duplicates")
    sequence = data.draw(st.permutations(base + extra), label="order")
    start = _initial_row()
    reference = _apply_all(dict(start), base)
    assert _apply_all(dict(start), list(sequence)) == reference
    # and the reference itself follows the rules
    rank = ["sent", "failed", "delivered", "read"]
    assert reference["status"] == max(["sent", *base], key=rank.index)
    if "read" in subset:
        assert reference["read_at"] == datetime.fromtimestamp(_STATUS_TS["read"], UTC)


# ---------------------------------------------------------------- pricing


# The rate card and the charge rule themselves: tests/notification/domain/test_pricing.py


async def test_rate_card_override_from_settings(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, whatsapp_rate_card='{"ES": {"utility": "0.0200"}}')
    message = await sent_message(env)
    await post_applied(env, statuses_body(NUMBER, [status_item(message["wamid"], "sent", T0, pricing=UTILITY)]))
    row = next(r for r in await table_rows(env, "whatsapp_messages") if r["id"] == message["id"])
    assert Decimal(str(row["cost_eur"])) == Decimal("0.02")


async def test_unprocessed_event_is_swept(env: Env) -> None:
    """Stored but not processed (the process died in between): the sweeper processes it later."""
    message = await sent_message(env)
    runtime = env.app.state.runtime
    raw = raw_json(statuses_body(NUMBER, [status_item(message["wamid"], "delivered", T0)]))
    event_id, processed, _ = await runtime.webhooks.store(raw, ["messages"])
    assert processed is False
    assert (await env.message(message["id"]))["status"] == "sent"
    runtime.webhooks.clock = lambda: datetime.now(UTC) + timedelta(seconds=60)
    assert await runtime.webhooks.sweep() == 1
    assert (await env.message(message["id"]))["status"] == "delivered"
    assert await runtime.webhooks.sweep() == 0
    # Meta retrying the same body later: acknowledged as a duplicate, nothing changes
    r = await post_signed(env.client, raw)
    assert r.json()["duplicate"] is True and r.json()["event_id"] == event_id


async def test_metrics_exposed(env: Env) -> None:
    await post_signed(env.client, statuses_body(NUMBER, [status_item("wamid.M", "sent", T0)]))
    text = (await env.client.get("/metrics", headers=token(env.settings, "admin"))).text
    for name in (
        "whatsapp_webhooks_received_total",
        "whatsapp_webhooks_rejected_total",
        "whatsapp_message_status_total",
        "whatsapp_held_numbers",
        "whatsapp_cost_eur_total",
    ):
        assert name in text


# ---------------------------------------------------------------- business-scoped user IDs (Meta, 2026)
# Meta page "Business-scoped user IDs": statuses carry recipient_user_id, inbound messages from_user_id; a phone
# number may be missing from either. Meta's documented shapes, with and without phone numbers.

USER_ID = "ES.13491208655302741918"
SUPPLIER = "+34 611 222 333"


async def sent_to(env: Env, tenant: uuid.UUID, phone: str = SUPPLIER) -> dict[str, Any]:
    accepted = await env.post_event(po_event(tenant, supplier={"phone": phone}))
    assert accepted.status_code == 202, accepted.text
    await env.dispatcher().drain()
    message = await env.message(accepted.json()["notification_id"])
    assert message["status"] == "sent", message
    return message


async def test_status_user_id_is_kept_beside_the_phone_and_the_first_one_wins(any_env: Env) -> None:
    tenant = any_env.tenants.add(phone_number_id=NUMBER)
    m = await sent_to(any_env, tenant)
    assert m["recipient_user_id"] is None  # not known before Meta reports it
    body = statuses_body(NUMBER, [status_item(m["wamid"], "sent", T0, pricing=UTILITY, user_id=USER_ID)])
    body["entry"][0]["changes"][0]["value"]["contacts"] = [{"wa_id": "34611222333", "user_id": USER_ID}]
    await post_applied(any_env, body)
    after = await any_env.message(m["id"])
    assert after["recipient_user_id"] == USER_ID and after["recipient_phone"] == m["recipient_phone"]
    # a later status with another ID (Meta regenerates it when the user changes number) does not overwrite it
    await post_applied(any_env, statuses_body(NUMBER, [status_item(m["wamid"], "read", T0 + 5, user_id="ES.1")]))
    after = await any_env.message(m["id"])
    assert after["status"] == "read" and after["recipient_user_id"] == USER_ID


async def test_statuses_without_a_phone_number_apply_by_wamid(any_env: Env) -> None:
    """A delivered status of a user whose number Meta withholds has no ``recipient_id``; a failed status after a
    send to a phone number has no ``contacts`` and no ``recipient_user_id``. Both are matched by wamid."""
    tenant = any_env.tenants.add(phone_number_id=NUMBER)
    delivered, failed = await sent_to(any_env, tenant), await sent_to(any_env, tenant, "+34 611 222 444")
    await post_applied(
        any_env,
        statuses_body(
            NUMBER,
            [
                status_item(delivered["wamid"], "delivered", T0, recipient=None, user_id=USER_ID, pricing=UTILITY),
                status_item(failed["wamid"], "failed", T0, error_code=131026),
            ],
        ),
    )
    d, f = await any_env.message(delivered["id"]), await any_env.message(failed["id"])
    assert d["status"] == "delivered" and d["recipient_user_id"] == USER_ID
    assert f["status"] == "failed" and f["error_code"] == "131026" and f["recipient_user_id"] is None
    events = await table_rows(any_env, "webhook_events")
    assert events[-1]["last_error"] is None  # nothing was skipped
    outcomes = {s["wamid"]: s["outcome"] for s in await table_rows(any_env, "webhook_statuses")}
    assert outcomes == {delivered["wamid"]: "applied", failed["wamid"]: "applied"}


async def test_inbound_message_without_a_phone_number_is_kept(any_env: Env) -> None:
    """A user with a username writes: ``from_user_id`` and no ``from``, a contact without ``wa_id``."""
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "34612345678", "phone_number_id": NUMBER},
                            "contacts": [{"profile": {"name": "Ana", "username": "molinos_ana"}, "user_id": USER_ID}],
                            "messages": [
                                {
                                    "from_user_id": USER_ID,
                                    "id": "wamid.INBOUND1",
                                    "timestamp": str(T0),
                                    "type": "text",
                                    "text": {"body": "¿Llega mañana?"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    response = await post_applied(any_env, body)
    assert response.status_code == 200, response.text
    stored = next(e for e in await table_rows(any_env, "webhook_events") if e["id"] == response.json()["event_id"])
    assert stored["processed_at"] is not None and stored["last_error"] is None
    assert "from_user_id" in stored["body"] and '"from"' not in stored["body"]
