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
