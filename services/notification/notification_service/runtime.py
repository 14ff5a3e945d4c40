"""What one running API process holds, built once in the app's lifespan (:meth:`Runtime.build`).

Routes receive it through :data:`RuntimeDep`. Every member is always there; only the in-process dispatcher is
optional (``DISPATCHER_ENABLED=false``: a separate ``notification-dispatcher`` process sends instead). The webhook
applier is built always and started unless ``WEBHOOK_APPLIER_ENABLED=false`` (the stand-alone dispatchers apply).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

import httpx
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bakery_shared.db import create_engine, create_session_factory, report_statement_counts, utcnow
from bakery_shared.graph import GraphClient
from notification_service.accounts import Accounts
from notification_service.config import NotificationSettings
from notification_service.dispatch.worker import Dispatcher
from notification_service.domain.pricing import RateCard
from notification_service.domain.webhook_security import TokenBucket
from notification_service.outbound.worker import OutboundDelivery
from notification_service.services import webhook_applier
from notification_service.services.alert_ingestion import AlertIntake
from notification_service.services.ingestion import PurchaseOrderIntake
from notification_service.services.po_consumer import PurchaseOrderConsumer
from notification_service.services.pricing import RateCardStore
from notification_service.services.sync import WhatsAppSync
from notification_service.services.webhook_applier import WebhookApplier
from notification_service.services.webhook_receiver import WebhookReceiver
from notification_service.services.webhooks import WebhookProcessor
from notification_service.tenant_client import TenantSettingsClient
from notification_service.wakeup import Wakeup


@dataclass(frozen=True)
class Runtime:
    settings: NotificationSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tenants: TenantSettingsClient
    graph: GraphClient
    #: the WhatsApp accounts (issue 18): tokens per account, the directory webhooks and the sync go by
    accounts: Accounts
    wakeup: Wakeup
    rate_card: RateCard  # the base card; ``rates.card`` is the one in use (with the loaded rates)
    rates: RateCardStore
    intake: PurchaseOrderIntake
    webhooks: WebhookProcessor
    webhook_receiver: WebhookReceiver
    webhook_applier: WebhookApplier
    sync: WhatsAppSync
    dispatcher: Dispatcher | None  # None: DISPATCHER_ENABLED=false
    #: delivers the events for the platform (started when OUTBOUND_DELIVERY_ENABLED and a destination is set)
    outbound: OutboundDelivery
    #: the day the Graph API version's end date is checked against (readiness, admin API); tests pass a fixed day
    today: Callable[[], date]
    #: purchase orders from RabbitMQ; None: ``RABBITMQ_URL`` not set (HTTP only)
    po_consumer: PurchaseOrderConsumer | None = None
    #: the staff alert kinds' events (issue 17: domain/kinds.py)
    alerts: AlertIntake | None = None

    @classmethod
    def build(
        cls,
        settings: NotificationSettings,
        *,
        graph_transport: httpx.AsyncBaseTransport | None = None,
        tenant_transport: httpx.AsyncBaseTransport | None = None,
        today: Callable[[], date] | None = None,
    ) -> Runtime:
        """Create every member (nothing runs yet: :meth:`start`). The transports and ``today`` are for tests."""
        engine = create_engine(settings.notification_database_url)
        sessions = create_session_factory(engine)
        wakeup = Wakeup()
        graph = GraphClient.from_settings(settings, transport=graph_transport)
        tenants = TenantSettingsClient(settings, transport=tenant_transport)
        accounts = Accounts(settings, graph, tenants)
        dispatcher = (
            Dispatcher(
                settings,
                engine=engine,
                session_factory=sessions,
                graph=graph,
                tenant_client=tenants,
                wakeup=wakeup,
                accounts=accounts,
            )
            if settings.dispatcher_enabled
            else None
        )
        outbound = OutboundDelivery(settings, sessions)

        def changed() -> None:  # a webhook batch may have lifted holds (dispatcher) and stored events (outbound)
            wakeup.notify()
            outbound.notify()

        parts = webhook_applier.build(
            settings,
            engine=engine,
            sessions=sessions,
            graph=graph,
            accounts=accounts,
            on_change=changed,
            on_sync_change=wakeup.notify,
        )
        webhooks, applier = parts.processor, parts.applier
        intake = PurchaseOrderIntake(sessions, notify_other_processes=settings.dispatch_listen_notify)
        alerts = AlertIntake(sessions, tenants, notify_other_processes=settings.dispatch_listen_notify)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            tenants=tenants,
            graph=graph,
            accounts=accounts,
            wakeup=wakeup,
            rate_card=parts.rate_card,
            rates=parts.rates,
            intake=intake,
            webhooks=webhooks,
            webhook_receiver=WebhookReceiver(
                webhooks,
                app_secret=settings.whatsapp_app_secret.get_secret_value(),
                verify_token=settings.whatsapp_webhook_verify_token.get_secret_value(),
                bucket=TokenBucket(settings.whatsapp_webhook_rate_per_second, settings.whatsapp_webhook_burst),
                on_stored=applier.notify if settings.webhook_applier_enabled else None,
            ),
            webhook_applier=applier,
            sync=parts.sync,
            dispatcher=dispatcher,
            outbound=outbound,
            today=today or _utc_today,
            alerts=alerts,
            po_consumer=PurchaseOrderConsumer(settings, intake, on_created=wakeup.notify, alerts=alerts)
            if settings.rabbitmq_url.get_secret_value()
            else None,
        )

    def start(self) -> None:
        """Start the background work: the webhook applier (unless ``WEBHOOK_APPLIER_ENABLED=false``: other
        processes apply), the in-process dispatcher and (when enabled) the
        periodic sync, the delivery of events for the platform and (with ``RABBITMQ_URL``) the purchase-order
        consumer, which connects in the background."""
        self.rates.start()
        if self.settings.webhook_applier_enabled:
            self.webhook_applier.start()
        if self.dispatcher is not None:
            self.dispatcher.start()
        if self.settings.whatsapp_sync_enabled:
            self.sync.start()
        if self.po_consumer is not None:
            self.po_consumer.start()
        if self.settings.outbound_delivery_enabled:
            self.outbound.start()

    async def aclose(self) -> None:
        if self.po_consumer is not None:
            await self.po_consumer.stop()  # before the intake it writes through
        await self.webhooks.aclose()  # bodies still being stored are written
        await self.webhook_applier.stop()
        await self.sync.stop()
        await self.rates.stop()
        await self.intake.aclose()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.outbound.aclose()
        await self.graph.aclose()
        await self.tenants.aclose()
        await self.engine.dispose()
        report_statement_counts()

    @property
    def notify_other_processes(self) -> bool:
        return self.settings.dispatch_listen_notify


def _utc_today() -> date:
    return utcnow().date()


async def get_runtime(request: Request) -> Runtime:
    """async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop on every request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


#: The running service's members, for a route: ``runtime: RuntimeDep``.
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
