"""What one running service holds: settings, database, clients, wake-up signal, optional in-process dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bakery_shared.graph import GraphClient
from notification_service.config import NotificationSettings
from notification_service.dispatcher import Dispatcher
from notification_service.tenant_client import TenantSettingsClient
from notification_service.wakeup import Wakeup

if TYPE_CHECKING:
    from notification_service.domain.pricing import RateCard
    from notification_service.services.sync import WhatsAppSync
    from notification_service.services.webhook_receiver import WebhookReceiver
    from notification_service.services.webhooks import WebhookProcessor


@dataclass
class Runtime:
    settings: NotificationSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tenants: TenantSettingsClient
    graph: GraphClient
    wakeup: Wakeup
    dispatcher: Dispatcher | None = None
    webhooks: WebhookProcessor | None = None
    webhook_receiver: WebhookReceiver | None = None
    sync: WhatsAppSync | None = None
    rate_card: RateCard | None = None

    @property
    def notify_other_processes(self) -> bool:
        return self.settings.dispatch_listen_notify


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
