"""Fixtures for the notification service: a migrated real database, the app in-process, fakes at the edges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from notification_service.app import create_app
from notification_service.config import NotificationSettings
from notification_service.dispatch.worker import Dispatcher
from notification_service.migrate import upgrade

from .helpers import FakeGraph, FakeTenantService, make_settings, token


async def migrate(url: str) -> str:
    await asyncio.to_thread(upgrade, url)
    return url


@dataclass
class Env:
    settings: NotificationSettings
    tenants: FakeTenantService
    graph: FakeGraph
    app: FastAPI
    client: httpx.AsyncClient
    dispatchers: list[Dispatcher] = field(default_factory=list)

    def dispatcher(self, **kwargs: Any) -> Dispatcher:
        settings = kwargs.pop("settings", self.settings)
        d = Dispatcher(
            settings,
            graph_transport=self.graph.transport(),
            tenant_transport=self.tenants.transport(),
            **kwargs,
        )
        self.dispatchers.append(d)
        return d

    async def post_event(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(
            "/api/v1/events/purchase-orders", json=body, headers=headers or token(self.settings, "service")
        )

    async def ready(self, role: str | None = "admin") -> httpx.Response:
        """``GET /health/ready``: with every detail for an admin (or service) token, the summary without one."""
        return await self.client.get("/health/ready", headers=token(self.settings, role) if role else None)

    async def message(self, message_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/messages/{message_id}", headers=token(self.settings, "admin"))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


EnvFactory = Callable[..., Awaitable[Env]]


@pytest.fixture
async def make_env() -> AsyncIterator[EnvFactory]:
    stack: list[tuple[Env, LifespanManager]] = []

    async def factory(url: str, **overrides: Any) -> Env:
        await migrate(url)
        settings = make_settings(url, **overrides)
        tenants = FakeTenantService()
        graph = FakeGraph()
        app = create_app(settings, graph_transport=graph.transport(), tenant_transport=tenants.transport())
        manager = LifespanManager(app)
        await manager.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://notification")
        env = Env(settings=settings, tenants=tenants, graph=graph, app=app, client=client)
        stack.append((env, manager))
        return env

    yield factory
    for env, manager in reversed(stack):
        for d in env.dispatchers:
            await d.aclose()
        await env.client.aclose()
        await manager.__aexit__(None, None, None)


@pytest.fixture
async def env(make_env: EnvFactory, sqlite_url: str) -> Env:
    return await make_env(sqlite_url)


@pytest.fixture
async def any_env(make_env: EnvFactory, database_url: str) -> Env:
    """The same test on a real SQLite file and on a real PostgreSQL database."""
    return await make_env(database_url)


@pytest.fixture
async def pg_env(make_env: EnvFactory, postgres_url: str) -> Env:
    return await make_env(postgres_url)
