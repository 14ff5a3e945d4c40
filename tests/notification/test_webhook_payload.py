"""Signed webhooks of odd shape (issue 13 item 9): stored first, checked defensively, applied item by item.

Every test posts properly signed bodies through HTTP, on a real SQLite file and a real PostgreSQL database.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notification_service.domain.webhook_payload import (
    MAX_DEPTH,
    USER_ID_LENGTH,
    change_fields,
    changes,
    fit_status_item,
    inbound_sender,
    parse_body,
)
from notification_service.models import message_templates, phone_numbers, webhook_statuses, whatsapp_messages

from .conftest import Env, EnvFactory
from .webhook_helpers import (
    UTILITY,
    envelope,
    post_applied,
    post_signed,
    raw_json,
    rows,
    sent_messages,
    status_item,
    statuses_body,
    wait_applied,
)

NUMBER = "200000000000001"
T0 = 1_780_000_000


@pytest.fixture
async def fuzz_env(make_env: EnvFactory, database_url: str) -> Env:
    """One app and database for every example, with a message the fuzzed statuses can hit (``wamid.TEST000000``)."""
    env = await make_env(database_url, whatsapp_webhook_burst=100_000, whatsapp_webhook_rate_per_second=10_000.0)
    await sent_messages(env, 1)
    return env


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
        await wait_applied(any_env, r.json()["event_id"])  # marked at once, or by the applier (items of an entry)
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
    r = await post_applied(any_env, body)
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
    r = await post_applied(env, statuses_body(NUMBER, items))
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
    r = await post_applied(any_env, body)
    assert r.status_code == 200, r.text
    long_number = statuses_body("9" * 100, [status_item("wamid.other", "sent", T0)])
    assert (await post_applied(any_env, long_number)).status_code == 200
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
    r = await post_applied(any_env, body)
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
    r = await post_applied(any_env, body)
    assert r.status_code == 200, r.text
    (number,) = await rows(any_env, "phone_numbers")
    # the Graph read right after the webhook (the sync's follow-up) may overwrite the rating, tier and status
    for column in ("display_phone_number", "last_event", "messaging_limit_tier", "quality_rating", "status"):
        assert len(number[column]) <= column_length(phone_numbers, column), column
    assert len(number["last_event"]) == column_length(phone_numbers, "last_event")
    event = (await rows(any_env, "webhook_events"))[0]
    assert event["processed_at"] is not None and event["last_error"] is None


# ---------------------------------------------------------------- property: no signed body gets a 5xx

_JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.integers(min_value=10**300, max_value=10**301)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec="utf-8") | st.sampled_from(["\x00", "\x1f", "\u2028", "\ud800", "\ufeff"]))
    | st.text(min_size=100, max_size=600)
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _or_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right shape most of the time, any JSON value (a wrong type at this level) otherwise."""
    return st.one_of(strategy, strategy, _JSON)


_TEXT = _or_junk(st.text(max_size=20) | st.text(min_size=40, max_size=400))
_ITEM = _or_junk(
    st.fixed_dictionaries(
        {
            "id": _or_junk(st.sampled_from(["wamid.TEST000000", "wamid.X"]) | st.text(max_size=300)),
            "status": _or_junk(st.sampled_from(["sent", "delivered", "read", "failed", "played", "SENT"])),
            "timestamp": _or_junk(st.integers(min_value=-(10**20), max_value=10**20).map(str)),
            "recipient_id": _TEXT,
        },
        optional={
            "biz_opaque_callback_data": _or_junk(st.just("notification:") | st.text(max_size=50)),
            "pricing": _or_junk(st.fixed_dictionaries({"category": _TEXT, "type": _TEXT, "billable": _JSON})),
            "errors": _or_junk(
                st.lists(
                    _or_junk(
                        st.fixed_dictionaries(
                            {
                                "code": _JSON,
                                "title": _TEXT,
                                "error_data": _or_junk(st.fixed_dictionaries({"details": _TEXT})),
                            }
                        )
                    ),
                    max_size=2,
                )
            ),
        },
    )
)
_MESSAGES_VALUE = st.fixed_dictionaries(
    {
        "metadata": _or_junk(
            st.fixed_dictionaries({"phone_number_id": _or_junk(st.just(NUMBER) | st.text(max_size=90))})
        ),
        "statuses": _or_junk(st.lists(_ITEM, max_size=4)),
    },
    optional={"errors": _JSON, "messages": _JSON},
)
_OTHER_VALUE = st.dictionaries(
    st.sampled_from(
        [
            "phone_number_id",
            "display_phone_number",
            "event",
            "current_limit",
            "max_daily_conversations_per_business",
            "quality_rating",
            "status",
            "ban_info",
            "restriction_info",
            "phone_number",
            "message_template_name",
            "message_template_language",
            "message_template_id",
            "message_template_category",
            "reason",
        ]
    ),
    _or_junk(st.sampled_from(["PAUSED", "APPROVED", "RED", "ACCOUNT_RESTRICTION", "DISABLED_UPDATE", NUMBER, "es"]))
    | _TEXT,
    max_size=8,
)
_CHANGE = _or_junk(
    st.one_of(
        st.fixed_dictionaries({"field": st.just("messages"), "value": _or_junk(_MESSAGES_VALUE)}),
        st.fixed_dictionaries(
            {
                "field": _or_junk(
                    st.sampled_from(
                        ["phone_number_quality_update", "account_update", "message_template_status_update", "other"]
                    )
                ),
                "value": _or_junk(_OTHER_VALUE),
            }
        ),
    )
)
_BODY = _or_junk(
    st.fixed_dictionaries(
        {
            "object": _or_junk(st.just("whatsapp_business_account")),
            "entry": _or_junk(
                st.lists(
                    _or_junk(st.fixed_dictionaries({"id": _TEXT, "changes": _or_junk(st.lists(_CHANGE, max_size=3))})),
                    max_size=2,
                )
            ),
        }
    )
)


def _encode(body: Any, ascii_only: bool) -> bytes:
    text = json.dumps(body, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


_RAW = st.one_of(
    st.tuples(_BODY, st.booleans()).map(lambda pair: _encode(*pair)),
    st.tuples(_BODY, st.booleans()).map(lambda pair: _encode(*pair)),
    st.tuples(_JSON, st.booleans()).map(lambda pair: _encode(*pair)),
    st.integers(min_value=1, max_value=6000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: b'{"entry":' * n + b"[]" + b"}" * n),
    st.binary(max_size=300),
)


async def _fuzz(env: Env, raw: bytes) -> None:
    r = await post_signed(env.client, raw)
    assert r.status_code == 200, (r.status_code, r.text, raw[:300])
    assert r.json()["status"] in ("received", "invalid")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=_RAW)
def test_the_request_paths_fields_are_those_of_the_changes_applied(raw: bytes) -> None:
    """``change_fields`` (the request path: ``webhook_events.fields`` and the received metric) checks the shape
    without building the changes: the same fields, in the same order, as the changes the applier goes through."""
    parsed = parse_body(raw)
    expected = [] if parsed.problem is not None else [c.field or "unknown" for c in changes(parsed.payload, [])]
    assert change_fields(parsed) == expected


def test_the_fields_of_odd_envelopes() -> None:
    body = {
        "entry": [
            5,
            {"changes": "no"},
            {"id": "1", "changes": [7, {"field": "messages"}, {"field": "x" * 80, "value": {}}]},
            {"changes": [{"value": {}}, {"field": 12, "value": {}}, {"field": "messages", "value": {"a": 1}}]},
        ]
    }
    assert change_fields(parse_body(json.dumps(body).encode())) == ["x" * 64, "unknown", "12", "messages"]
    assert change_fields(parse_body(b"[1]")) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=_RAW)
async def test_fuzz_signed_bodies_never_5xx_sqlite(fuzz_env: Env, raw: bytes) -> None:
    await _fuzz(fuzz_env, raw)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=_RAW)
async def test_fuzz_signed_bodies_never_5xx_postgres(fuzz_env: Env, raw: bytes) -> None:
    await _fuzz(fuzz_env, raw)


async def test_a_paused_template_with_a_long_name_is_held(any_env: Env) -> None:
    """Template names go up to 512 characters; the hold key ``<name>:<language>`` did not fit ``scope_key``
    (64) on PostgreSQL, so a PAUSED template with a long name could not be held (migration 0003 widens it)."""
    name = "po_" + "n" * 400
    body = envelope(
        "message_template_status_update",
        {
            "event": "PAUSED",
            "message_template_id": "123",
            "message_template_name": name,
            "message_template_language": "es",
            "reason": "NONE",
        },
    )
    r = await post_applied(any_env, body)
    assert r.status_code == 200, r.text
    event = (await rows(any_env, "webhook_events"))[0]
    assert event["last_error"] is None
    holds = await rows(any_env, "sending_holds")
    assert [h["scope_key"] for h in holds] == [f"{name}:es"]


def test_depth_limit_at_its_edge_and_brackets_inside_strings() -> None:
    """``parse_body`` walks the document only when it has more opening brackets than the depth limit: the limit
    still holds at its edge, and brackets inside strings (which only raise the count) do not make a shallow
    document too deep."""

    def nested(depth: int) -> bytes:
        return b'{"entry":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    assert parse_body(nested(MAX_DEPTH)).problem is None
    assert parse_body(nested(MAX_DEPTH + 1)).problem == f"the body is nested deeper than {MAX_DEPTH} levels"
    shallow = b'{"entry": [], "note": "' + b"{[" * 200 + b'"}'
    assert parse_body(shallow).problem is None
    utf16 = nested(MAX_DEPTH + 1).decode().encode("utf-16")  # json.loads reads UTF-16 bytes too
    assert parse_body(utf16).problem == f"the body is nested deeper than {MAX_DEPTH} levels"


def test_user_ids_are_read_when_present_and_never_required() -> None:
    """Meta page "Business-scoped user IDs" (2026): a status's ``recipient_user_id`` and an inbound message's
    ``from``/``from_user_id`` are each optional; values of the wrong type are dropped, long ones cut."""
    assert (
        fit_status_item({"id": "wamid.A", "status": "sent", "recipient_user_id": "ES.1"})["recipient_user_id"] == "ES.1"
    )
    assert "recipient_user_id" not in fit_status_item({"id": "wamid.A", "status": "failed"})
    assert "recipient_user_id" not in fit_status_item({"id": "wamid.A", "status": "sent", "recipient_user_id": ["x"]})
    long = fit_status_item({"id": "wamid.A", "status": "sent", "recipient_user_id": "US." + "9" * 500})
    assert len(long["recipient_user_id"]) == USER_ID_LENGTH
    assert inbound_sender({"from": "34611222333", "from_user_id": "ES.1"}) == ("34611222333", "ES.1")
    assert inbound_sender({"from_user_id": "ES.1", "id": "wamid.B"}) == (None, "ES.1")
    assert inbound_sender("not an object") == (None, None)
