"""GET /api/v1/messages(/{id}), the test-message endpoint, health; tenant isolation on every route."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from .conftest import Env, EnvFactory
from .helpers import po_event, token
from .webhook_helpers import post_applied, status_item, statuses_body


async def _two_tenants(env: Env) -> tuple[uuid.UUID, uuid.UUID, list[str], list[str]]:
    a = env.tenants.add()
    b = env.tenants.add(phone_number_id="200000000000002")
    ids_a = [(await env.post_event(po_event(a))).json()["notification_id"] for _ in range(3)]
    ids_b = [(await env.post_event(po_event(b))).json()["notification_id"] for _ in range(2)]
    return a, b, ids_a, ids_b


async def test_admin_lists_everything_with_filters_and_cursor(any_env: Env) -> None:
    env = any_env
    a, b, ids_a, ids_b = await _two_tenants(env)
    admin = token(env.settings, "admin")
    everything = (await env.client.get("/api/v1/messages", headers=admin)).json()
    assert {m["id"] for m in everything["items"]} == set(ids_a + ids_b)
    assert everything["next_cursor"] is None
    only_b = (await env.client.get(f"/api/v1/messages?tenant_id={b}", headers=admin)).json()
    assert {m["id"] for m in only_b["items"]} == set(ids_b)
    queued = (await env.client.get("/api/v1/messages?status=queued", headers=admin)).json()
    assert len(queued["items"]) == 5
    assert (await env.client.get("/api/v1/messages?status=sent", headers=admin)).json()["items"] == []
    bad_status = await env.client.get("/api/v1/messages?status=bogus", headers=admin)
    assert bad_status.status_code == 422
    # pages of two, newest first, no overlap
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        url = "/api/v1/messages?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await env.client.get(url, headers=admin)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids_a + ids_b) and len(seen) == 5
    bad_cursor = await env.client.get("/api/v1/messages?cursor=%%%", headers=admin)
    assert bad_cursor.status_code == 422
    future = (await env.client.get("/api/v1/messages?since=2999-01-01T00:00:00Z", headers=admin)).json()
    assert future["items"] == []
    past = (await env.client.get("/api/v1/messages?until=2000-01-01T00:00:00Z", headers=admin)).json()
    assert past["items"] == []


async def test_messages_name_the_supplier_and_the_purchase_order(any_env: Env) -> None:
    """Issue 17: the lists show who and which PO, not only a phone number; for the owner and the admin alike."""
    env = any_env
    tenant = env.tenants.add()
    event = po_event(tenant, purchase_order={"number": "PO-2026-0777"}, supplier={"name": "Molinos Íñigo"})
    nid = (await env.post_event(event)).json()["notification_id"]
    for headers in (token(env.settings, "owner", tenant), token(env.settings, "admin")):
        [listed] = (await env.client.get("/api/v1/messages", headers=headers)).json()["items"]
        detail = (await env.client.get(f"/api/v1/messages/{nid}", headers=headers)).json()
        for message in (listed, detail):
            assert message["supplier_name"] == "Molinos Íñigo"
            assert message["purchase_order_number"] == "PO-2026-0777"
            assert "template_values" not in message


async def test_owner_sees_only_its_own_tenant(env: Env) -> None:
    a, b, ids_a, ids_b = await _two_tenants(env)
    owner_a = token(env.settings, "owner", a)
    mine = (await env.client.get("/api/v1/messages", headers=owner_a)).json()
    assert {m["id"] for m in mine["items"]} == set(ids_a)
    forbidden = await env.client.get(f"/api/v1/messages?tenant_id={b}", headers=owner_a)
    assert forbidden.status_code == 403
    assert all(i not in forbidden.text for i in ids_b)
    other = await env.client.get(f"/api/v1/messages/{ids_b[0]}", headers=owner_a)
    assert other.status_code == 404
    assert other.json() == {"detail": "No such message", "code": "not_found"}
    own = await env.client.get(f"/api/v1/messages/{ids_a[0]}", headers=owner_a)
    assert own.status_code == 200 and own.json()["tenant_id"] == str(a)


async def test_message_routes_need_admin_or_owner(env: Env) -> None:
    a, _, ids_a, _ = await _two_tenants(env)
    assert (await env.client.get("/api/v1/messages")).status_code == 401
    assert (await env.client.get(f"/api/v1/messages/{ids_a[0]}")).status_code == 401
    service = token(env.settings, "service")
    assert (await env.client.get("/api/v1/messages", headers=service)).status_code == 403
    assert (await env.client.get(f"/api/v1/messages/{ids_a[0]}", headers=service)).status_code == 403
    admin = token(env.settings, "admin")
    assert (await env.client.get(f"/api/v1/messages/{uuid.uuid4()}", headers=admin)).status_code == 404


async def test_detail_includes_attempts(env: Env) -> None:
    tenant = env.tenants.add()
    nid = (await env.post_event(po_event(tenant))).json()["notification_id"]
    await env.dispatcher().drain()
    detail = await env.message(nid)
    assert detail["status"] == "sent"
    assert len(detail["attempt_log"]) == 1
    assert detail["attempt_log"][0]["phone_number_id"] == "200000000000001"


async def test_test_message_goes_through_the_queue(env: Env) -> None:
    tenant = env.tenants.add(whatsapp_enabled=False, default_language="en")
    owner = token(env.settings, "owner", tenant)
    url = f"/api/v1/tenants/{tenant}/whatsapp/test-message"
    response = await env.client.post(url, json={"to": "612 345 678"}, headers=owner)
    assert response.status_code == 202, response.text
    nid = response.json()["notification_id"]
    assert env.graph.sends == []  # queued, not sent from the request
    await env.dispatcher().drain()
    message = await env.message(nid)
    assert message["status"] == "sent"
    assert message["kind"] == "test"
    assert message["event_id"] is None
    [send] = env.graph.sends
    assert send["phone_number_id"] == "200000000000001"
    assert send["payload"]["to"] == "+34612345678"
    params = [p["text"] for p in send["payload"]["template"]["components"][0]["parameters"]]
    assert params == ["Proveedor de prueba", "PO-TEST-0001", "€125.50"]
    assert message["supplier_name"] is None and message["purchase_order_number"] is None  # samples, not a supplier


async def test_test_message_rules(env: Env) -> None:
    tenant = env.tenants.add()
    no_number = env.tenants.add(phone_number_id="")
    admin = token(env.settings, "admin")
    r = await env.client.post(
        f"/api/v1/tenants/{no_number}/whatsapp/test-message", json={"to": "+34612345678"}, headers=admin
    )
    assert r.status_code == 409 and r.json()["code"] == "no_phone_number"
    other_owner = token(env.settings, "owner", no_number)
    r = await env.client.post(
        f"/api/v1/tenants/{tenant}/whatsapp/test-message", json={"to": "+34612345678"}, headers=other_owner
    )
    assert r.status_code == 403
    r = await env.client.post(f"/api/v1/tenants/{tenant}/whatsapp/test-message", json={"to": "+34612345678"})
    assert r.status_code == 401
    r = await env.client.post(f"/api/v1/tenants/{tenant}/whatsapp/test-message", json={"to": "garbage"}, headers=admin)
    assert r.status_code == 422 and "body.to" in r.json()["detail"]
    r = await env.client.post(
        f"/api/v1/tenants/{uuid.uuid4()}/whatsapp/test-message", json={"to": "+34612345678"}, headers=admin
    )
    assert r.status_code == 404
    fresh = env.tenants.add()
    env.tenants.down = True
    r = await env.client.post(
        f"/api/v1/tenants/{fresh}/whatsapp/test-message", json={"to": "+34612345678"}, headers=admin
    )
    assert r.status_code == 503


async def test_test_message_needs_the_master_account(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, whatsapp_access_token="")
    tenant = env.tenants.add()
    r = await env.client.post(
        f"/api/v1/tenants/{tenant}/whatsapp/test-message",
        json={"to": "+34612345678"},
        headers=token(env.settings, "admin"),
    )
    assert r.status_code == 503
    assert "WhatsApp master account not configured" in r.json()["detail"]


async def test_health(env: Env) -> None:
    live = await env.client.get("/health/live")
    assert live.status_code == 200
    tenant = env.tenants.add()
    await env.post_event(po_event(tenant))
    ready = await env.ready()
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["whatsapp_master_account"] == {"ok": True, "missing": []}
    assert body["checks"]["queue"]["depth"] == 1
    assert body["checks"]["queue"]["oldest_age_seconds"] >= 0


async def test_test_messages_have_an_hourly_quota_per_tenant(make_env: EnvFactory, database_url: str) -> None:
    """Issue 12: an owner could queue thousands of test messages; now at most N an hour, then 429 + Retry-After.
    Concurrent requests count one by one (the tenant's quota row is locked), and other bakeries are unaffected."""
    env = await make_env(database_url, test_messages_per_tenant_per_hour=3)
    tenant = env.tenants.add()
    other = env.tenants.add(phone_number_id="200000000000002")
    owner = token(env.settings, "owner", tenant)
    url = f"/api/v1/tenants/{tenant}/whatsapp/test-message"
    answers = await asyncio.gather(
        *(env.client.post(url, json={"to": f"+3461234567{i}"}, headers=owner) for i in range(8))
    )
    assert sorted(r.status_code for r in answers) == [202] * 3 + [429] * 5
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["code"] == "test_message_quota"
    assert "try again in" in refused.json()["detail"]
    assert 3000 < int(refused.headers["Retry-After"]) <= 3601
    r = await env.client.post(
        f"/api/v1/tenants/{other}/whatsapp/test-message",
        json={"to": "+34612345678"},
        headers=token(env.settings, "owner", other),
    )
    assert r.status_code == 202


async def test_list_parameters_and_path_ids_are_bounded(any_env) -> None:
    """Every list parameter is bounded (422 naming it, never a 500), and a NUL in a path id is a 422 rather than
    a PostgreSQL error."""
    env = any_env
    admin = token(env.settings, "admin")
    for query, name in (
        ("limit=9223372036854775808", "limit"),
        ("limit=0", "limit"),
        ("cursor=" + "A" * 257, "cursor"),
    ):
        r = await env.client.get(f"/api/v1/messages?{query}", headers=admin)
        assert r.status_code == 422, (query, r.text)
        assert r.json()["fields"] == [f"query.{name}"]
    r = await env.client.post("/api/v1/admin/whatsapp/holds/2000%00/release", headers=admin)
    assert r.status_code == 422 and r.json()["fields"] == ["path.phone_number_id"], r.text
    r = await env.client.post("/api/v1/admin/whatsapp/holds/account/release", headers=admin)
    assert r.status_code == 404 and r.json()["code"] == "no_hold"


# ---------------------------------------------------------------- business-scoped user IDs (Meta, 2026)
USER_ID = "ES.13491208655302741918"


async def _sent_to(env: Env, tenant: uuid.UUID) -> dict[str, Any]:
    accepted = await env.post_event(po_event(tenant, supplier={"phone": "+34 611 222 333"}))
    assert accepted.status_code == 202, accepted.text
    await env.dispatcher().drain()
    message = await env.message(accepted.json()["notification_id"])
    assert message["status"] == "sent", message
    return message


NUMBER = "200000000000001"
T0 = 1_780_000_000


async def test_an_owner_never_sees_the_portfolio_wide_user_id(any_env: Env) -> None:
    """One supplier has one BSUID across every bakery of the portfolio: two bakeries' messages to it carry the
    same ID, the admin sees it, and neither owner can find it (so not the other bakery's messages through it)."""
    a = any_env.tenants.add(phone_number_id=NUMBER, name="Panadería A")
    b = any_env.tenants.add(phone_number_id="200000000000002", name="Panadería B")
    for tenant, number in ((a, NUMBER), (b, "200000000000002")):
        m = await _sent_to(any_env, tenant)
        await post_applied(any_env, statuses_body(number, [status_item(m["wamid"], "delivered", T0, user_id=USER_ID)]))
        assert (await any_env.message(m["id"]))["recipient_user_id"] == USER_ID  # admin

    admin = await any_env.client.get("/api/v1/messages", headers=token(any_env.settings, "admin"))
    assert {m["recipient_user_id"] for m in admin.json()["items"]} == {USER_ID}
    for tenant in (a, b):
        owner = token(any_env.settings, "owner", tenant)
        listed = await any_env.client.get("/api/v1/messages", headers=owner)
        assert listed.status_code == 200 and len(listed.json()["items"]) == 1
        assert USER_ID not in listed.text
        assert all(item["recipient_user_id"] is None for item in listed.json()["items"])
        detail = await any_env.client.get(f"/api/v1/messages/{listed.json()['items'][0]['id']}", headers=owner)
        assert detail.status_code == 200 and USER_ID not in detail.text
    # and the ID is no way into the other bakery's messages: the list takes no such filter, only the owner's tenant
    owner_b = token(any_env.settings, "owner", b)
    probing = await any_env.client.get(
        "/api/v1/messages", params={"recipient_user_id": USER_ID, "tenant_id": str(a)}, headers=owner_b
    )
    assert probing.status_code == 403 and USER_ID not in probing.text
    probing = await any_env.client.get("/api/v1/messages", params={"recipient_user_id": USER_ID}, headers=owner_b)
    assert {m["tenant_id"] for m in probing.json()["items"]} == {str(b)} and USER_ID not in probing.text
