from __future__ import annotations

import uuid

import httpx

from bakery_shared.auth import Role, issue_token
from tests.tenant.conftest import GRAPH, VERSION, WABA, new_tenant


async def test_list_numbers_follows_paging_and_marks_assignment(client, tokens, graph):
    tid = await new_tenant(client, tokens, "Horno de Lola")
    r = await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
    assert r.status_code == 200
    numbers = r.json()
    assert isinstance(numbers, list) and len(numbers) == 5  # two Graph pages
    assert numbers[0]["quality_rating"] == "GREEN" and numbers[0]["messaging_limit"] == "TIER_2K"
    assert all(n["assigned_tenant_id"] is None for n in numbers)
    await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000003", "display_phone_number": "+34612345673"},
        headers=tokens.admin(),
    )
    numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())).json()
    by_id = {n["id"]: n for n in numbers}
    assert by_id["200000000000003"]["assigned_tenant_id"] == tid
    assert by_id["200000000000003"]["assigned_tenant_name"] == "Horno de Lola"
    sent = graph.calls.last.request
    assert sent.headers["authorization"] == "Bearer test-master-token"
    assert "quality_rating" in sent.url.params.get("fields", "") or "after" in str(sent.url)


async def test_seed_admin_flow_end_to_end(client, tokens):
    """List numbers → assign → second tenant asks for the same → 409 → unassign → reassign."""
    admin = tokens.admin()
    a = await new_tenant(client, tokens, "Panadería Sol")
    b = await new_tenant(client, tokens, "Pastelería Luna")
    numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=admin)).json()
    free = [n for n in numbers if n["assigned_tenant_id"] is None][0]

    body = {"phone_number_id": free["id"], "display_phone_number": free["display_phone_number"]}
    r = await client.post(f"/api/v1/admin/whatsapp/tenants/{a}/assign-phone", json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is True and r.json()["phone_number_id"] == free["id"]

    r = await client.post(f"/api/v1/admin/whatsapp/tenants/{a}/assign-phone", json=body, headers=admin)
    assert r.status_code == 200 and r.json()["changed"] is False  # idempotent

    r = await client.post(f"/api/v1/admin/whatsapp/tenants/{b}/assign-phone", json=body, headers=admin)
    assert r.status_code == 409
    assert r.json()["code"] == "phone_already_assigned"
    assert "already assigned to Panadería Sol" in r.json()["detail"]

    tenants = (await client.get("/api/v1/admin/whatsapp/tenants", headers=admin)).json()
    holder = [t for t in tenants if t["phone_number_id"] == free["id"]]  # the seed's jq select
    assert [t["tenant_id"] for t in holder] == [a]

    r = await client.delete(f"/api/v1/admin/whatsapp/tenants/{a}/unassign-phone", headers=admin)
    assert r.status_code == 200 and r.json()["changed"] is True
    assert r.json()["phone_number_id"] is None and r.json()["whatsapp_enabled"] is False
    r = await client.delete(f"/api/v1/admin/whatsapp/tenants/{a}/unassign-phone", headers=admin)
    assert r.status_code == 200 and r.json()["changed"] is False

    r = await client.post(f"/api/v1/admin/whatsapp/tenants/{b}/assign-phone", json=body, headers=admin)
    assert r.status_code == 200 and r.json()["tenant_id"] == b

    audit = (await client.get("/api/v1/admin/whatsapp/audit", headers=admin)).json()
    assert [(e["action"], e["tenant_id"]) for e in audit] == [("assign", b), ("unassign", a), ("assign", a)]
    assert audit[1]["old_phone_number_id"] == free["id"] and audit[1]["new_phone_number_id"] is None
    assert audit[0]["actor"] == "admin@test"


async def test_unassign_turns_whatsapp_off(client, tokens):
    tid = await new_tenant(client, tokens)
    await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000001"},
        headers=tokens.admin(),
    )
    r = await client.put(
        f"/api/v1/tenants/{tid}/settings/notifications", json={"whatsapp_enabled": True}, headers=tokens.owner(tid)
    )
    assert r.status_code == 200 and r.json()["whatsapp_enabled"] is True
    await client.delete(f"/api/v1/admin/whatsapp/tenants/{tid}/unassign-phone", headers=tokens.admin())
    s = (await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.owner(tid))).json()
    assert s["whatsapp_enabled"] is False and s["whatsapp_phone_number_id"] == ""


async def test_moving_a_tenant_frees_its_old_number(client, tokens):
    a = await new_tenant(client, tokens, "A")
    b = await new_tenant(client, tokens, "B")
    admin = tokens.admin()
    await client.post(
        f"/api/v1/admin/whatsapp/tenants/{a}/assign-phone", json={"phone_number_id": "200000000000001"}, headers=admin
    )
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{a}/assign-phone", json={"phone_number_id": "200000000000002"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["phone_number_id"] == "200000000000002"
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{b}/assign-phone", json={"phone_number_id": "200000000000001"}, headers=admin
    )
    assert r.status_code == 200, "the old number must be free again"
    audit = (await client.get(f"/api/v1/admin/whatsapp/audit?tenant_id={a}", headers=admin)).json()
    assert audit[0]["action"] == "reassign"
    assert (audit[0]["old_phone_number_id"], audit[0]["new_phone_number_id"]) == ("200000000000001", "200000000000002")


async def test_assign_validation(client, tokens):
    tid = await new_tenant(client, tokens)
    admin = tokens.admin()
    url = f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone"
    r = await client.post(url, json={"phone_number_id": "999999999999999"}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "unknown_phone_number"
    assert r.json()["detail"].startswith("phone_number_id")
    r = await client.post(
        url, json={"phone_number_id": "200000000000001", "display_phone_number": "+34 600 000 000"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["code"] == "display_number_mismatch"
    r = await client.post(url, json={"phone_number_id": "abc"}, headers=admin)
    assert r.status_code == 422 and "phone_number_id" in r.json()["detail"]
    r = await client.post(url, json={}, headers=admin)
    assert r.status_code == 422 and "phone_number_id: field required" in r.json()["detail"]
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{uuid.uuid4()}/assign-phone",
        json={"phone_number_id": "200000000000001"},
        headers=admin,
    )
    assert r.status_code == 404
    r = await client.delete(f"/api/v1/admin/whatsapp/tenants/{uuid.uuid4()}/unassign-phone", headers=admin)
    assert r.status_code == 404
    assert (await client.get("/api/v1/admin/whatsapp/audit", headers=admin)).json() == []


async def test_tenants_listing_paginates(client, tokens):
    for i in range(4):
        await new_tenant(client, tokens, f"T{i}")
    r = await client.get("/api/v1/admin/whatsapp/tenants?limit=2&offset=2", headers=tokens.admin())
    assert r.status_code == 200
    assert [t["tenant_name"] for t in r.json()] == ["T2", "T3"]
    assert r.headers["x-total-count"] == "4"
    assert set(r.json()[0]) >= {
        "tenant_id",
        "tenant_name",
        "whatsapp_enabled",
        "phone_number_id",
        "display_phone_number",
    }


async def test_expired_master_token_is_a_recognisable_502(sqlite_client, tokens, graph):
    graph.get(f"{GRAPH}/{VERSION}/{WABA}/phone_numbers").mock(
        return_value=httpx.Response(
            401,
            json={
                "error": {
                    "message": "Error validating access token: Session has expired on Monday, 09-Feb-26.",
                    "type": "OAuthException",
                    "code": 190,
                    "error_subcode": 463,
                    "fbtrace_id": "AbC",
                }
            },
        )
    )
    r = await sqlite_client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
    assert r.status_code == 502
    assert r.json()["code"] == "whatsapp_token_expired"
    assert "190" in r.json()["detail"] and "expired" in r.json()["detail"]
    assert "test-master-token" not in r.text


async def test_token_echoed_by_meta_is_not_in_the_502_or_the_logs(sqlite_client, tokens, graph, caplog):
    """Meta's code-190 message can echo the token: the tenant service's 502 relays Meta's text without it."""
    meta_shaped = "EAAGm0PX4ZCpsBAKZCabc123def456ghi789"
    graph.get(f"{GRAPH}/{VERSION}/{WABA}/phone_numbers").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "message": "Malformed access token test-master-token",
                    "type": "OAuthException",
                    "code": 190,
                    "error_data": {"details": f"or was it {meta_shaped}"},
                    "fbtrace_id": "AbC",
                }
            },
        )
    )
    with caplog.at_level("INFO"):
        r = await sqlite_client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
        assign = await sqlite_client.post(
            f"/api/v1/admin/whatsapp/tenants/{await new_tenant(sqlite_client, tokens)}/assign-phone",
            json={"phone_number_id": "200000000000001"},
            headers=tokens.admin(),
        )
    assert r.status_code == 502 and r.json()["code"] == "whatsapp_token_expired"
    assert "Malformed access token [REDACTED]" in r.json()["detail"]
    assert assign.status_code == 502
    for text in (r.text, assign.text, caplog.text):
        assert "test-master-token" not in text and meta_shaped not in text


async def test_other_graph_error_and_outage_are_502(sqlite_client, tokens, graph):
    route = graph.get(f"{GRAPH}/{VERSION}/{WABA}/phone_numbers")
    route.mock(
        return_value=httpx.Response(
            400, json={"error": {"message": "(#80007) Rate limit", "type": "OAuthException", "code": 80007}}
        )
    )
    r = await sqlite_client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
    assert r.status_code == 502 and "80007" in r.json()["detail"]
    route.mock(side_effect=httpx.ConnectError("refused"))
    r = await sqlite_client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
    assert r.status_code == 502 and r.json()["code"] == "whatsapp_graph_unavailable"


async def test_master_account_not_configured_is_503(sqlite_url, tokens, graph):
    import asyncio

    from tenant_service.migrate import upgrade
    from tests.tenant.conftest import _client, make_settings

    await asyncio.to_thread(upgrade, sqlite_url)
    settings = make_settings(sqlite_url, whatsapp_business_account_id="", whatsapp_access_token="")
    async for c in _client(settings):
        r = await c.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
        assert r.status_code == 503
        detail = r.json()["detail"]
        assert "WhatsApp master account not configured" in detail
        assert "WHATSAPP_BUSINESS_ACCOUNT_ID" in detail and "WHATSAPP_ACCESS_TOKEN" in detail
        ready = await c.get("/health/ready")
        assert ready.status_code == 200 and "not configured" in ready.json()["checks"]["whatsapp_master_account"]


async def test_admin_sub_longer_than_the_audit_columns_is_refused_not_a_500(client, tokens):
    """An admin token whose ``sub`` is longer than the audit columns (200) was a 500 on assign (PostgreSQL). Such
    a token is invalid (401, nothing written); a ``sub`` of the longest accepted length is stored whole."""
    tid = await new_tenant(client, tokens)

    def admin(sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(tokens.settings, role=Role.ADMIN, sub=sub)}"}

    url = f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone"
    for sub in ("a" * 300, "a" * 129, "adm\u0000in"):
        r = await client.post(url, json={"phone_number_id": "200000000000001"}, headers=admin(sub))
        assert r.status_code == 401 and r.json()["code"] == "invalid_token", r.text
        r = await client.delete(f"/api/v1/admin/whatsapp/tenants/{tid}/unassign-phone", headers=admin(sub))
        assert r.status_code == 401
    assert (await client.get("/api/v1/admin/whatsapp/audit", headers=tokens.admin())).json() == []
    longest = "c" * 128
    r = await client.post(url, json={"phone_number_id": "200000000000001"}, headers=admin(longest))
    assert r.status_code == 200, r.text
    audit = (await client.get("/api/v1/admin/whatsapp/audit", headers=tokens.admin())).json()
    assert [e["actor"] for e in audit] == [longest]
