"""The sandbox's pricing: the ``pricing`` of its status webhooks by the send date (Meta's 2026-10-01 change), and
``GET /<WABA_ID>?fields=pricing_analytics…`` served from what it delivered."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import httpx
import pytest

from wa_sandbox.pricing import pricing_for

from .conftest import AUTH, CUSTOMER, PNID, WABA_ID, Receiver, template_body, wait_until

Hooked = tuple[httpx.AsyncClient, Receiver]
BEFORE, AFTER = date(2026, 9, 30), date(2026, 10, 1)


@pytest.mark.parametrize("category", ["marketing", "utility", "authentication", "service"])
@pytest.mark.parametrize("in_window", [False, True])
@pytest.mark.parametrize("entry_point", [False, True])
@pytest.mark.parametrize("sent_on", [BEFORE, AFTER], ids=["2026-09-30", "2026-10-01"])
def test_pricing_rule_by_send_date(category: str, in_window: bool, entry_point: bool, sent_on: date) -> None:
    pricing = pricing_for(category, in_window=in_window, entry_point=entry_point, sent_on=sent_on)
    if entry_point:
        expected = "free_entry_point"
    elif in_window and category in ("utility", "service") and sent_on < AFTER:
        expected = "free_customer_service"
    else:
        expected = "regular"  # from 2026-10-01 utility and service inside the window are charged
    assert pricing == {
        "billable": expected == "regular",
        "pricing_model": "PMP",
        "type": expected,
        "category": category,
    }


async def _send_and_pricing(client: httpx.AsyncClient, receiver: Receiver, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/v23.0/{PNID}/messages", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    wamid = r.json()["messages"][0]["id"]
    await wait_until(lambda: _has(receiver, wamid, "read"))
    sent = next(
        item.json["entry"][0]["changes"][0]["value"]["statuses"][0]
        for item in receiver.received
        if item.json["entry"][0]["changes"][0]["value"].get("statuses", [{}])[0].get("id") == wamid
    )
    pricing: dict[str, Any] = sent["pricing"]
    return pricing


async def _has(receiver: Receiver, wamid: str, status: str) -> bool:
    return status in receiver.statuses(wamid)


async def test_utility_in_window_by_send_date_over_http(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post("/_sandbox/inbound", json={"from": CUSTOMER, "phone_number_id": PNID, "text": "hola"})
    r = await client.put("/_sandbox/pricing", json={"send_date": "2026-09-30"})
    assert r.json()["effective_send_date"] == "2026-09-30"
    before = await _send_and_pricing(client, receiver, template_body())
    assert before == {"billable": False, "pricing_model": "PMP", "type": "free_customer_service", "category": "utility"}
    await client.put("/_sandbox/pricing", json={"send_date": "2026-10-01"})
    after = await _send_and_pricing(client, receiver, template_body())
    assert after == {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    text = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "¿a qué hora?"}}
    assert (await _send_and_pricing(client, receiver, text))["type"] == "regular"  # service: charged too
    await client.put("/_sandbox/pricing", json={"send_date": None})
    assert (await client.get("/_sandbox/pricing")).json()["send_date"] is None


async def test_free_entry_point(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.post(
        "/_sandbox/inbound", json={"from": CUSTOMER, "phone_number_id": PNID, "text": "ad", "entry_point": True}
    )
    body = template_body(name="po_notification")
    assert (await _send_and_pricing(client, receiver, body))["type"] == "free_entry_point"


async def _analytics(client: httpx.AsyncClient, fields: str) -> httpx.Response:
    return await client.get(f"/v23.0/{WABA_ID}", params={"fields": fields}, headers=AUTH)


async def test_pricing_analytics_from_delivered_records(hooked: Hooked) -> None:
    client, receiver = hooked
    await client.put("/_sandbox/pricing", json={"rates": {"ES": {"utility": "0.0172"}, "*": {"utility": "0.03"}}})
    await _send_and_pricing(client, receiver, template_body())  # charged (no window)
    await _send_and_pricing(client, receiver, template_body(to="+447400123456"))  # GB: the "*" rate
    await client.post("/_sandbox/knobs", json={"knobs": {"fail_code": 131026}})
    r = await client.post(f"/v23.0/{PNID}/messages", json=template_body(), headers=AUTH)  # failed: not delivered
    assert r.status_code == 200
    await client.delete("/_sandbox/knobs")
    now = int(time.time())
    start = now - now % 86400
    fields = (
        f"pricing_analytics.start({start}).end({start + 86400}).granularity(DAILY)"
        '.metric_types(["VOLUME","COST"]).dimensions(["PHONE","COUNTRY","PRICING_CATEGORY","PRICING_TYPE"])'
    )
    r = await _analytics(client, fields)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == WABA_ID
    points = sorted(body["pricing_analytics"]["data"][0]["data_points"], key=lambda p: p["country"])
    assert points == [
        {"start": start, "end": start + 86400, "phone_number": "34612345678", "country": "ES",
         "pricing_category": "UTILITY", "pricing_type": "REGULAR", "volume": 1, "cost": 0.0172},
        {"start": start, "end": start + 86400, "phone_number": "34612345678", "country": "GB",
         "pricing_category": "UTILITY", "pricing_type": "REGULAR", "volume": 1, "cost": 0.03},
    ]  # fmt: skip
    # no dimensions: one point for the day; another number: nothing
    total = (
        await _analytics(client, f"pricing_analytics.start({start}).end({start + 86400}).granularity(DAILY)")
    ).json()
    assert [(p["volume"], p["cost"]) for p in total["pricing_analytics"]["data"][0]["data_points"]] == [(2, 0.0472)]
    other = await _analytics(
        client,
        f'pricing_analytics.start({start}).end({start + 86400}).granularity(MONTHLY).phone_numbers(["34612345679"])',
    )
    assert other.json()["pricing_analytics"]["data"][0]["data_points"] == []


@pytest.mark.parametrize(("fields", "message"), [
    ("pricing_analytics.end(2).granularity(DAILY)", "needs start and end"),
    ("pricing_analytics.start(1).end(2).granularity(WEEKLY)", "granularity must be one of"),
    ("pricing_analytics.start(5).end(2).granularity(DAILY)", "end must be after start"),
    ("pricing_analytics.start(1).end(2).granularity(DAILY).dimensions([\"COLOUR\"])", "unknown dimension"),
])  # fmt: skip
async def test_pricing_analytics_bad_requests(client: httpx.AsyncClient, fields: str, message: str) -> None:
    r = await _analytics(client, fields)
    assert r.status_code == 400 and message in r.json()["error"]["message"]


async def test_pricing_rules_need_a_valid_date(client: httpx.AsyncClient) -> None:
    r = await client.put("/_sandbox/pricing", json={"send_date": "30/09/2026"})
    assert r.status_code == 422
