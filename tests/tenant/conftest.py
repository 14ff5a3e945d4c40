from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from bakery_shared.graph_versions import DEFAULT_GRAPH_API_VERSION
from tenant_service.app import create_app
from tenant_service.config import TenantSettings
from tenant_service.migrate import upgrade
from tests.helpers import TEST_JWT_SECRET, Tokens

GRAPH = "https://graph.test"
WABA = "100000000000001"
VERSION = DEFAULT_GRAPH_API_VERSION


def graph_number(i: int, quality: str = "GREEN") -> dict[str, Any]:
    return {
        "id": f"20000000000000{i}",
        "display_phone_number": f"+34 612 345 67{i}",
        "verified_name": f"Demo Bakery {i}",
        "quality_rating": quality,
        "status": "CONNECTED",
        "name_status": "APPROVED",
        "throughput": {"level": "STANDARD"},
        "whatsapp_business_manager_messaging_limit": "TIER_2K",
    }


NUMBERS = [graph_number(i) for i in range(1, 6)]


def mock_phone_numbers(router: respx.Router, numbers: list[dict[str, Any]] = NUMBERS) -> respx.Route:
    """Two pages, like Meta's cursor paging, to prove the client follows ``paging.next``."""
    first, second = numbers[:3], numbers[3:]
    url = f"{GRAPH}/{VERSION}/{WABA}/phone_numbers"
    next_url = f"{url}?limit=3&after=CURSOR2"

    def responder(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("after") == "CURSOR2":
            return httpx.Response(200, json={"data": second, "paging": {"cursors": {"before": "CURSOR2"}}})
        return httpx.Response(200, json={"data": first, "paging": {"cursors": {"after": "CURSOR2"}, "next": next_url}})

    return router.get(url).mock(side_effect=responder)


def make_settings(database_url: str, **overrides: Any) -> TenantSettings:
    values: dict[str, Any] = {
        "tenant_database_url": database_url,
        "environment": "test",
        "jwt_secret": TEST_JWT_SECRET,
        "whatsapp_graph_url": GRAPH,
        "whatsapp_api_version": VERSION,
        "whatsapp_business_account_id": WABA,
        "whatsapp_access_token": "test-master-token",
        "phone_numbers_cache_seconds": 0,
    }
    values.update(overrides)
    return TenantSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def graph() -> respx.Router:
    with respx.mock(assert_all_called=False) as router:
        mock_phone_numbers(router)
        yield router


async def _client(settings: TenantSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tenant") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await app.state.graph.aclose()
    await app.state.engine.dispose()


@pytest.fixture
async def client(database_url: str, graph: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    """The tenant service on a migrated database, once on SQLite and once on PostgreSQL."""
    await asyncio.to_thread(upgrade, database_url)
    async for c in _client(make_settings(database_url)):
        yield c


@pytest.fixture
async def sqlite_client(sqlite_url: str, graph: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(upgrade, sqlite_url)
    async for c in _client(make_settings(sqlite_url)):
        yield c


async def new_tenant(client: httpx.AsyncClient, tokens: Tokens, name: str = "Panadería Sol") -> str:
    response = await client.post("/api/v1/tenants", json={"name": name}, headers=tokens.admin())
    assert response.status_code == 201, response.text
    return response.json()["id"]
