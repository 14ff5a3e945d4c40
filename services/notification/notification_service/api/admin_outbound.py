"""Admin routes of the events for the platform: list them (e.g. the dead ones) and re-drive a dead one."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from bakery_shared.auth import AdminPrincipal
from bakery_shared.db import transaction, utcnow
from notification_service.api.schemas_outbound import OutboundEventsOut, RedriveOut
from notification_service.runtime import RuntimeDep
from notification_service.services import outbound_events as service

router = APIRouter(prefix="/api/v1/admin/outbound-events", tags=["admin outbound events"])

Destination = Literal["http", "amqp"]


@router.get("", response_model=OutboundEventsOut)
async def list_events(
    _: AdminPrincipal,
    runtime: RuntimeDep,
    status: Annotated[
        Literal["pending", "delivered", "dead", "off"] | None,
        Query(description="only events with this delivery status (at `destination`, or at either)"),
    ] = None,
    destination: Destination | None = None,
    tenant_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OutboundEventsOut:
    """Events for the platform, newest first, with each destination's delivery state and last error."""
    async with runtime.sessions() as session:
        return await service.list_events(
            session, status=status, destination=destination, tenant_id=tenant_id, limit=limit
        )


@router.post(
    "/{event_id}/redrive",
    response_model=RedriveOut,
    responses={404: {"description": "No such event"}, 409: {"description": "Nothing dead to re-drive"}},
)
async def redrive(
    event_id: uuid.UUID, _: AdminPrincipal, runtime: RuntimeDep, destination: Destination | None = None
) -> RedriveOut:
    """Deliver a dead event again (at `destination`, or at every destination where it is dead), with a fresh count
    of attempts; the later events of its purchase order, which waited for it, follow."""
    async with transaction(runtime.sessions) as session:
        out = await service.redrive(session, event_id, destination=destination, now=utcnow())
    runtime.outbound.notify()
    return out
