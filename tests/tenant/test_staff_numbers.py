"""Staff numbers and the alert kinds' switches in the notification settings (issue 17): validated, at most 5."""

from __future__ import annotations

from tests.tenant.conftest import new_tenant

NUMBERS = ["+34612345671", "+34612345672", "+34612345673", "+34612345674", "+34612345675", "+34612345676"]


def _url(tid: str) -> str:
    return f"/api/v1/tenants/{tid}/settings/notifications"


async def test_owner_keeps_staff_numbers_and_kind_switches(client, tokens):
    tid = await new_tenant(client, tokens)
    body = {
        "enable_inventory_alerts": True,
        "staff_numbers": [
            {"phone": "612 345 671", "name": "Ana", "kinds": ["inventory_alert", "production_alert"]},
            {"phone": "+44 7911 123456", "name": "Bob", "kinds": ["inventory_alert", "inventory_alert"]},
        ],
    }
    r = await client.put(_url(tid), json=body, headers=tokens.owner(tid))
    assert r.status_code == 200, r.text
    r = await client.get(_url(tid), headers=tokens.owner(tid))
    data = r.json()
    assert data["enable_inventory_alerts"] is True and data["enable_production_alerts"] is False
    assert data["staff_numbers"] == [
        {"phone": "+34612345671", "name": "Ana", "kinds": ["inventory_alert", "production_alert"]},
        {"phone": "+447911123456", "name": "Bob", "kinds": ["inventory_alert"]},
    ]
    # the notification service reads the same numbers through the internal contract
    r = await client.get(f"/internal/v1/tenants/{tid}/notification-settings", headers=tokens.service())
    assert r.status_code == 200, r.text
    assert [s["phone"] for s in r.json()["staff_numbers"]] == ["+34612345671", "+447911123456"]


async def test_six_staff_numbers_are_refused(client, tokens):
    tid = await new_tenant(client, tokens)
    staff = [{"phone": n, "kinds": ["inventory_alert"]} for n in NUMBERS]
    r = await client.put(_url(tid), json={"staff_numbers": staff}, headers=tokens.owner(tid))
    assert r.status_code == 422
    assert "staff_numbers" in r.json()["detail"] and "5" in r.json()["detail"]
    r = await client.get(_url(tid), headers=tokens.owner(tid))
    assert r.json()["staff_numbers"] == []


async def test_a_bad_number_is_refused_with_what_to_fix(client, tokens):
    tid = await new_tenant(client, tokens)
    r = await client.put(
        _url(tid), json={"staff_numbers": [{"phone": "12345", "kinds": []}]}, headers=tokens.owner(tid)
    )
    assert r.status_code == 422
    assert "phone" in r.json()["detail"] and "12345" in r.json()["detail"]


async def test_unknown_kind_and_duplicate_numbers_are_refused(client, tokens):
    tid = await new_tenant(client, tokens)
    r = await client.put(
        _url(tid), json={"staff_numbers": [{"phone": NUMBERS[0], "kinds": ["payroll"]}]}, headers=tokens.owner(tid)
    )
    assert r.status_code == 422 and "kinds" in r.json()["detail"]
    twice = [{"phone": NUMBERS[0]}, {"phone": "612345671"}]
    r = await client.put(_url(tid), json={"staff_numbers": twice}, headers=tokens.owner(tid))
    assert r.status_code == 422 and "listed twice" in r.json()["detail"]


async def test_another_tenants_owner_cannot_edit_staff_numbers(client, tokens):
    tid = await new_tenant(client, tokens)
    other = await new_tenant(client, tokens)
    r = await client.put(_url(tid), json={"staff_numbers": []}, headers=tokens.owner(other))
    assert r.status_code == 403
