"""Authorization matrix over every route of every service, read from their OpenAPI schemas.

Each (method, path) must have a rule here; a new route without one fails ``test_every_route_has_a_rule``.
For each route: no token → 401, an expired token or one signed with another secret → 401, every role the rule
does not allow → 403, and for owner routes another tenant's owner → 403/404 without data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bakery_shared.auth import Role
from tests.helpers import TEST_JWT_SECRET, Tokens

PUBLIC = frozenset()  # no token needed
ADMIN = frozenset({Role.ADMIN})
OWNER_OR_ADMIN = frozenset({Role.ADMIN, Role.OWNER})
SERVICE = frozenset({Role.SERVICE})
ADMIN_OR_SERVICE = frozenset({Role.ADMIN, Role.SERVICE})

TENANT_RULES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): ADMIN_OR_SERVICE,
    ("POST", "/api/v1/tenants"): ADMIN,
    ("GET", "/api/v1/tenants"): ADMIN,
    ("GET", "/api/v1/tenants/{tenant_id}"): OWNER_OR_ADMIN,
    ("GET", "/api/v1/tenants/{tenant_id}/settings/notifications"): OWNER_OR_ADMIN,
    ("PUT", "/api/v1/tenants/{tenant_id}/settings/notifications"): OWNER_OR_ADMIN,
    ("GET", "/api/v1/admin/whatsapp/phone-numbers"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/tenants"): ADMIN,
    ("POST", "/api/v1/admin/whatsapp/tenants/{tenant_id}/assign-phone"): ADMIN,
    ("DELETE", "/api/v1/admin/whatsapp/tenants/{tenant_id}/unassign-phone"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/audit"): ADMIN,
    ("GET", "/internal/v1/tenants/{tenant_id}/notification-settings"): SERVICE,
    ("GET", "/internal/v1/whatsapp/phone-numbers/{phone_number_id}/tenant"): SERVICE,
    # issue 18: WhatsApp Business Accounts
    ("GET", "/api/v1/admin/whatsapp/accounts"): ADMIN,
    ("POST", "/api/v1/admin/whatsapp/accounts"): ADMIN,
    ("POST", "/api/v1/admin/whatsapp/accounts/embedded-signup"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/accounts/audit"): ADMIN,
    ("POST", "/api/v1/admin/whatsapp/accounts/{waba_id}/retire"): ADMIN,
    ("GET", "/internal/v1/whatsapp/accounts"): SERVICE,
    # Dev sign-in of the web pages: public on purpose (it hands out demo tokens), and registered only when
    # DEV_LOGIN_ENABLED is true and ENVIRONMENT is not production (404 there; tests/browser/test_pages_http.py).
    # The pages themselves (/app/..., /app/static/...) hold no data and are left out of OpenAPI.
    ("GET", "/app/dev/users"): PUBLIC,
    ("POST", "/app/dev/token"): PUBLIC,
}


async def tenant_app(tmp_path) -> AsyncIterator[Any]:
    from tenant_service.app import create_app
    from tenant_service.migrate import upgrade
    from tests.tenant.conftest import make_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'tenant.db'}"
    await asyncio.to_thread(upgrade, url)
    app = create_app(make_settings(url))
    yield app
    await app.state.graph.aclose()
    await app.state.engine.dispose()


NOTIFICATION_RULES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): ADMIN_OR_SERVICE,
    ("POST", "/api/v1/events/purchase-orders"): SERVICE,
    ("POST", "/api/v1/events/inventory-alerts"): SERVICE,
    ("POST", "/api/v1/events/production-alerts"): SERVICE,
    ("GET", "/api/v1/messages"): OWNER_OR_ADMIN,
    ("GET", "/api/v1/message-kinds"): OWNER_OR_ADMIN,
    ("GET", "/api/v1/messages/{message_id}"): OWNER_OR_ADMIN,
    ("GET", "/api/v1/messages/{message_id}/document"): OWNER_OR_ADMIN,
    ("POST", "/api/v1/messages/{message_id}/retry"): ADMIN,
    ("POST", "/api/v1/tenants/{tenant_id}/whatsapp/test-message"): OWNER_OR_ADMIN,
    # issue 5: Meta's webhook is public on purpose; POSTs are authenticated by X-Hub-Signature-256 instead
    # (tests/notification/test_webhooks.py), the GET by hub.verify_token.
    ("GET", "/api/v1/whatsapp/webhook"): PUBLIC,
    ("POST", "/api/v1/whatsapp/webhook"): PUBLIC,
    ("GET", "/api/v1/admin/whatsapp/quality"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/templates"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/costs"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/usage"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/rates"): ADMIN,
    ("PUT", "/api/v1/admin/whatsapp/rates"): ADMIN,
    ("POST", "/api/v1/admin/whatsapp/holds/{phone_number_id}/release"): ADMIN,
    ("POST", "/api/v1/admin/whatsapp/sync"): ADMIN,
    # issue 15: accept a re-categorised template; the Graph API version and its end date
    ("POST", "/api/v1/admin/whatsapp/templates/{name}/{language}/release"): ADMIN,
    ("GET", "/api/v1/admin/whatsapp/api-version"): ADMIN,
    # issue 17: templates managed from here (plan against the WABA, submit the missing ones)
    ("GET", "/api/v1/admin/whatsapp/templates/plan"): ADMIN,
    ("POST", "/api/v1/admin/whatsapp/templates/submit"): ADMIN,
    ("GET", "/api/v1/tenants/{tenant_id}/whatsapp/costs"): OWNER_OR_ADMIN,
    ("GET", "/api/v1/tenants/{tenant_id}/whatsapp/usage"): OWNER_OR_ADMIN,
    # issue 15: a bakery's share of the portfolio's new recipients; suppliers Meta could not deliver to (131026)
    ("PUT", "/api/v1/admin/whatsapp/tenants/{tenant_id}/recipient-share"): ADMIN,
    ("GET", "/api/v1/tenants/{tenant_id}/whatsapp/unreachable"): OWNER_OR_ADMIN,
    ("DELETE", "/api/v1/tenants/{tenant_id}/whatsapp/unreachable/{recipient_phone}"): OWNER_OR_ADMIN,
    # issue 16: suppliers who opted out of a bakery's messages; every inbound message (admin's log)
    ("GET", "/api/v1/tenants/{tenant_id}/whatsapp/opted-out"): OWNER_OR_ADMIN,
    ("GET", "/api/v1/admin/whatsapp/inbound"): ADMIN,
    # issue 13: the tenant service reports a changed tenant (cache invalidation)
    ("POST", "/internal/v1/tenants/{tenant_id}/settings-changed"): SERVICE,
    ("POST", "/internal/v1/whatsapp/accounts-changed"): SERVICE,
    # issue 16: the events for the platform: list them, re-drive a dead one
    ("GET", "/api/v1/admin/outbound-events"): ADMIN,
    ("POST", "/api/v1/admin/outbound-events/{event_id}/redrive"): ADMIN,
}


async def notification_app(tmp_path) -> AsyncIterator[Any]:
    from asgi_lifespan import LifespanManager

    from notification_service.app import create_app
    from notification_service.config import NotificationSettings
    from notification_service.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = NotificationSettings(
        _env_file=None,
        notification_database_url=url,
        environment="test",
        jwt_secret=TEST_JWT_SECRET,
        dispatcher_enabled=False,
        tenant_service_url="http://127.0.0.1:9",
        whatsapp_graph_url="http://127.0.0.1:9",
    )
    app = create_app(settings)
    async with LifespanManager(app):
        yield app


SERVICES: dict[str, tuple[Callable[..., AsyncIterator[Any]], dict[tuple[str, str], frozenset[Role]]]] = {
    "tenant": (tenant_app, TENANT_RULES),
    "notification": (notification_app, NOTIFICATION_RULES),
}


#: Valid bodies, so that the other-tenant check reaches the access rule instead of stopping at validation.
SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/tenants/{tenant_id}/whatsapp/test-message"): {"to": "+34612345678"},
    ("PUT", "/api/v1/tenants/{tenant_id}/settings/notifications"): {"whatsapp_enabled": False},
}


def operations(app: Any) -> list[tuple[str, str]]:
    schema = app.openapi()
    ops = []
    for path, item in schema["paths"].items():
        for method in item:
            if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                ops.append((method.upper(), path))
    return ops


def concrete(path: str, tenant_id: str) -> str:
    return (
        path.replace("{tenant_id}", tenant_id)
        .replace("{phone_number_id}", "200000000000001")
        .replace("{message_id}", str(uuid.uuid4()))
        .replace("{notification_id}", str(uuid.uuid4()))
        .replace("{name}", "po_notification")
        .replace("{language}", "es")
        .replace("{recipient_phone}", "+34600000111")
        .replace("{event_id}", str(uuid.uuid4()))
    )


@pytest.fixture(params=sorted(SERVICES))
async def service_app(request, tmp_path):
    factory, rules = SERVICES[request.param]
    async for app in factory(tmp_path):
        yield app, rules


async def test_every_route_has_a_rule(service_app):
    app, rules = service_app
    missing = [op for op in operations(app) if op not in rules]
    assert not missing, f"routes without an authorization rule in tests/test_auth_matrix.py: {missing}"
    stale = [op for op in rules if op not in operations(app)]
    assert not stale, f"rules for routes that no longer exist: {stale}"


async def test_matrix(service_app):
    app, rules = service_app
    tokens = Tokens()
    tenant = str(uuid.uuid4())
    other_tenant = str(uuid.uuid4())
    by_role = {Role.ADMIN: tokens.admin(), Role.OWNER: tokens.owner(tenant), Role.SERVICE: tokens.service()}
    failures: list[str] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        for method, path in operations(app):
            allowed = rules[(method, path)]
            if not allowed:
                continue
            url = concrete(path, tenant)
            body = SAMPLE_BODIES.get((method, path), {}) if method in {"POST", "PUT", "PATCH"} else None

            async def call(headers: dict[str, str], url: str = url, method: str = method, body: Any = body):
                return await client.request(method, url, json=body, headers=headers)

            for label, headers in [
                ("no token", {}),
                ("garbage token", {"Authorization": "Bearer not-a-jwt"}),
                ("expired", tokens.expired()),
                ("foreign secret", tokens.foreign()),
            ]:
                r = await call(headers)
                if r.status_code != 401:
                    failures.append(f"{method} {path} {label}: {r.status_code} (want 401)")
            for role, headers in by_role.items():
                if role in allowed:
                    continue
                r = await call(headers)
                if r.status_code != 403:
                    failures.append(f"{method} {path} role {role}: {r.status_code} (want 403)")
            if Role.OWNER in allowed and "{tenant_id}" in path:
                r = await call(tokens.owner(other_tenant))
                if r.status_code not in (403, 404) or set(r.json()) - {"detail", "code"}:
                    failures.append(f"{method} {path} other tenant's owner: {r.status_code} {r.text[:80]}")
    assert not failures, "\n".join(failures)
