"""Tenant settings: cached (TTL + ETag/304), the tenant service down then up, stale-if-error."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from notification_service.tenant_client import TenantServiceUnavailable, TenantSettingsClient

from .conftest import Env, EnvFactory
from .helpers import Clock, FakeTenantService, make_settings, po_event


async def test_steady_traffic_does_not_call_the_tenant_service_per_message(env: Env) -> None:
    tenant = env.tenants.add()
    for i in range(20):
        await env.post_event(po_event(tenant, supplier={"phone": f"+34 612 000 0{i:02d}"}))
    d = env.dispatcher()
    await d.drain()
    assert len(env.graph.sends) == 20
    assert env.tenants.requests == 1


async def test_ttl_then_etag_revalidation(sqlite_url: str) -> None:
    fake = FakeTenantService()
    tenant = fake.add()
    now = [0.0]
    client = TenantSettingsClient(
        make_settings(sqlite_url, tenant_settings_ttl_seconds=60), transport=fake.transport(), clock=lambda: now[0]
    )
    try:
        first = await client.get(tenant)
        assert first.whatsapp_phone_number_id == "200000000000001"
        now[0] = 30
        await client.get(tenant)
        assert fake.requests == 1
        now[0] = 61
        await client.get(tenant)
        assert fake.requests == 2 and fake.not_modified == 1
        fake.tenants[tenant]["whatsapp_enabled"] = False
        now[0] = 200
        changed = await client.get(tenant)
        assert changed.whatsapp_enabled is False
        assert fake.requests == 3 and fake.not_modified == 1
    finally:
        await client.aclose()


async def test_stale_copy_is_used_while_the_tenant_service_is_down(sqlite_url: str) -> None:
    fake = FakeTenantService()
    tenant = fake.add()
    now = [0.0]
    settings = make_settings(sqlite_url, tenant_settings_ttl_seconds=60, tenant_settings_stale_if_error_seconds=300)
    client = TenantSettingsClient(settings, transport=fake.transport(), clock=lambda: now[0])
    try:
        await client.get(tenant)
        fake.down = True
        now[0] = 100
        assert (await client.get(tenant)).whatsapp_enabled is True
        now[0] = 1000
        try:
            await client.get(tenant)
        except TenantServiceUnavailable:
            pass
        else:
            raise AssertionError("too stale: must not be used")
    finally:
        await client.aclose()


async def test_tenant_service_down_keeps_messages_queued_then_sends_when_up(
    make_env: EnvFactory, sqlite_url: str
) -> None:
    env = await make_env(sqlite_url, tenant_unavailable_retry_seconds=10)
    tenant = env.tenants.add()
    env.tenants.down = True
    response = await env.post_event(po_event(tenant))
    assert response.status_code == 202  # ingestion does not need the tenant service
    nid = response.json()["notification_id"]
    clock = Clock()
    d = env.dispatcher(clock=clock)
    for _ in range(3):
        await d.drain()
        message = await env.message(nid)
        assert message["status"] == "queued"
        assert message["status_reason"].startswith("tenant_service_unavailable")
        assert message["attempts"] == 0  # never counted against the retry budget
        clock.advance(11)
    env.tenants.down = False
    clock.advance(11)
    await asyncio.sleep(1.1)  # the client's own 1 s circuit after a failure (real monotonic time)
    await d.drain()
    assert (await env.message(nid))["status"] == "sent"


async def test_tenant_service_5xx_is_unavailable_not_a_failure(env: Env) -> None:
    tenant = env.tenants.add()
    original = env.tenants.handler
    env.tenants.handler = lambda request: httpx.Response(500, text="boom")  # type: ignore[method-assign]
    nid = (await env.post_event(po_event(tenant))).json()["notification_id"]
    d = env.dispatcher()
    await d.drain()
    assert (await env.message(nid))["status"] == "queued"
    env.tenants.handler = original  # type: ignore[method-assign]


async def test_an_answer_fetched_across_an_invalidation_is_not_cached(sqlite_url: str) -> None:
    """The tenant service reports a change while an older read is in flight: that read may predate the change,
    so it serves its caller but is not kept; the next read asks again."""
    fake = FakeTenantService()
    tenant = fake.add()
    client: TenantSettingsClient | None = None

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake.handler(request)
        if fake.requests == 1:
            assert client is not None
            client.invalidate(tenant)  # the change is reported while this answer travels back
        return response

    import httpx

    client = TenantSettingsClient(
        make_settings(sqlite_url, tenant_settings_ttl_seconds=600), transport=httpx.MockTransport(handler)
    )
    try:
        await client.get(tenant)
        await client.get(tenant)
        assert fake.requests == 2
        await client.get(tenant)
        assert fake.requests == 2, "an answer fetched after the invalidation is cached as usual"
    finally:
        await client.aclose()


async def test_no_stale_copy_after_an_invalidation_while_the_tenant_service_is_down(sqlite_url: str) -> None:
    """The change is reported while the revalidation fails: the old copy must not be served as stale-if-error."""
    fake = FakeTenantService()
    tenant = fake.add()
    now = [0.0]
    client: TenantSettingsClient | None = None

    def handler(request: httpx.Request) -> httpx.Response:
        if fake.down:
            assert client is not None
            client.invalidate(tenant)
        return fake.handler(request)

    settings = make_settings(sqlite_url, tenant_settings_ttl_seconds=60, tenant_settings_stale_if_error_seconds=600)
    client = TenantSettingsClient(settings, transport=httpx.MockTransport(handler), clock=lambda: now[0])
    try:
        await client.get(tenant)
        fake.down = True
        now[0] = 100  # past the TTL, within stale-if-error
        with pytest.raises(TenantServiceUnavailable):
            await client.get(tenant)
    finally:
        await client.aclose()


async def test_the_aiohttp_path_over_real_http_caches_revalidates_and_maps_failures(sqlite_url: str) -> None:
    """Without a test transport the client talks aiohttp to a real server: the same cache, ETag revalidation
    (304), 404 → not found, an error status or a refused connection → unavailable (stale copy served)."""
    from aiohttp import web

    from notification_service.tenant_client import TenantNotFound

    fake = FakeTenantService()
    tenant = fake.add()
    seen: list[dict[str, str]] = []

    async def serve(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if request.match_info["tenant"] == "00000000-0000-0000-0000-00000000beef":
            return web.json_response({"detail": "down for maintenance"}, status=503)
        answer = fake.handler(httpx.Request("GET", str(request.url), headers=dict(request.headers)))
        return web.Response(status=answer.status_code, body=answer.content, headers=dict(answer.headers))

    app = web.Application()
    app.router.add_get("/internal/v1/tenants/{tenant}/notification-settings", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    now = [0.0]
    settings = make_settings(
        sqlite_url,
        tenant_service_url=f"http://127.0.0.1:{port}",
        tenant_settings_ttl_seconds=60,
        tenant_settings_stale_if_error_seconds=300,
    )
    client = TenantSettingsClient(settings, clock=lambda: now[0])
    try:
        first = await client.get(tenant)
        assert first.whatsapp_phone_number_id == "200000000000001"
        assert seen[0]["Authorization"].startswith("Bearer ")
        now[0] = 61
        again = await client.get(tenant)
        assert again == first and fake.requests == 2 and fake.not_modified == 1
        assert seen[1]["If-None-Match"]
        with pytest.raises(TenantNotFound):
            await client.get(uuid.uuid4())
        with pytest.raises(TenantServiceUnavailable, match="HTTP 503"):
            await client.get(uuid.UUID("00000000-0000-0000-0000-00000000beef"))
    finally:
        await runner.cleanup()
    try:
        now[0] = 200  # past the TTL and the failure back-off, the server is gone: the stale copy is served
        assert (await client.get(tenant)) == first
        assert client.stats.stale_served == 1
        now[0] = 202
        with pytest.raises(TenantServiceUnavailable, match="unreachable"):
            await client.get(uuid.uuid4())  # nothing cached for this one
    finally:
        await client.aclose()


async def test_a_directory_that_cannot_be_read_never_delays_the_settings(sqlite_url: str) -> None:
    """Regression (fresh-clone CI of the issue-18 merges, tests/ops/test_metrics.py): a failed read of the accounts
    directory put the whole tenant client in its 1 s back-off, so the next message's settings were "unavailable" and
    it stayed queued. The directory has its own back-off; the settings are read as before."""
    fake = FakeTenantService()
    tenant = fake.add()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/v1/whatsapp/accounts":
            raise ValueError("a broken directory answer")
        return fake.handler(request)

    client = TenantSettingsClient(make_settings(sqlite_url), transport=httpx.MockTransport(handler), clock=lambda: 0.0)
    try:
        assert await client.accounts() is None
        assert (await client.get(tenant)).whatsapp_phone_number_id == "200000000000001"
        assert await client.accounts() is None  # backing off: not asked again within the second
    finally:
        await client.aclose()
