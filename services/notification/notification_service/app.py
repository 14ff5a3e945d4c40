"""``notification_service.app:create_app(settings=None)``: the notification service's ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bakery_shared.db import create_engine, create_session_factory
from bakery_shared.graph import GraphClient
from bakery_shared.http import create_service_app
from notification_service.api import events, health, messages, tenants
from notification_service.config import NotificationSettings
from notification_service.dispatcher import Dispatcher
from notification_service.runtime import Runtime
from notification_service.tenant_client import TenantSettingsClient
from notification_service.wakeup import Wakeup

log = logging.getLogger("notification.app")


def create_app(
    settings: NotificationSettings | None = None,
    *,
    graph_transport: httpx.AsyncBaseTransport | None = None,
    tenant_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the app. The transports are for tests (e.g. an ``httpx.ASGITransport`` onto a fake)."""
    settings = settings or NotificationSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.notification_database_url)
        sessions = create_session_factory(engine)
        wakeup = Wakeup()
        graph = GraphClient.from_settings(settings, transport=graph_transport)
        tenant_client = TenantSettingsClient(settings, transport=tenant_transport)
        runtime = Runtime(
            settings=settings, engine=engine, sessions=sessions, tenants=tenant_client, graph=graph, wakeup=wakeup
        )
        if settings.dispatcher_enabled:
            runtime.dispatcher = Dispatcher(
                settings,
                engine=engine,
                session_factory=sessions,
                graph=graph,
                tenant_client=tenant_client,
                wakeup=wakeup,
            )
            runtime.dispatcher.start()
        missing = settings.missing_master_account_variables()
        if missing:
            log.warning("WhatsApp master account not configured: missing %s", ", ".join(missing))
        app.state.runtime = runtime
        try:
            yield
        finally:
            if runtime.dispatcher is not None:
                await runtime.dispatcher.stop()
            await graph.aclose()
            await tenant_client.aclose()
            await engine.dispose()

    app = create_service_app(
        title="Notification service",
        max_body_bytes=settings.max_body_bytes,
        lifespan=lifespan,
        description="Purchase-order events in, WhatsApp template messages out (shared master account).",
        service_name="notification-service",
    )
    app.state.settings = settings  # read by bakery_shared.auth
    if settings.notification_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.notification_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            allow_credentials=False,
            max_age=600,
        )
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(messages.router)
    app.include_router(tenants.router)
    return app
