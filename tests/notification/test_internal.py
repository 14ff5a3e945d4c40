"""POST /internal/v1/tenants/{id}/settings-changed: the tenant service drops a tenant's cached settings."""

from __future__ import annotations

import uuid

from notification_service.runtime import Runtime

from .conftest import Env
from .helpers import token


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
