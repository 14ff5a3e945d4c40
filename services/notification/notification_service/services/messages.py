"""Reading the message log and re-driving failed messages (tenant isolation enforced here)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.auth import MAX_SUB_LENGTH, Principal, Role, ensure_tenant_access
from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import Conflict, InvalidInput, NotFound
from notification_service import metrics
from notification_service.domain import po_document, templates, transitions
from notification_service.domain.statuses import MessageStatus
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import supplier_replies as replies_repo


def encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["created_at"].isoformat(), str(row["id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, message_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(created)
        return (when if when.tzinfo else when.replace(tzinfo=UTC)), str(uuid.UUID(message_id))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("is not a cursor returned by this API", field="cursor") from exc


#: Columns only an admin is shown. The business-scoped user ID is the same for one supplier across every bakery of
#: the portfolio (Meta page "Business-scoped user IDs"), so a bakery owner who saw it could recognise that its
#: supplier also supplies other bakeries: owners never get it, not even on their own messages.
#: The account (WABA) a message went out from is the platform's business (issue 18): admins only as well.
ADMIN_ONLY_COLUMNS = ("recipient_user_id", "waba_id")


def shown_to(principal: Principal, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without the columns ``principal`` may not see."""
    if principal.role is Role.ADMIN:
        return row
    return {key: value for key, value in row.items() if key not in ADMIN_ONLY_COLUMNS}


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def list_messages(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    tenant_id: uuid.UUID | None,
    status: MessageStatus | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
    kind: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Admins see every tenant (optionally filtered); an owner only ever its own tenant."""
    if principal.role is Role.OWNER:
        if tenant_id is not None:
            ensure_tenant_access(principal, tenant_id)
        tenant_id = principal.tenant_id
    after = decode_cursor(cursor) if cursor else None
    async with sessions() as session:
        rows = await messages_repo.list_messages(
            session,
            tenant_id=tenant_id,
            status=status.value if status else None,
            since=_aware(since),
            until=_aware(until),
            after=after,
            limit=limit + 1,
            kind=kind,
        )
        page = [shown_to(principal, m.as_dict()) for m in rows[:limit]]
        await _with_replies(session, principal, page)
    next_cursor = encode_cursor(page[limit - 1]) if len(rows) > limit else None
    return page, next_cursor


async def _with_replies(session: AsyncSession, principal: Principal, rows: list[dict[str, Any]]) -> None:
    """Add each message's supplier decision and the inbound messages linked to it (issue 16)."""
    ids = [row["id"] for row in rows]
    decisions = await replies_repo.decisions_for(session, ids)
    replies: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for reply in await replies_repo.replies_for(session, ids):
        if reply.message_id is not None:
            replies.setdefault(reply.message_id, []).append(inbound_shown_to(principal, reply))
    for row in rows:
        decision = decisions.get(row["id"])
        row["supplier_decision"] = (
            {
                "decision": decision.decision,
                "decided_at": decision.decided_at,
                "ack_message_id": decision.ack_message_id,
                "ack_skipped_reason": decision.ack_skipped_reason,
            }
            if decision is not None
            else None
        )
        row["replies"] = replies.get(row["id"], [])


def inbound_shown_to(principal: Principal, row: replies_repo.InboundRow) -> dict[str, Any]:
    """An inbound row as ``principal`` may see it: the sender's user ID is for admins only."""
    values = {name: getattr(row, name) for name in replies_repo.InboundRow.__slots__}  # type: ignore[attr-defined]
    if principal.role is not Role.ADMIN:
        values["from_user_id"] = None
    return values


async def get_message(
    sessions: async_sessionmaker[AsyncSession], principal: Principal, message_id: uuid.UUID
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """404 for unknown ids and for other tenants' messages alike (no existence leak)."""
    async with sessions() as session:
        message = await messages_repo.get(session, message_id)
        if message is None or (principal.role is not Role.ADMIN and message.tenant_id != principal.tenant_id):
            raise NotFound("No such message")
        attempts = await messages_repo.list_attempts(session, message_id)
        row = shown_to(principal, message.as_dict())
        await _with_replies(session, principal, [row])
    return row, attempts


async def message_document(
    sessions: async_sessionmaker[AsyncSession], principal: Principal, message_id: uuid.UUID
) -> tuple[str, bytes]:
    """The purchase order's PDF of a message (file name, bytes), rendered again from the stored event's values in
    the message's language: rendering is deterministic, so these are the bytes the supplier got. 404 for unknown
    ids, other tenants' messages and messages without a document alike."""
    async with sessions() as session:
        message = await messages_repo.get(session, message_id)
    if message is None or (principal.role is not Role.ADMIN and message.tenant_id != principal.tenant_id):
        raise NotFound("No such message")
    if "document" not in message.template_values:
        raise NotFound("This message has no document: only a purchase order sent with its lines has one")
    spec = templates.get_template(message.template_name)
    language = templates.choose_language(spec, message.language or message.requested_language, None)
    pdf = await asyncio.to_thread(po_document.render_pdf, message.template_values, language)
    return po_document.filename(str(message.template_values["po_number"])), pdf


async def retry_message(
    sessions: async_sessionmaker[AsyncSession], principal: Principal, message_id: uuid.UUID
) -> dict[str, Any]:
    async with transaction(sessions) as session:
        message = await messages_repo.get(session, message_id)
        if message is None:
            raise NotFound("No such message")
        if message.status is not MessageStatus.FAILED:
            raise Conflict(f"Only failed messages can be retried; this one is {message.status}", code="not_failed")
        if not await messages_repo.apply(
            session, transitions.redriven(message, utcnow(), principal.sub[:MAX_SUB_LENGTH])
        ):
            raise Conflict("The message changed while it was being retried; try again", code="not_failed")
        updated = await messages_repo.get(session, message_id)
    assert updated is not None
    metrics.count_transition(MessageStatus.QUEUED.value, "retry_requested")
    return updated.as_dict()
