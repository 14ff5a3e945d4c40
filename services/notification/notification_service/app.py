"""``notification_service.app:create_app(settings=None)``: the notification service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bakery_shared.graph_versions import version_status
from bakery_shared.http import create_service_app
from notification_service import metrics
from notification_service.api import (
    admin_outbound,
    admin_whatsapp,
    events,
    health,
    internal,
    kinds,
    messages,
    supplier_replies,
    tenants,
    webhooks,
)
from notification_service.config import NotificationSettings
from notification_service.runtime import Runtime
from notification_service.services.webhook_retention import WebhookRetention

log = logging.getLogger("notification.whatsapp.app")


def create_app(
    settings: NotificationSettings | None = None,
    *,
    graph_transport: httpx.AsyncBaseTransport | None = None,
    tenant_transport: httpx.AsyncBaseTransport | None = None,
    today: Callable[[], date] | None = None,
) -> FastAPI:
    """Build the app. The transports are for tests (e.g. an ``httpx.ASGITransport`` onto a fake), and so is
    ``today`` (the day the Graph API version's end is checked against; default: today, UTC)."""
    settings = settings or NotificationSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(
            settings, graph_transport=graph_transport, tenant_transport=tenant_transport, today=today
        )
        runtime.start()
        retention = WebhookRetention(
            runtime.sessions,
            retention_days=settings.whatsapp_webhook_retention_days,
            interval_seconds=settings.whatsapp_webhook_retention_interval_seconds,
        )
        stopping = asyncio.Event()
        sweeper = asyncio.create_task(_sweep_webhooks(runtime, retention, stopping), name="webhook-sweeper")
        if not settings.whatsapp_app_secret.get_secret_value():
            log.warning("WHATSAPP_APP_SECRET is not configured: every webhook POST is refused (503)")
        missing = settings.missing_master_account_variables()
        if missing:
            log.warning("WhatsApp master account not configured: missing %s", ", ".join(missing))
        version = version_status(settings.whatsapp_api_version, runtime.today())
        if version.message:
            (log.warning if version.ok else log.error)("%s", version.message)
        app.state.runtime = runtime
        try:
            yield
        finally:
            # let a sweep in progress finish its transaction: cancelling a query mid-flight can leave the
            # connection hanging at shutdown; cancel only if it does not finish in time
            stopping.set()
            try:
                await asyncio.wait_for(sweeper, timeout=10)
            except TimeoutError:
                log.warning("the webhook sweeper did not stop in 10 s; cancelled")
            await runtime.aclose()

    app = create_service_app(
        title="Notification service",
        max_body_bytes=settings.max_body_bytes,
        # Meta's webhook payloads can be up to 3 MB; every other route keeps MAX_BODY_BYTES (one middleware)
        body_limits={webhooks.WEBHOOK_PATH: settings.whatsapp_webhook_max_body_bytes},
        lifespan=lifespan,
        description="Purchase-order events in, WhatsApp template messages out (shared master account).",
        service_name="notification-service",
        before_scrape=metrics.refresh_queue_gauges_before_scrape,  # queue depth/age and holds, read at scrape time
    )
    app.state.settings = settings  # read by bakery_shared.auth
    if settings.notification_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.notification_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Content-Disposition"],  # the PDF download keeps its file name
            allow_credentials=False,
            max_age=600,
        )
    # the webhook routes first: Meta calls them about three times per message, and routes are matched in order
    webhooks.install(app)
    events.install(app)  # the other hot route
    app.include_router(health.router)
    app.include_router(messages.router)
    app.include_router(kinds.router)
    app.include_router(tenants.router)
    app.include_router(admin_whatsapp.router)
    app.include_router(admin_whatsapp.tenant_router)
    app.include_router(admin_outbound.router)
    app.include_router(supplier_replies.tenant_router)
    app.include_router(supplier_replies.admin_router)
    app.include_router(internal.router)
    return app


async def _sweep_webhooks(runtime: Runtime, retention: WebhookRetention, stopping: asyncio.Event) -> None:
    """Remove old webhook events (``WHATSAPP_WEBHOOK_RETENTION_DAYS``, every
    ``WHATSAPP_WEBHOOK_RETENTION_INTERVAL_SECONDS``); applying them is the applier's (``runtime.webhook_applier``)."""
    interval = runtime.settings.whatsapp_webhook_sweep_interval_seconds
    while not stopping.is_set():
        try:
            await retention.run_if_due()
        except Exception:  # noqa: BLE001 - retried next round
            log.exception("webhook retention failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
