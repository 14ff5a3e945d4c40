"""The runtime is built once, with every member present; only the in-process dispatcher may be absent."""

from __future__ import annotations

import dataclasses

import pytest

from bakery_shared.graph import GraphClient
from notification_service.domain.pricing import RateCard
from notification_service.runtime import Runtime
from notification_service.services.sync import WhatsAppSync
from notification_service.services.webhook_receiver import WebhookReceiver
from notification_service.services.webhooks import WebhookProcessor

from .conftest import EnvFactory, migrate
from .helpers import make_settings


async def test_built_without_a_dispatcher(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url)
    runtime = env.app.state.runtime
    assert isinstance(runtime, Runtime)
    assert isinstance(runtime.webhooks, WebhookProcessor)
    assert isinstance(runtime.webhook_receiver, WebhookReceiver)
    assert isinstance(runtime.sync, WhatsAppSync)
    assert isinstance(runtime.rate_card, RateCard)
    assert isinstance(runtime.graph, GraphClient)
    assert runtime.dispatcher is None  # DISPATCHER_ENABLED=false
    with pytest.raises(dataclasses.FrozenInstanceError):
        runtime.sync = None  # built once: nothing swaps a member afterwards


async def test_start_and_close_with_a_dispatcher(sqlite_url: str) -> None:
    await migrate(sqlite_url)
    runtime = Runtime.build(make_settings(sqlite_url, dispatcher_enabled=True))
    assert runtime.dispatcher is not None and not runtime.dispatcher.running
    runtime.start()
    assert runtime.dispatcher.running
    await runtime.aclose()
    assert not runtime.dispatcher.running
