"""The pages and the dev sign-in over HTTP, in-process (no browser): what is served, and when the dev login exists."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from tenant_service.app import create_app
from tenant_service.migrate import upgrade
from tenant_service.seed_demo import DEMO_BAKERIES
from tests.helpers import TEST_JWT_SECRET
from tests.tenant.conftest import make_settings

PAGES = ["/app/", "/app/admin/whatsapp", "/app/admin/whatsapp/messages", "/app/settings/notifications"]
PROD_SECRET = "a-real-production-secret-0123456789abcdef-0123"


async def _client(url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(upgrade, url)
    app = create_app(make_settings(url, **overrides))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tenant") as client:
        yield client
    await app.state.graph.aclose()
    await app.state.engine.dispose()


@pytest.fixture
async def dev_client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(sqlite_url, notification_service_public_url="http://127.0.0.1:8002/"):
        yield client


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_public_html_with_the_notification_url_and_strict_headers(dev_client, path):
    r = await dev_client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'data-notification-url="http://127.0.0.1:8002"' in r.text
    assert 'data-dev-login="true"' in r.text
    assert '<html lang="es">' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self' http://127.0.0.1:8002" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "{{" not in r.text
    # issue 17: each page names its icon, from its own origin (the CSP's img-src 'self' allows it)
    assert '<link rel="icon" href="/app/static/img/favicon.svg" type="image/svg+xml">' in r.text
    assert "img-src 'self'" in csp


async def test_the_favicon_is_served_at_its_link_and_at_favicon_ico(dev_client):
    linked = await dev_client.get("/app/static/img/favicon.svg")
    assert linked.status_code == 200 and linked.headers["content-type"].startswith("image/svg+xml")
    legacy = await dev_client.get("/favicon.ico")
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("image/svg+xml")
    assert legacy.content == linked.content and legacy.content.startswith(b"<svg")
    assert b"<script" not in legacy.content.lower()


async def test_static_files_and_the_app_redirect(dev_client):
    for path in [
        "/app/static/js/app.js",
        "/app/static/css/app.css",
        "/app/static/i18n/es.js",
        "/app/static/i18n/en.js",
    ]:
        r = await dev_client.get(path)
        assert r.status_code == 200, path
    assert (await dev_client.get("/app/static/js/nope.js")).status_code == 404
    r = await dev_client.get("/app", follow_redirects=False)
    assert r.status_code in (307, 308) and r.headers["location"].endswith("/app/")


async def test_dev_users_lists_the_admin_the_demo_bakeries_and_other_tenants(dev_client):
    from tests.helpers import Tokens

    created = await dev_client.post("/api/v1/tenants", json={"name": "Panadería Nueva"}, headers=Tokens().admin())
    assert created.status_code == 201
    users = (await dev_client.get("/app/dev/users")).json()
    assert users[0] == {"role": "admin", "tenant_id": None, "name": "Platform admin"}
    names = [u["name"] for u in users if u["role"] == "owner"]
    assert names[: len(DEMO_BAKERIES)] == [name for _, name in DEMO_BAKERIES]
    assert "Panadería Nueva" in names


async def test_dev_token_signs_admin_and_owner_tokens_that_the_apis_accept(dev_client):
    r = await dev_client.post("/app/dev/token", json={"role": "admin"})
    assert r.status_code == 200
    admin = r.json()["access_token"]
    assert jwt.decode(admin, TEST_JWT_SECRET, algorithms=["HS256"])["role"] == "admin"
    assert (await dev_client.get("/api/v1/tenants", headers={"Authorization": f"Bearer {admin}"})).status_code == 200

    tenant = (
        await dev_client.post("/api/v1/tenants", json={"name": "Horno"}, headers={"Authorization": f"Bearer {admin}"})
    ).json()
    r = await dev_client.post("/app/dev/token", json={"role": "owner", "tenant_id": tenant["id"]})
    assert r.status_code == 200
    owner = r.json()["access_token"]
    claims = jwt.decode(owner, TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["role"] == "owner" and claims["tenant_id"] == tenant["id"]
    settings = await dev_client.get(
        f"/api/v1/tenants/{tenant['id']}/settings/notifications", headers={"Authorization": f"Bearer {owner}"}
    )
    assert settings.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"role": "owner"}, 422),
        ({"role": "owner", "tenant_id": str(uuid.uuid4())}, 404),
        ({"role": "service"}, 422),
        ({"role": "admin", "extra": 1}, 422),
    ],
)
async def test_dev_token_refuses_bad_requests(dev_client, body, status):
    r = await dev_client.post("/app/dev/token", json=body)
    assert r.status_code == status, r.text
    assert "access_token" not in r.text


@pytest.mark.parametrize(
    "overrides",
    [
        {"environment": "production", "jwt_secret": PROD_SECRET},
        {"environment": "production", "jwt_secret": PROD_SECRET, "dev_login_enabled": True},
        {"environment": "development", "dev_login_enabled": False},
    ],
    ids=["production", "production-even-if-enabled", "disabled"],
)
async def test_dev_sign_in_does_not_exist_in_production_or_when_disabled(sqlite_url, overrides):
    async for client in _client(sqlite_url, **overrides):
        assert (await client.post("/app/dev/token", json={"role": "admin"})).status_code == 404
        assert (await client.get("/app/dev/users")).status_code == 404
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not [p for p in paths if p.startswith("/app")]
        page = await client.get("/app/")
        assert page.status_code == 200
        assert 'data-dev-login="false"' in page.text
