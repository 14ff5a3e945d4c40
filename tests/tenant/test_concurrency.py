from __future__ import annotations

import asyncio

import pytest

from tenant_service.migrate import upgrade
from tests.tenant.conftest import _client, make_settings, new_tenant


@pytest.mark.postgres
async def test_twenty_concurrent_assigns_of_one_number_exactly_one_wins(postgres_url, tokens, graph):
    await asyncio.to_thread(upgrade, postgres_url)
    async for client in _client(make_settings(postgres_url)):
        tenants = [await new_tenant(client, tokens, f"Bakery {i:02d}") for i in range(20)]
        body = {"phone_number_id": "200000000000001"}

        async def assign(tid: str):
            return await client.post(
                f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone", json=body, headers=tokens.admin()
            )

        results = await asyncio.gather(*(assign(t) for t in tenants))
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) == 1, codes
        assert codes.count(409) == 19, codes
        winner = next(r.json()["tenant_id"] for r in results if r.status_code == 200)
        for r in results:
            if r.status_code == 409:
                assert r.json()["code"] == "phone_already_assigned"
        listing = (await client.get("/api/v1/admin/whatsapp/tenants", headers=tokens.admin())).json()
        holders = [t["tenant_id"] for t in listing if t["phone_number_id"] == "200000000000001"]
        assert holders == [winner]
        audit = (await client.get("/api/v1/admin/whatsapp/audit", headers=tokens.admin())).json()
        assert len(audit) == 1 and audit[0]["tenant_id"] == winner


@pytest.mark.postgres
async def test_one_tenant_assigned_two_numbers_concurrently_keeps_one(postgres_url, tokens, graph):
    await asyncio.to_thread(upgrade, postgres_url)
    async for client in _client(make_settings(postgres_url)):
        tid = await new_tenant(client, tokens)
        ids = [f"20000000000000{i}" for i in range(1, 6)]
        results = await asyncio.gather(
            *(
                client.post(
                    f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
                    json={"phone_number_id": pid},
                    headers=tokens.admin(),
                )
                for pid in ids
            )
        )
        assert all(r.status_code in (200, 409) for r in results), [r.text for r in results]
        numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())).json()
        held = [n["id"] for n in numbers if n["assigned_tenant_id"] == tid]
        assert len(held) == 1
        settings = (await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.admin())).json()
        assert settings["whatsapp_phone_number_id"] == held[0], "settings JSON must agree with the assignment"


NUMBER = "200000000000001"


async def _race_put_against_unassign(client, tokens, rounds: int = 100) -> None:
    """Owner A turns WhatsApp on while the admin frees A's number; then the number goes to B.

    Whatever order the two requests take, the end state must be one of the two serial outcomes, and the
    number must never end up held by two bakeries.
    """
    a = await new_tenant(client, tokens, "Bakery A")
    b = await new_tenant(client, tokens, "Bakery B")
    settings_a = f"/api/v1/tenants/{a}/settings/notifications"
    admin = tokens.admin()
    for i in range(rounds):
        r = await client.post(
            f"/api/v1/admin/whatsapp/tenants/{a}/assign-phone", json={"phone_number_id": NUMBER}, headers=admin
        )
        assert r.status_code == 200, r.text
        r = await client.put(settings_a, json={"whatsapp_enabled": False}, headers=tokens.owner(a))
        assert r.status_code == 200, r.text
        put, unassign = await asyncio.gather(
            client.put(settings_a, json={"whatsapp_enabled": True}, headers=tokens.owner(a)),
            client.delete(f"/api/v1/admin/whatsapp/tenants/{a}/unassign-phone", headers=admin),
        )
        assert unassign.status_code == 200, (i, unassign.text)
        # The PUT either ran first (200, then the unassign turned it off) or second (409: no number any more).
        assert put.status_code in (200, 409), (i, put.text)
        current = (await client.get(settings_a, headers=tokens.owner(a))).json()
        assert current["whatsapp_phone_number_id"] == "", (i, put.status_code, current)
        assert current["whatsapp_enabled"] is False, (i, put.status_code, current)
        numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=admin)).json()
        assert next(n for n in numbers if n["id"] == NUMBER)["assigned_tenant_id"] is None
        r = await client.post(
            f"/api/v1/admin/whatsapp/tenants/{b}/assign-phone", json={"phone_number_id": NUMBER}, headers=admin
        )
        assert r.status_code == 200, r.text
        listing = (await client.get("/api/v1/admin/whatsapp/tenants", headers=admin)).json()
        holders = [t["tenant_id"] for t in listing if t["phone_number_id"] == NUMBER]
        assert holders == [b], (i, listing)
        r = await client.delete(f"/api/v1/admin/whatsapp/tenants/{b}/unassign-phone", headers=admin)
        assert r.status_code == 200, r.text


async def test_settings_put_races_unassign_on_sqlite_without_lost_update(sqlite_client, tokens):
    """Issue 13 item 1: on SQLite the PUT read the settings outside any lock and wrote them back after the
    unassign committed, so A kept the freed number (enabled) and B could be given it as well."""
    await _race_put_against_unassign(sqlite_client, tokens)


@pytest.mark.postgres
async def test_settings_put_races_unassign_on_postgres_without_deadlock(postgres_url, tokens, graph):
    """Issue 13 item 2: the PUT locked tenant_settings then tenants, assign/unassign tenants then
    tenant_settings: "deadlock detected" 500s. One lock order everywhere."""
    await asyncio.to_thread(upgrade, postgres_url)
    async for client in _client(make_settings(postgres_url)):
        await _race_put_against_unassign(client, tokens)
