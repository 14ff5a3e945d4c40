"""POST /api/v1/events/inventory-alerts and /production-alerts (issue 17): validation, idempotency, one message per
staff number that takes the kind, a switched-off kind skipped by the dispatcher."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from .conftest import Env
from .helpers import token

STAFF = [
    {"phone": "+34612345671", "name": "Ana", "kinds": ["inventory_alert", "production_alert"]},
    {"phone": "+34612345672", "name": "Luis", "kinds": ["inventory_alert"]},
    {"phone": "+34612345673", "name": "Eva", "kinds": ["production_alert"]},
]


def _tenant(env: Env, **switches: Any) -> uuid.UUID:
    tenant = env.tenants.add()
    env.tenants.tenants[tenant].update({"staff_numbers": STAFF, **switches})
    return tenant


def inventory_event(tenant: uuid.UUID, **product: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": str(tenant),
        "occurred_at": datetime.now(UTC).isoformat(),
        "product": {"id": "p-1", "name": "Harina", "unit": "kg", "current_stock": "12.5", "minimum_stock": "50"}
        | product,
    }


def production_event(tenant: uuid.UUID, problem: str = "late") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": str(tenant),
        "occurred_at": datetime.now(UTC).isoformat(),
        "batch": {"id": "b-1", "number": "L-7", "product_name": "Baguette"},
        "problem": problem,
    }


async def _post(env: Env, path: str, body: dict[str, Any], role: str = "service") -> Any:
    tenant = uuid.UUID(body["tenant_id"]) if role == "owner" else None
    return await env.client.post(f"/api/v1/events/{path}", json=body, headers=token(env.settings, role, tenant))


async def test_inventory_alert_reaches_each_staff_number_that_takes_it(any_env: Env) -> None:
    env = any_env
    tenant = _tenant(env, enable_inventory_alerts=True)
    response = await _post(env, "inventory-alerts", inventory_event(tenant))
    assert response.status_code == 202, response.text
    ids = response.json()["notification_ids"]
    assert len(ids) == 2
    await env.dispatcher().drain()
    assert sorted(env.graph.sent_to()) == ["+34612345671", "+34612345672"]  # not Eva: production only
    for send in env.graph.sends:
        template = send["payload"]["template"]
        assert template["name"] == "inventory_alert" and template["language"] == {"code": "es"}
        assert [p["text"] for p in template["components"][0]["parameters"]] == ["Harina", "12,5 kg", "50 kg"]
    messages = [await env.message(i) for i in ids]
    assert {m["status"] for m in messages} == {"sent"}
    assert {m["kind"] for m in messages} == {"inventory_alert"}


async def test_production_alert_in_the_bakerys_language(any_env: Env) -> None:
    env = any_env
    tenant = _tenant(env, enable_production_alerts=True)
    env.tenants.tenants[tenant]["whatsapp_default_language"] = "en"
    response = await _post(env, "production-alerts", production_event(tenant, "failed"))
    assert response.status_code == 202, response.text
    await env.dispatcher().drain()
    assert sorted(env.graph.sent_to()) == ["+34612345671", "+34612345673"]
    params = [p["text"] for p in env.graph.sends[0]["payload"]["template"]["components"][0]["parameters"]]
    assert params == ["L-7", "Baguette", "failed"]


async def test_switched_off_kind_is_skipped_with_its_reason(env: Env) -> None:
    tenant = _tenant(env)  # both alert kinds are off by default
    response = await _post(env, "inventory-alerts", inventory_event(tenant))
    assert response.status_code == 202
    await env.dispatcher().drain()
    assert env.graph.sends == []
    for message_id in response.json()["notification_ids"]:
        message = await env.message(message_id)
        assert message["status"] == "skipped"
        assert message["status_reason"].startswith("inventory_alerts_disabled")


async def test_no_staff_number_takes_the_kind_gives_no_message(env: Env) -> None:
    tenant = env.tenants.add()
    response = await _post(env, "inventory-alerts", inventory_event(tenant))
    assert response.status_code == 202
    assert response.json() == {"notification_ids": []}


async def test_same_event_again_is_a_replay_and_a_different_body_a_conflict(any_env: Env) -> None:
    env = any_env
    tenant = _tenant(env, enable_inventory_alerts=True)
    body = inventory_event(tenant)
    first = await _post(env, "inventory-alerts", body)
    second = await _post(env, "inventory-alerts", body)
    assert first.status_code == 202 and second.status_code == 200
    assert sorted(second.json()["notification_ids"]) == sorted(first.json()["notification_ids"])
    changed = dict(body, product=body["product"] | {"current_stock": "3"})
    third = await _post(env, "inventory-alerts", changed)
    assert third.status_code == 409 and third.json()["code"] == "event_conflict"


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        (
            "inventory-alerts",
            {"product": {"id": "p", "name": "x", "current_stock": "60", "minimum_stock": "50"}},
            "minimum_stock",
        ),
        (
            "inventory-alerts",
            {"product": {"id": "p", "name": "x", "current_stock": "1e3", "minimum_stock": "5"}},
            "current_stock",
        ),
        ("inventory-alerts", {"product": {"id": "p", "name": "", "current_stock": "1", "minimum_stock": "5"}}, "name"),
        ("production-alerts", {"problem": "burnt"}, "problem"),
        ("production-alerts", {"batch": {"id": "b", "number": "n" * 65, "product_name": "x"}}, "number"),
        ("production-alerts", {"tenant_id": "nope"}, "tenant_id"),
    ],
)
async def test_bad_alerts_are_422_naming_the_field(env: Env, path: str, change: dict[str, Any], field: str) -> None:
    tenant = _tenant(env)
    body = (inventory_event(tenant) if path == "inventory-alerts" else production_event(tenant)) | change
    response = await _post(env, path, body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


@pytest.mark.parametrize("role", ["admin", "owner"])
async def test_only_the_service_token_may_send_alerts(env: Env, role: str) -> None:
    tenant = _tenant(env)
    response = await _post(env, "production-alerts", production_event(tenant), role=role)
    assert response.status_code == 403
    response = await env.client.post("/api/v1/events/production-alerts", json=production_event(tenant))
    assert response.status_code == 401


async def test_unknown_tenant_is_404_and_tenant_service_down_is_503(env: Env) -> None:
    response = await _post(env, "inventory-alerts", inventory_event(uuid.uuid4()))
    assert response.status_code == 404 and response.json()["code"] == "tenant_not_found"
    tenant = _tenant(env)
    env.tenants.down = True
    response = await _post(env, "inventory-alerts", inventory_event(tenant))
    assert response.status_code == 503


async def test_the_pages_read_the_registry_and_filter_messages_by_kind(env: Env) -> None:
    tenant = _tenant(env, enable_inventory_alerts=True)
    kinds = await env.client.get("/api/v1/message-kinds", headers=token(env.settings, "owner", tenant))
    assert kinds.status_code == 200
    items = kinds.json()["items"]
    assert [k["name"] for k in items] == ["purchase_order", "inventory_alert", "production_alert"]
    assert items[1]["switch"] == "enable_inventory_alerts" and items[1]["for_staff"] is True
    assert items[1]["languages"] == {"es": "es", "en": "en"} and items[1]["category"] == "UTILITY"
    await _post(env, "inventory-alerts", inventory_event(tenant))
    await _post(env, "production-alerts", production_event(tenant))
    listed = await env.client.get(
        "/api/v1/messages",
        params={"kind": "production_alert", "tenant_id": str(tenant)},
        headers=token(env.settings, "owner", tenant),
    )
    assert listed.status_code == 200
    assert [m["kind"] for m in listed.json()["items"]] == ["production_alert", "production_alert"]
