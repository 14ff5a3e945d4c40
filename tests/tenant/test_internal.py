from __future__ import annotations

import uuid

from tests.tenant.conftest import new_tenant


async def test_internal_settings_etag_and_304(client, tokens):
    tid = await new_tenant(client, tokens, "Obrador Miga")
    url = f"/internal/v1/tenants/{tid}/notification-settings"
    r = await client.get(url, headers=tokens.service())
    assert r.status_code == 200
    body = r.json()
    assert body["tenant_id"] == tid and body["tenant_name"] == "Obrador Miga"
    assert body["whatsapp_enabled"] is False and body["enable_po_notifications"] is True
    etag = r.headers["etag"]
    r = await client.get(url, headers={**tokens.service(), "If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag

    await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000002"},
        headers=tokens.admin(),
    )
    r = await client.get(url, headers={**tokens.service(), "If-None-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag
    assert r.json()["whatsapp_phone_number_id"] == "200000000000002"

    assert (await client.get(url, headers=tokens.admin())).status_code == 403
    assert (await client.get(url, headers=tokens.owner(tid))).status_code == 403
    r = await client.get(f"/internal/v1/tenants/{uuid.uuid4()}/notification-settings", headers=tokens.service())
    assert r.status_code == 404


async def test_phone_number_owner(client, tokens):
    tid = await new_tenant(client, tokens, "La Tahona Azul")
    r = await client.get("/internal/v1/whatsapp/phone-numbers/200000000000004/tenant", headers=tokens.service())
    assert r.status_code == 404
    await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000004"},
        headers=tokens.admin(),
    )
    r = await client.get("/internal/v1/whatsapp/phone-numbers/200000000000004/tenant", headers=tokens.service())
    assert r.status_code == 200
    assert r.json() == {
        "phone_number_id": "200000000000004",
        "tenant_id": tid,
        "tenant_name": "La Tahona Azul",
        "display_phone_number": "+34 612 345 674",
        "waba_id": "100000000000001",
    }


async def test_health(client):
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    r = await client.get("/health/ready")
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
