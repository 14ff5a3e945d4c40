from __future__ import annotations

import uuid

from tests.tenant.conftest import new_tenant


async def test_new_tenant_reads_defaults(client, tokens):
    tid = await new_tenant(client, tokens)
    r = await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.owner(tid))
    assert r.status_code == 200
    assert r.json() == {
        "whatsapp_enabled": False,
        "whatsapp_phone_number_id": "",
        "whatsapp_display_phone_number": "",
        "whatsapp_default_language": "es",
        "enable_po_notifications": True,
        "enable_inventory_alerts": False,
        "enable_production_alerts": False,
        "staff_numbers": [],
    }


async def test_owner_cannot_turn_on_without_a_number(client, tokens):
    tid = await new_tenant(client, tokens)
    r = await client.put(
        f"/api/v1/tenants/{tid}/settings/notifications", json={"whatsapp_enabled": True}, headers=tokens.owner(tid)
    )
    assert r.status_code == 409
    assert r.json()["code"] == "no_phone_number_assigned"
    assert "admin must assign a phone number" in r.json()["detail"]
    r = await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.owner(tid))
    assert r.json()["whatsapp_enabled"] is False


async def test_owner_toggles_after_assignment_and_sends_whole_form_back(client, tokens):
    tid = await new_tenant(client, tokens)
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000001"},
        headers=tokens.admin(),
    )
    assert r.status_code == 200, r.text
    form = (await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.owner(tid))).json()
    assert form["whatsapp_phone_number_id"] == "200000000000001"
    assert form["whatsapp_display_phone_number"] == "+34 612 345 671"
    form.update(whatsapp_enabled=True, whatsapp_default_language="ca", enable_po_notifications=False)
    r = await client.put(f"/api/v1/tenants/{tid}/settings/notifications", json=form, headers=tokens.owner(tid))
    assert r.status_code == 200, r.text
    assert r.json() == form
    again = await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.owner(tid))
    assert again.json() == form


async def test_owner_cannot_change_phone_fields(client, tokens):
    tid = await new_tenant(client, tokens)
    await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000001"},
        headers=tokens.admin(),
    )
    for field, value in [("whatsapp_phone_number_id", "200000000000002"), ("whatsapp_display_phone_number", "+1")]:
        r = await client.put(
            f"/api/v1/tenants/{tid}/settings/notifications", json={field: value}, headers=tokens.owner(tid)
        )
        assert r.status_code == 422
        assert r.json()["code"] == "read_only_field"
        assert r.json()["detail"].startswith(field)
    r = await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.owner(tid))
    assert r.json()["whatsapp_phone_number_id"] == "200000000000001"


async def test_language_is_validated_and_named(client, tokens):
    tid = await new_tenant(client, tokens)
    r = await client.put(
        f"/api/v1/tenants/{tid}/settings/notifications",
        json={"whatsapp_default_language": "xx"},
        headers=tokens.owner(tid),
    )
    assert r.status_code == 422
    assert "whatsapp_default_language" in r.json()["detail"]
    for lang in ("es", "en", "ca", "eu", "gl"):
        r = await client.put(
            f"/api/v1/tenants/{tid}/settings/notifications",
            json={"whatsapp_default_language": lang},
            headers=tokens.owner(tid),
        )
        assert r.status_code == 200
        assert r.json()["whatsapp_default_language"] == lang


async def test_unknown_field_malformed_json_and_wrong_types(client, tokens):
    tid = await new_tenant(client, tokens)
    url = f"/api/v1/tenants/{tid}/settings/notifications"
    r = await client.put(url, json={"whatsapp_access_token": "EAAG..."}, headers=tokens.owner(tid))
    assert r.status_code == 422
    assert "whatsapp_access_token" in r.json()["detail"] and "unknown field" in r.json()["detail"]
    r = await client.put(
        url, content=b'{"whatsapp_enabled": tru', headers={**tokens.owner(tid), "content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "not valid JSON" in r.json()["detail"]
    r = await client.put(url, json={"whatsapp_enabled": "maybe"}, headers=tokens.owner(tid))
    assert r.status_code == 422
    assert "whatsapp_enabled" in r.json()["detail"]


async def test_oversized_body_is_refused_and_nothing_written(client, tokens):
    tid = await new_tenant(client, tokens)
    big = {"whatsapp_default_language": "en", "padding": "x" * 400_000}
    r = await client.put(f"/api/v1/tenants/{tid}/settings/notifications", json=big, headers=tokens.owner(tid))
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    r = await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=tokens.owner(tid))
    assert r.json()["whatsapp_default_language"] == "es"


async def test_other_tenants_owner_gets_no_data(client, tokens):
    a = await new_tenant(client, tokens, "A")
    b = await new_tenant(client, tokens, "B")
    for method, url in [
        ("GET", f"/api/v1/tenants/{a}/settings/notifications"),
        ("PUT", f"/api/v1/tenants/{a}/settings/notifications"),
        ("GET", f"/api/v1/tenants/{a}"),
    ]:
        r = await client.request(method, url, json={"whatsapp_enabled": False}, headers=tokens.owner(b))
        assert r.status_code == 403
        assert set(r.json()) == {"detail", "code"}


async def test_tenants_crud_and_pagination(client, tokens):
    ids = [await new_tenant(client, tokens, f"Bakery {i:02d}") for i in range(5)]
    r = await client.get("/api/v1/tenants?limit=2&offset=1", headers=tokens.admin())
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [t["name"] for t in page["items"]] == ["Bakery 01", "Bakery 02"]
    r = await client.get(f"/api/v1/tenants/{ids[0]}", headers=tokens.owner(ids[0]))
    assert r.status_code == 200 and r.json()["name"] == "Bakery 00"
    r = await client.get(f"/api/v1/tenants/{uuid.uuid4()}", headers=tokens.admin())
    assert r.status_code == 404 and r.json()["code"] == "tenant_not_found"
    r = await client.post("/api/v1/tenants", json={"name": ""}, headers=tokens.admin())
    assert r.status_code == 422 and "name" in r.json()["detail"]
    r = await client.post("/api/v1/tenants", json={"name": "X"}, headers=tokens.owner(ids[0]))
    assert r.status_code == 403


async def test_control_characters_in_text_inputs_are_refused(client, tokens):
    """A NUL in a tenant name was a 500 on PostgreSQL. Every text input refuses control characters (422 naming
    the field) and writes nothing."""
    tid = await new_tenant(client, tokens, "Horno de Lola")
    admin = tokens.admin()
    r = await client.post("/api/v1/tenants", json={"name": "Horno\u0000Lola"}, headers=admin)
    assert r.status_code == 422 and r.json()["fields"] == ["body.name"], r.text
    assert "control characters" in r.json()["detail"]
    for field, value in (
        ("whatsapp_default_language", "e\u0000s"),
        ("whatsapp_phone_number_id", "2000\u0000"),
        ("whatsapp_display_phone_number", "+34\u0000612"),
    ):
        r = await client.put(
            f"/api/v1/tenants/{tid}/settings/notifications", json={field: value}, headers=tokens.owner(tid)
        )
        assert r.status_code == 422 and r.json()["fields"] == [f"body.{field}"], r.text
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000001", "display_phone_number": "+34 612\u0000"},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["fields"] == ["body.display_phone_number"], r.text
    r = await client.get("/internal/v1/whatsapp/phone-numbers/2000%00/tenant", headers=tokens.service())
    assert r.status_code == 422 and r.json()["fields"] == ["path.phone_number_id"], r.text
    page = (await client.get("/api/v1/tenants", headers=admin)).json()
    assert [t["name"] for t in page["items"]] == ["Horno de Lola"]
    settings = (await client.get(f"/api/v1/tenants/{tid}/settings/notifications", headers=admin)).json()
    assert settings["whatsapp_default_language"] == "es" and settings["whatsapp_phone_number_id"] == ""


async def test_tenant_name_whitespace_is_normalised(client, tokens):
    r = await client.post("/api/v1/tenants", json={"name": "  Horno\n\tde      Lola "}, headers=tokens.admin())
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Horno de Lola"


async def test_offsets_and_limits_are_bounded(client, tokens):
    """``?offset=9223372036854775808`` was a 500 (BIGINT overflow) on every list: now a 422 naming it."""
    admin = tokens.admin()
    for path in ("/api/v1/tenants", "/api/v1/admin/whatsapp/tenants", "/api/v1/admin/whatsapp/audit"):
        for query, name in (
            ("offset=9223372036854775808", "offset"),
            ("offset=1000001", "offset"),
            ("offset=-1", "offset"),
            ("limit=9223372036854775808", "limit"),
            ("limit=0", "limit"),
        ):
            r = await client.get(f"{path}?{query}", headers=admin)
            assert r.status_code == 422, (path, query, r.text)
            assert r.json()["fields"] == [f"query.{name}"], (path, query, r.text)
        assert (await client.get(f"{path}?offset=1000000", headers=admin)).status_code == 200
