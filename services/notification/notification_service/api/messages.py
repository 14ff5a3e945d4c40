"""The message log: list, detail (with attempts), admin re-drive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from bakery_shared.auth import AdminOrOwner, AdminPrincipal
from notification_service.api.schemas import AcceptedOut, AttemptOut, MessageDetailOut, MessageOut, MessagePage
from notification_service.domain.statuses import MessageStatus
from notification_service.runtime import RuntimeDep
from notification_service.services import messages as service

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])


@router.get("", response_model=MessagePage)
async def list_messages(
    principal: AdminOrOwner,
    runtime: RuntimeDep,
    tenant_id: uuid.UUID | None = None,
    status: MessageStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=256, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    kind: Annotated[
        str | None, Query(max_length=32, description="only this kind (purchase_order, inventory_alert, …)")
    ] = None,
) -> MessagePage:
    rows, next_cursor = await service.list_messages(
        runtime.sessions,
        principal,
        tenant_id=tenant_id,
        status=status,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
        kind=kind,
    )
    return MessagePage(items=[MessageOut.from_row(r) for r in rows], next_cursor=next_cursor)


@router.get("/{message_id}", response_model=MessageDetailOut)
async def get_message(message_id: uuid.UUID, principal: AdminOrOwner, runtime: RuntimeDep) -> MessageDetailOut:
    row, attempts = await service.get_message(runtime.sessions, principal, message_id)
    detail = MessageDetailOut.from_row(row)
    detail.attempt_log = [AttemptOut.model_validate({k: a.get(k) for k in AttemptOut.model_fields}) for a in attempts]
    return detail


@router.get(
    "/{message_id}/document",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the purchase order's PDF",
        }
    },
)
async def get_message_document(message_id: uuid.UUID, principal: AdminOrOwner, runtime: RuntimeDep) -> Response:
    """The purchase order's PDF the supplier got (admin, or the owner of the message's bakery); 404 when the
    message has none (an event without lines)."""
    filename, pdf = await service.message_document(runtime.sessions, principal, message_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/{message_id}/retry", status_code=202, response_model=AcceptedOut)
async def retry_message(message_id: uuid.UUID, principal: AdminPrincipal, runtime: RuntimeDep) -> AcceptedOut:
    row = await service.retry_message(runtime.sessions, principal, message_id)
    runtime.wakeup.notify()
    return AcceptedOut(notification_id=row["id"], status=row["status"])
