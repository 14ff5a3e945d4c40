"""Signed webhooks of odd shape (issue 13 item 9): stored first, checked defensively, applied item by item.

Every test posts properly signed bodies through HTTP, on a real SQLite file and a real PostgreSQL database.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bakery_shared.db import create_engine
from notification_service.models import message_templates, phone_numbers, webhook_statuses, whatsapp_messages

from .conftest import Env, EnvFactory
from .helpers import po_event
from .webhook_helpers import UTILITY, envelope, post_signed, raw_json, status_item, statuses_body

NUMBER = "200000000000001"
T0 = 1_780_000_000


async def rows(env: Env, table: str) -> list[dict[str, Any]]:
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))).mappings()]  # noqa: S608
    finally:
        await engine.dispose()


async def sent_messages(env: Env, count: int) -> list[dict[str, Any]]:
    tenant = env.tenants.add(phone_number_id=NUMBER)
    ids = []
    for i in range(count):
        accepted = await env.post_event(po_event(tenant, supplier={"phone": f"+34 612 345 {i:03d}"}))
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["notification_id"])
    await env.dispatcher().drain()
    messages = [await env.message(i) for i in ids]
    assert all(m["status"] == "sent" for m in messages), messages
    return messages


def column_length(table: sa.Table, column: str) -> int:
    length = table.c[column].type.length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length


# ---------------------------------------------------------------- whole-body shape


async def test_entry_of_wrong_type_is_stored_and_acknowledged(any_env: Env) -> None:
    """``{"entry": 5}`` was a TypeError 500 before the body was stored."""
    for body in ({"entry": 5}, {"entry": {"changes": 1}}, {"entry": [5, "x", None]}, [1, 2], "text", 7):
        r = await post_signed(any_env.client, raw_json(body) if not isinstance(body, dict) else body)
        assert r.status_code == 200, r.text
    events = await rows(any_env, "webhook_events")
    assert len(events) == 6
    assert all(e["processed_at"] is not None for e in events)  # never retried by the sweeper
    assert all(e["last_error"] and e["last_error"].startswith("invalid") for e in events), events
    top = (await post_signed(any_env.client, {"entry": 5})).json()
    assert top["status"] == "invalid" and top["duplicate"] is True
    assert "entry" in top["detail"]


async def test_deep_nesting_is_stored_and_marked_invalid(any_env: Env) -> None:
    """5,000-deep nesting was a RecursionError 500; now: stored, marked invalid, 200 so Meta does not retry."""
    deep = b"[" * 5000 + b"]" * 5000
    inside = b'{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":' + (
        b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}]}]}"
    )
    for raw in (deep, inside):
        r = await post_signed(any_env.client, raw)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "invalid"
        assert "nest" in r.json()["detail"]
    events = await rows(any_env, "webhook_events")
    assert [e["size"] for e in events] == [len(deep), len(inside)]
    assert all(e["processed_at"] is not None and e["last_error"].startswith("invalid") for e in events)


async def test_not_json_is_stored_and_acknowledged(any_env: Env) -> None:
    for raw in (b"{nope", b"\xff\xfe\x00garbage", b"", b'{"a": 1}\x00'):
        r = await post_signed(any_env.client, raw)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "invalid"
    events = await rows(any_env, "webhook_events")
    assert len(events) == 4
    assert all("\x00" not in e["body"] for e in events)


# ---------------------------------------------------------------- one bad item does not fail the others


async def test_wrong_types_inside_one_change_leave_the_others_applied(any_env: Env) -> None:
    first, second = await sent_messages(any_env, 2)
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            5,
            {"changes": "nope"},
            {
                "changes": [
                    {"field": "messages", "value": [1]},
                    {"field": "messages", "value": {"metadata": 5, "statuses": 7}},
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": NUMBER},
                            "statuses": [
                                7,
                                {"id": ["x"], "status": {"a": 1}},
                                status_item(first["wamid"], "delivered", T0) | {"errors": 5, "pricing": "x"},
                                status_item(second["wamid"], "read", T0) | {"biz_opaque_callback_data": 12},
                            ],
                        },
                    },
                ]
            },
        ],
    }
    r = await post_signed(any_env.client, body)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "received"
    assert (await any_env.message(first["id"]))["status"] == "delivered"
    assert (await any_env.message(second["id"]))["status"] == "read"
    outcomes = sorted(x["outcome"] for x in await rows(any_env, "webhook_statuses"))
    assert outcomes == ["applied", "applied", "invalid", "unknown_message"]
    event = (await rows(any_env, "webhook_events"))[0]
    assert event["processed_at"] is not None
    assert event["last_error"].startswith("invalid")  # what was skipped, for whoever reads the log


async def test_one_failing_status_does_not_fail_the_event(make_env: EnvFactory, database_url: str) -> None:
    """A status whose processing raises (here: an absurd rate on the operator's rate card, which cannot be priced)
    is recorded ``invalid`` on its own; before, the whole event failed, every status in it, retried 20 times."""
    env = await make_env(database_url, whatsapp_rate_card='{"ES": {"utility": "0.015", "marketing": "1e30"}}')
    a, b, c = await sent_messages(env, 3)
    marketing = {**UTILITY, "category": "marketing"}
    items = [
        status_item(a["wamid"], "delivered", T0, pricing=UTILITY),
        status_item(b["wamid"], "delivered", T0, pricing=marketing),
        status_item(c["wamid"], "read", T0, pricing=UTILITY),
    ]
    r = await post_signed(env.client, statuses_body(NUMBER, items))
    assert r.status_code == 200, r.text
    assert (await env.message(a["id"]))["status"] == "delivered"
    assert (await env.message(b["id"]))["status"] == "sent"  # its item failed alone, nothing of it written
    assert (await env.message(c["id"]))["status"] == "read"
    statuses = await rows(env, "webhook_statuses")
    assert [(s["wamid"], s["outcome"]) for s in statuses] == [
        (a["wamid"], "applied"),
        (b["wamid"], "invalid"),
        (c["wamid"], "applied"),
    ]
    event = (await rows(env, "webhook_events"))[0]
    assert event["processed_at"] is not None and event["process_attempts"] == 1
    assert "InvalidOperation" in event["last_error"]


# ---------------------------------------------------------------- every value fits its column


async def test_over_long_status_values_fit_their_columns(any_env: Env) -> None:
    """Pricing category > 48, error code > 32, wamid > 256, number id > 64 failed the whole event on PostgreSQL."""
    first, second = await sent_messages(any_env, 2)
    long_pricing = {**UTILITY, "category": "utility" + "x" * 100, "type": "regular" + "y" * 100}
    failed = status_item(second["wamid"], "failed", T0, error_code=131026)
    failed["errors"][0]["code"] = "9" * 80
    body = statuses_body(
        NUMBER,
        [
            status_item(first["wamid"], "delivered", T0, pricing=long_pricing),
            failed,
            status_item("wamid." + "w" * 400, "sent", T0),
            status_item("wamid.nul\x00\ud800", "sent", T0),
        ],
    )
    r = await post_signed(any_env.client, body)
    assert r.status_code == 200, r.text
    long_number = statuses_body("9" * 100, [status_item("wamid.other", "sent", T0)])
    assert (await post_signed(any_env.client, long_number)).status_code == 200
    m1, m2 = await any_env.message(first["id"]), await any_env.message(second["id"])
    assert m1["status"] == "delivered"
    assert m2["status"] == "failed"
    by_wamid = {r["wamid"]: r for r in await rows(any_env, "whatsapp_messages")}
    assert len(by_wamid[first["wamid"]]["pricing_category"]) == column_length(whatsapp_messages, "pricing_category")
    assert len(by_wamid[second["wamid"]]["error_code"]) == column_length(whatsapp_messages, "error_code")
    statuses = await rows(any_env, "webhook_statuses")
    assert [s["outcome"] for s in statuses] == [
        "applied",
        "applied",
        "unknown_message",
        "unknown_message",
        "unknown_message",
    ]
    assert max(len(s["wamid"]) for s in statuses) == column_length(webhook_statuses, "wamid")
    assert all("\x00" not in s["wamid"] for s in statuses)
    assert len(statuses[-1]["phone_number_id"]) == column_length(webhook_statuses, "phone_number_id")
    assert all(e["processed_at"] is not None and e["last_error"] is None for e in await rows(any_env, "webhook_events"))


async def test_over_long_template_values_fit_their_columns(any_env: Env) -> None:
    """Template category > 32 and reason > 128 failed the whole template event on PostgreSQL."""
    body = envelope(
        "message_template_status_update",
        {
            "event": "REJECTED" + "Z" * 50,
            "message_template_id": "1" * 100,
            "message_template_name": "po_notification",
            "message_template_language": "es" + "_" * 40,
            "reason": "INVALID_FORMAT " + "r" * 300,
            "message_template_category": "UTILITY" + "c" * 60,
        },
    )
    r = await post_signed(any_env.client, body)
    assert r.status_code == 200, r.text
    (template,) = await rows(any_env, "message_templates")
    for column in ("status", "category", "reason", "template_id", "language"):
        assert len(template[column]) <= column_length(message_templates, column), column
    assert len(template["reason"]) == column_length(message_templates, "reason")
    assert template["status"].startswith("REJECTED")
    event = (await rows(any_env, "webhook_events"))[0]
    assert event["processed_at"] is not None and event["last_error"] is None


async def test_over_long_quality_values_fit_their_columns(any_env: Env) -> None:
    body = envelope(
        "phone_number_quality_update",
        {
            "phone_number_id": NUMBER,
            "display_phone_number": "3" * 80,
            "event": "DOWNGRADE" + "e" * 100,
            "current_limit": "TIER_" + "9" * 60,
            "quality_rating": "RED" + "d" * 30,
            "status": "CONNECTED" + "s" * 50,
        },
    )
    r = await post_signed(any_env.client, body)
    assert r.status_code == 200, r.text
    (number,) = await rows(any_env, "phone_numbers")
    # the Graph read right after the webhook (the sync's follow-up) may overwrite the rating, tier and status
    for column in ("display_phone_number", "last_event", "messaging_limit_tier", "quality_rating", "status"):
        assert len(number[column]) <= column_length(phone_numbers, column), column
    assert len(number["last_event"]) == column_length(phone_numbers, "last_event")
    event = (await rows(any_env, "webhook_events"))[0]
    assert event["processed_at"] is not None and event["last_error"] is None
