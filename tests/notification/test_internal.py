"""POST /internal/v1/tenants/{id}/settings-changed: the tenant service drops a tenant's cached settings."""

from __future__ import annotations

import uuid

from notification_service.runtime import Runtime

from .conftest import Env
from .helpers import po_event, token


async def test_settings_changed_drops_that_tenants_cached_copy_only(env: Env) -> None:
    runtime: Runtime = env.app.state.runtime
    a, b = env.tenants.add(), env.tenants.add(phone_number_id="200000000000002")
    await runtime.tenants.get(a)
    await runtime.tenants.get(b)
    assert env.tenants.requests == 2
    env.tenants.tenants[a].update(whatsapp_enabled=False, whatsapp_phone_number_id="")

    r = await env.client.post(f"/internal/v1/tenants/{a}/settings-changed", headers=token(env.settings, "service"))
    assert r.status_code == 204, r.text
    assert r.content == b""

    fresh = await runtime.tenants.get(a)
    assert env.tenants.requests == 3, "the next read of A must miss the cache"
    assert fresh.whatsapp_enabled is False and fresh.whatsapp_phone_number_id == ""
    await runtime.tenants.get(b)
    assert env.tenants.requests == 3, "B's copy stays cached"


async def test_unknown_tenant_is_fine_and_idempotent(env: Env) -> None:
    for _ in range(2):
        r = await env.client.post(
            f"/internal/v1/tenants/{uuid.uuid4()}/settings-changed", headers=token(env.settings, "service")
        )
        assert r.status_code == 204


async def test_settings_changed_rules(env: Env) -> None:
    tenant = uuid.uuid4()
    url = f"/internal/v1/tenants/{tenant}/settings-changed"
    assert (await env.client.post(url)).status_code == 401
    for role in ("admin", "owner"):
        r = await env.client.post(url, headers=token(env.settings, role, tenant_id=tenant))
        assert r.status_code == 403, (role, r.text)
    r = await env.client.post(
        "/internal/v1/tenants/not-a-uuid/settings-changed", headers=token(env.settings, "service")
    )
    assert r.status_code == 422
    assert "tenant_id" in r.text
    r = await env.client.get(url, headers=token(env.settings, "service"))
    assert r.status_code == 405


async def test_a_stand_alone_dispatcher_hears_the_change_and_uses_the_new_number(make_env, postgres_url: str) -> None:
    """Issue 13 item 3: stand-alone dispatchers keep their own settings cache (60 s); the API relays the change
    to them (PostgreSQL NOTIFY), so the very next message leaves from the tenant's new number, not the old one."""
    import asyncio

    env = await make_env(postgres_url, tenant_settings_ttl_seconds=600)
    tenant = env.tenants.add(phone_number_id="200000000000001")
    d = env.dispatcher(settings=env.settings.model_copy(update={"dispatch_listen_notify": True}))
    d.start()
    try:
        assert (await env.post_event(po_event(tenant))).status_code == 202
        for _ in range(100):
            if env.graph.sends:
                break
            await asyncio.sleep(0.05)
        assert [s["phone_number_id"] for s in env.graph.sends] == ["200000000000001"]
        # the admin moves the bakery to another number; the tenant service tells the notification service
        env.tenants.tenants[tenant]["whatsapp_phone_number_id"] = "200000000000009"
        r = await env.client.post(
            f"/internal/v1/tenants/{tenant}/settings-changed", headers=token(env.settings, "service")
        )
        assert r.status_code == 204
        await asyncio.sleep(0.5)  # NOTIFY reaches the dispatcher's LISTEN connection
        assert (await env.post_event(po_event(tenant))).status_code == 202
        for _ in range(100):
            if len(env.graph.sends) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await d.stop()
    assert [s["phone_number_id"] for s in env.graph.sends] == ["200000000000001", "200000000000009"]
