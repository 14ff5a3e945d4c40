"""Tenant service application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bakery_shared.db import create_engine, create_session_factory
from bakery_shared.graph import GraphClient
from bakery_shared.http import create_service_app
from bakery_shared.logging import configure_logging
from tenant_service.account_service import AccountService
from tenant_service.api import admin_accounts, admin_whatsapp, health, internal, pages, tenants
from tenant_service.config import TenantSettings
from tenant_service.notifier import SettingsChangeNotifier
from tenant_service.phone_directory import PhoneDirectory
from tenant_service.services import TenantService


def create_app(settings: TenantSettings | None = None) -> FastAPI:
    settings = settings or TenantSettings()
    engine = create_engine(settings.tenant_database_url)
    graph = GraphClient.from_settings(settings)
    notifier = SettingsChangeNotifier(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await graph.aclose()
            await notifier.aclose()
            await engine.dispose()

    app = create_service_app(
        title="Tenant service",
        description=(
            "Tenants, their settings, the WhatsApp Business Accounts and the assignment of their phone numbers."
        ),
        max_body_bytes=settings.max_body_bytes,
        lifespan=lifespan,
        service_name="tenant-service",
    )
    app.state.settings = settings
    app.state.graph = graph
    app.state.engine = engine
    app.state.notifier = notifier
    sessions = create_session_factory(engine)
    directory = PhoneDirectory(settings, graph)
    app.state.service = TenantService(sessions, directory, notifier)
    app.state.accounts = AccountService(sessions, directory, app.state.service, settings)
    for module in (health, tenants, admin_accounts, admin_whatsapp, internal):
        app.include_router(module.router)
    pages.install(app, settings)  # web pages under /app/ (and the dev sign-in outside production)
    return app


def main() -> None:
    import uvicorn

    settings = TenantSettings()
    configure_logging(
        settings.log_level,
        secrets=[settings.jwt_secret.get_secret_value(), settings.whatsapp_access_token.get_secret_value()],
        service="tenant-service",
    )
    uvicorn.run(
        create_app(settings),
        host=settings.tenant_host,
        port=settings.tenant_port,
        log_config=None,
        access_log=False,  # the shared middleware writes one JSON access line per request
    )
