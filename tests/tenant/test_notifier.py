"""The tenant service tells the notification service about changed settings (issue 13 item 3).

Both real apps in one process, wired to each other over HTTP (ASGI transports): the notification service reads
settings from the tenant app, the tenant app reports changes to the notification app.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager

from notification_service.accounts import Accounts
from notification_service.app import create_app as create_notification_app
from notification_service.config import NotificationSettings
from notification_service.migrate import upgrade as upgrade_notification
from notification_service.tenant_client import TenantSettingsClient
from tenant_service.app import create_app as create_tenant_app
from tenant_service.migrate import upgrade
from tenant_service.notifier import SettingsChangeNotifier
from tests.helpers import TEST_JWT_SECRET, Tokens
from tests.tenant.conftest import make_settings, new_tenant

NUMBER = "200000000000001"


@dataclass
class Pair:
    tenant: httpx.AsyncClient
    cache: TenantSettingsClient
    notifier: SettingsChangeNotifier
    accounts: Accounts


@pytest.fixture
async def pair(tmp_path, graph) -> AsyncIterator[Pair]:
    tenant_url = f"sqlite+aiosqlite:///{tmp_path / 'tenant.db'}"
    notification_url = f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"
    await asyncio.to_thread(upgrade, tenant_url)
    await asyncio.to_thread(upgrade_notification, notification_url)
    tenant_settings = make_settings(tenant_url, notification_service_url="http://notification")
    tenant_app = create_tenant_app(tenant_settings)
    notification_app = create_notification_app(
        NotificationSettings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            jwt_secret=TEST_JWT_SECRET,
            notification_database_url=notification_url,
            dispatcher_enabled=False,
            dispatch_listen_notify=False,
            tenant_service_url="http://tenant",
            tenant_settings_ttl_seconds=600,
        ),
        tenant_transport=httpx.ASGITransport(app=tenant_app),
    )
    async with LifespanManager(notification_app) as manager:
        notifier = SettingsChangeNotifier(tenant_settings, transport=httpx.ASGITransport(app=manager.app))
        tenant_app.state.service.notifier = notifier
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=tenant_app), base_url="http://tenant") as c:
            runtime = notification_app.state.runtime
            yield Pair(tenant=c, cache=runtime.tenants, notifier=notifier, accounts=runtime.accounts)
        await notifier.aclose()
    await tenant_app.state.graph.aclose()
    await tenant_app.state.engine.dispose()


async def test_unassign_makes_the_next_settings_read_miss_the_cache(pair: Pair, tokens: Tokens) -> None:
    tid = await new_tenant(pair.tenant, tokens)
    r = await pair.tenant.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone", json={"phone_number_id": NUMBER}, headers=tokens.admin()
    )
    assert r.status_code == 200, r.text
    r = await pair.tenant.put(
        f"/api/v1/tenants/{tid}/settings/notifications", json={"whatsapp_enabled": True}, headers=tokens.owner(tid)
    )
    assert r.status_code == 200, r.text
    tenant_id = uuid.UUID(tid)
    cached = await pair.cache.get(tenant_id)
    assert cached.whatsapp_phone_number_id == NUMBER and cached.whatsapp_enabled
    requests = pair.cache.stats.requests
    await pair.cache.get(tenant_id)
    assert pair.cache.stats.requests == requests, "within the TTL the copy is served from memory"

    r = await pair.tenant.delete(f"/api/v1/admin/whatsapp/tenants/{tid}/unassign-phone", headers=tokens.admin())
    assert r.status_code == 200, r.text
    fresh = await pair.cache.get(tenant_id)
    assert pair.cache.stats.requests == requests + 1, "the next read after the unassign must miss the cache"
    assert fresh.whatsapp_phone_number_id == "" and fresh.whatsapp_enabled is False


async def test_every_change_is_reported_and_a_no_op_is_not(pair: Pair, tokens: Tokens) -> None:
    tid = await new_tenant(pair.tenant, tokens)
    admin = tokens.admin()
    before = pair.cache.stats.invalidations
    steps = [
        ("post", f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone", {"phone_number_id": NUMBER}, admin, 1),
        ("post", f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone", {"phone_number_id": NUMBER}, admin, 0),
        ("put", f"/api/v1/tenants/{tid}/settings/notifications", {"whatsapp_enabled": True}, tokens.owner(tid), 1),
        ("put", f"/api/v1/tenants/{tid}/settings/notifications", {"whatsapp_enabled": True}, tokens.owner(tid), 0),
        (
            "post",
            f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
            {"phone_number_id": "200000000000002"},
            admin,
            1,
        ),
        ("delete", f"/api/v1/admin/whatsapp/tenants/{tid}/unassign-phone", None, admin, 1),
        ("delete", f"/api/v1/admin/whatsapp/tenants/{tid}/unassign-phone", None, admin, 0),
    ]
    for method, url, body, headers, reported in steps:
        kwargs = {"json": body} if body is not None else {}
        r = await pair.tenant.request(method.upper(), url, headers=headers, **kwargs)
        assert r.status_code == 200, (url, r.text)
        assert pair.cache.stats.invalidations == before + reported, (method, url, body)
        before = pair.cache.stats.invalidations


async def test_notification_service_down_changes_still_commit_and_are_logged(
    tmp_path, graph, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    graph.route(host="127.0.0.1", port=9).pass_through()  # a real connection to a closed port
    url = f"sqlite+aiosqlite:///{tmp_path / 'tenant.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(url, notification_service_url="http://127.0.0.1:9", notification_service_timeout_seconds=1)
    app = create_tenant_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tenant") as client:
            tid = await new_tenant(client, tokens)
            with caplog.at_level(logging.WARNING, logger="tenant.notifier"):
                r = await client.post(
                    f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
                    json={"phone_number_id": NUMBER},
                    headers=tokens.admin(),
                )
            assert r.status_code == 200, r.text
            assert any("could not tell the notification service" in m for m in caplog.messages)
            listing = (await client.get("/api/v1/admin/whatsapp/tenants", headers=tokens.admin())).json()
            assert [t["phone_number_id"] for t in listing if t["tenant_id"] == tid] == [NUMBER]
    finally:
        await app.state.notifier.aclose()
        await app.state.graph.aclose()
        await app.state.engine.dispose()


async def test_a_refusal_is_logged_not_raised(tmp_path, graph, tokens: Tokens, caplog) -> None:
    """A notification service with another JWT secret answers 401: logged with the status, the change stands."""
    seen: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"detail": "bad token", "code": "invalid_token"})

    url = f"sqlite+aiosqlite:///{tmp_path / 'tenant.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(url, notification_service_url="http://notification")
    notifier = SettingsChangeNotifier(settings, transport=httpx.MockTransport(refuse))
    with caplog.at_level(logging.WARNING, logger="tenant.notifier"):
        assert await notifier.settings_changed(uuid.uuid4()) is False
    await notifier.aclose()
    assert any("answered HTTP 401" in m for m in caplog.messages)
    assert seen and seen[0].headers["Authorization"].startswith("Bearer ")
    assert TEST_JWT_SECRET not in caplog.text


def test_empty_url_means_off(tmp_path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'tenant.db'}", notification_service_url="")
    assert SettingsChangeNotifier(settings).enabled is False


async def test_an_account_change_makes_the_next_account_lookup_read_the_list_again(pair: Pair) -> None:
    """Issue 18: a new account's first webhooks came within the miss interval of an earlier miss and were refused as
    an unknown account's (tests/e2e/test_account_pool.py, Embedded Signup). The tenant service now reports each
    account change and the notification service reads the list again at the next lookup, throttle or not."""
    unknown = "100000000000777"
    assert await pair.accounts.find(unknown) is None  # a miss: the list is read, and misses are throttled now
    read_at = pair.accounts._listed_at  # noqa: SLF001 - when the list was last read
    assert await pair.accounts.find(unknown) is None
    assert pair.accounts._listed_at == read_at, "a second miss within the interval does not read the list"  # noqa: SLF001
    assert await pair.notifier.accounts_changed() is True
    assert await pair.accounts.find(unknown) is None
    assert pair.accounts._listed_at > read_at, "after the change the list is read again at once"  # noqa: SLF001
