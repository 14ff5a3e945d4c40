"""The message log / dispatch queue and the attempt log."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service import metrics
from notification_service.domain.statuses import MessageStatus, can_advance
from notification_service.models import whatsapp_message_attempts, whatsapp_messages
from notification_service.repositories.common import dialect_name

M = whatsapp_messages
A = whatsapp_message_attempts


_INSERT_MESSAGE = sa.insert(M)  # one statement, compiled once (values go as parameters)


async def insert_message(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_INSERT_MESSAGE, values)


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(sa.select(M).where(M.c.id == message_id))).mappings().first()
    return dict(row) if row else None


async def get_message_by_wamid(session: AsyncSession, wamid: str) -> dict[str, Any] | None:
    row = (await session.execute(sa.select(M).where(M.c.wamid == wamid))).mappings().first()
    return dict(row) if row else None


async def get_message_for_event(
    session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID
) -> dict[str, Any] | None:
    row = (
        (await session.execute(sa.select(M).where(M.c.tenant_id == tenant_id, M.c.event_id == event_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def list_messages(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first; ``after`` is the (created_at, id) of the last row of the previous page."""
    query = sa.select(M)
    if tenant_id is not None:
        query = query.where(M.c.tenant_id == tenant_id)
    if status is not None:
        query = query.where(M.c.status == status)
    if since is not None:
        query = query.where(M.c.created_at >= since)
    if until is not None:
        query = query.where(M.c.created_at < until)
    if after is not None:
        created, last_id = after
        query = query.where(sa.or_(M.c.created_at < created, sa.and_(M.c.created_at == created, M.c.id < last_id)))
    query = query.order_by(M.c.created_at.desc(), M.c.id.desc()).limit(limit)
    return [dict(row) for row in (await session.execute(query)).mappings()]


async def list_attempts(session: AsyncSession, message_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(sa.select(A).where(A.c.message_id == message_id).order_by(A.c.attempt_no, A.c.id))
    return [dict(row) for row in rows.mappings()]


async def claim_batch(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due messages: queued and due, or ``sending`` with an expired lease (crashed worker).

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so that any number of dispatchers claim disjoint batches.
    SQLite: the single UPDATE ... RETURNING is atomic (writers are serialised).
    """
    due = sa.or_(
        sa.and_(M.c.status == MessageStatus.QUEUED.value, M.c.due_at <= now),
        sa.and_(M.c.status == MessageStatus.SENDING.value, M.c.lease_expires_at < now),
    )
    candidates = sa.select(M.c.id).where(due).order_by(M.c.due_at).limit(limit)
    if dialect_name(session) == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        sa.update(M)
        .where(M.c.id.in_(candidates.scalar_subquery()))
        .values(status=MessageStatus.SENDING.value, lease_owner=owner, lease_expires_at=lease_until, updated_at=now)
        .returning(*M.c)
    )
    rows = (await session.execute(stmt)).mappings().all()
    return sorted((dict(r) for r in rows), key=lambda r: (r["due_at"], r["created_at"]))


async def unfinished_attempts(
    session: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Attempts that were started but never finished (the worker died during the HTTP call)."""
    if not message_ids:
        return {}
    rows = await session.execute(sa.select(A).where(A.c.message_id.in_(list(message_ids)), A.c.outcome.is_(None)))
    return {row["message_id"]: dict(row) for row in rows.mappings()}


async def abandon_attempts(session: AsyncSession, attempt_ids: Iterable[int], now: datetime) -> None:
    ids = list(attempt_ids)
    if ids:
        await session.execute(
            sa.update(A)
            .where(A.c.id.in_(ids))
            .values(
                outcome="abandoned",
                finished_at=now,
                error_message="the dispatcher stopped during this attempt; it may have reached Meta",
            )
        )


async def update_owned(session: AsyncSession, message_id: uuid.UUID, owner: str, values: dict[str, Any]) -> bool:
    """Update a message this dispatcher still leases (status ``sending``, ``lease_owner`` = owner)."""
    result = await session.execute(
        sa.update(M)
        .where(M.c.id == message_id, M.c.lease_owner == owner, M.c.status == MessageStatus.SENDING.value)
        .values(**values)
    )
    updated = bool(getattr(result, "rowcount", 0))
    if updated and "status" in values:
        metrics.count_transition(values["status"], values.get("status_reason"))
    return updated


async def update_many_owned(session: AsyncSession, owner: str, rows: Sequence[dict[str, Any]]) -> None:
    """Same as :func:`update_owned` for many messages; every dict has ``id`` and the same other keys."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != "id"]
    stmt = (
        sa.update(M)
        .where(
            M.c.id == sa.bindparam("b_id"),
            M.c.lease_owner == owner,
            M.c.status == MessageStatus.SENDING.value,
        )
        .values({k: sa.bindparam(f"b_{k}") for k in keys})
    )
    params = [{f"b_{k}": v for k, v in row.items()} for row in rows]
    conn = await session.connection()
    await conn.execute(stmt.execution_options(synchronize_session=False), params)
    if "status" in keys:
        for row in rows:
            metrics.count_transition(row["status"], row.get("status_reason"))


async def mark_sent(
    session: AsyncSession, message_id: uuid.UUID, owner: str, *, wamid: str, now: datetime, reason: str | None
) -> None:
    """Meta accepted the message. If a webhook already moved it forward, only record the wamid."""
    values = {
        "status": MessageStatus.SENT.value,
        "status_reason": reason,
        "wamid": wamid,
        "sent_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "awaiting_webhook_until": None,
        "hold_key": None,
        "error_code": None,
        "error_message": None,
        "error_details": None,
    }
    if await update_owned(session, message_id, owner, values):
        return
    await session.execute(
        sa.update(M).where(M.c.id == message_id, M.c.wamid.is_(None)).values(wamid=wamid, updated_at=now)
    )


async def start_attempts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[uuid.UUID, int]:
    """Insert one attempt row per message before the HTTP calls; returns message id → attempt row id.

    One multi-row INSERT ... RETURNING for the whole batch (not one round trip per message)."""
    if not rows:
        return {}
    result = await session.execute(
        sa.insert(A).returning(A.c.message_id, A.c.id, sort_by_parameter_order=True), [dict(r) for r in rows]
    )
    return {row.message_id: int(row.id) for row in result}


async def mark_sent_many(session: AsyncSession, owner: str, sent: Sequence[dict[str, Any]], now: datetime) -> None:
    """:func:`mark_sent` + :func:`finish_attempt` for many accepted sends, in three statements.

    Every dict has ``id``, ``wamid``, ``reason``, ``attempt_id``, ``duration_ms``. Messages a webhook already
    moved forward (no longer ``sending`` under this owner) only get their wamid, as in :func:`mark_sent`.
    """
    if not sent:
        return
    await update_many_owned(
        session,
        owner,
        [
            {
                "id": s["id"],
                "status": MessageStatus.SENT.value,
                "status_reason": s["reason"],
                "wamid": s["wamid"],
                "sent_at": now,
                "updated_at": now,
                "lease_owner": None,
                "lease_expires_at": None,
                "awaiting_webhook_until": None,
                "hold_key": None,
                "error_code": None,
                "error_message": None,
                "error_details": None,
            }
            for s in sent
        ],
    )
    conn = await session.connection()
    # rows updated above already carry this wamid; the others (moved on by a webhook) get it now
    await conn.execute(
        sa.update(M)
        .where(M.c.id == sa.bindparam("b_id"), M.c.wamid.is_(None))
        .values(wamid=sa.bindparam("b_wamid"), updated_at=now)
        .execution_options(synchronize_session=False),
        [{"b_id": s["id"], "b_wamid": s["wamid"]} for s in sent],
    )
    await conn.execute(
        sa.update(A)
        .where(A.c.id == sa.bindparam("b_id"))
        .values(
            outcome="accepted",
            http_status=200,
            finished_at=now,
            wamid=sa.bindparam("b_wamid"),
            duration_ms=sa.bindparam("b_duration_ms"),
        )
        .execution_options(synchronize_session=False),
        [{"b_id": s["attempt_id"], "b_wamid": s["wamid"], "b_duration_ms": s["duration_ms"]} for s in sent],
    )


async def finish_attempt(session: AsyncSession, attempt_id: int, values: dict[str, Any]) -> None:
    await session.execute(sa.update(A).where(A.c.id == attempt_id).values(**values))


async def requeue_held(session: AsyncSession, key: str, now: datetime) -> int:
    """A hold was lifted: its held messages go back to the queue, due now."""
    result = await session.execute(
        sa.update(M)
        .where(M.c.status == MessageStatus.HELD.value, M.c.hold_key == key)
        .values(status=MessageStatus.QUEUED.value, status_reason=None, hold_key=None, due_at=now, updated_at=now)
    )
    requeued = int(getattr(result, "rowcount", 0) or 0)
    metrics.count_transition(MessageStatus.QUEUED.value, "hold_released", requeued)
    return requeued


async def extend_leases(session: AsyncSession, owner: str, ids: Sequence[uuid.UUID], until: datetime) -> None:
    if ids:
        await session.execute(
            sa.update(M)
            .where(M.c.id.in_(list(ids)), M.c.lease_owner == owner, M.c.status == MessageStatus.SENDING.value)
            .values(lease_expires_at=until)
        )


async def release_leases(session: AsyncSession, owner: str, ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Give claimed-but-unsent messages back to the queue (graceful shutdown)."""
    if not ids:
        return
    await session.execute(
        sa.update(M)
        .where(M.c.id.in_(list(ids)), M.c.lease_owner == owner, M.c.status == MessageStatus.SENDING.value)
        .values(status=MessageStatus.QUEUED.value, lease_owner=None, lease_expires_at=None, due_at=now, updated_at=now)
    )


async def redrive_failed(session: AsyncSession, message_id: uuid.UUID, now: datetime, actor: str) -> bool:
    """Admin re-drive: a failed message goes back to the queue with a fresh retry budget and is really re-sent."""
    result = await session.execute(
        sa.update(M)
        .where(M.c.id == message_id, M.c.status == MessageStatus.FAILED.value)
        .values(
            status=MessageStatus.QUEUED.value,
            status_reason=f"retry requested by {actor}",
            due_at=now,
            updated_at=now,
            transient_failures=0,
            throttle_count=0,
            wamid=None,
            sent_at=None,
            delivered_at=None,
            read_at=None,
            failed_at=None,
            awaiting_webhook_until=None,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    redriven = bool(getattr(result, "rowcount", 0))
    if redriven:
        metrics.count_transition(MessageStatus.QUEUED.value, "retry_requested")
    return redriven


async def queue_stats(session: AsyncSession) -> dict[str, Any]:
    pending = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)
    row = (
        await session.execute(sa.select(sa.func.count(), sa.func.min(M.c.created_at)).where(M.c.status.in_(pending)))
    ).one()
    held = (
        await session.execute(sa.select(sa.func.count()).where(M.c.status == MessageStatus.HELD.value))
    ).scalar_one()
    return {"depth": int(row[0]), "oldest_created_at": row[1], "held": int(held)}


async def advance_status(
    session: AsyncSession,
    *,
    status: MessageStatus,
    at: datetime,
    wamid: str | None = None,
    notification_id: uuid.UUID | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    error_details: str | None = None,
) -> dict[str, Any] | None:
    """Extension point for issue 5 (status webhooks): find the message by wamid, else by our notification id
    (``biz_opaque_callback_data``), and move it forward only (see :func:`can_advance`).

    Returns the message row after the update, or None when no message matches. Duplicates and late
    arrivals are ignored (no change). A status for a message that is still queued (ambiguous timeout)
    records the wamid and ends the grace period: it will not be re-sent.
    """
    row = await get_message_by_wamid(session, wamid) if wamid else None
    if row is None and notification_id is not None:
        row = await get_message(session, notification_id)
    if row is None:
        return None
    if not can_advance(row["status"], status):
        if wamid and row["wamid"] is None:
            await session.execute(sa.update(M).where(M.c.id == row["id"]).values(wamid=wamid, updated_at=at))
        return row
    values: dict[str, Any] = {
        "status": status.value,
        "updated_at": at,
        "lease_owner": None,
        "lease_expires_at": None,
        "awaiting_webhook_until": None,
    }
    if wamid and row["wamid"] is None:
        values["wamid"] = wamid
    if status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ) and row["sent_at"] is None:
        values["sent_at"] = at
    if status in (MessageStatus.DELIVERED, MessageStatus.READ) and row["delivered_at"] is None:
        values["delivered_at"] = at
    if status is MessageStatus.READ:
        values["read_at"] = at
    if status is MessageStatus.FAILED:
        values.update(failed_at=at, error_code=error_code, error_message=error_message, error_details=error_details)
    await session.execute(sa.update(M).where(M.c.id == row["id"], M.c.status == row["status"]).values(**values))
    return {**row, **values}


async def find_for_status(
    session: AsyncSession, *, wamid: str | None, notification_id: uuid.UUID | None
) -> dict[str, Any] | None:
    """The message a status webhook is about: by wamid, else by our notification id (callback data).

    PostgreSQL: the row is locked (``FOR UPDATE``) so concurrent webhooks for one message apply one by one.
    """
    for column, value in ((M.c.wamid, wamid), (M.c.id, notification_id)):
        if value is None:
            continue
        query = sa.select(M).where(column == value)
        if dialect_name(session) == "postgresql":
            query = query.with_for_update()
        row = (await session.execute(query)).mappings().first()
        if row is not None:
            return dict(row)
    return None


async def update_message(session: AsyncSession, message_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(sa.update(M).where(M.c.id == message_id).values(**values))


async def requeue_orphaned_holds(session: AsyncSession, now: datetime) -> int:
    """Held messages whose hold no longer exists (lifted while a dispatcher was holding them) go back to the queue."""
    from notification_service.models import sending_holds as H

    active = sa.select(H.c.scope + ":" + H.c.scope_key)
    result = await session.execute(
        sa.update(M)
        .where(M.c.status == MessageStatus.HELD.value, M.c.hold_key.is_not(None), M.c.hold_key.not_in(active))
        .values(status=MessageStatus.QUEUED.value, status_reason=None, hold_key=None, due_at=now, updated_at=now)
    )
    requeued = int(getattr(result, "rowcount", 0) or 0)
    metrics.count_transition(MessageStatus.QUEUED.value, "hold_released", requeued)
    return requeued


async def settle_open_attempts(session: AsyncSession, message_id: uuid.UUID, wamid: str | None, now: datetime) -> int:
    """A status webhook shows Meta has the message while an attempt of it is still open (its dispatcher was
    killed during the HTTP call, before recording the answer): close that attempt instead of leaving it open
    for ever. A dispatcher that is still alive overwrites this with the answer it gets."""
    result = await session.execute(
        sa.update(A)
        .where(A.c.message_id == message_id, A.c.outcome.is_(None))
        .values(
            outcome="settled_by_webhook",
            finished_at=now,
            wamid=wamid,
            error_message="no answer was recorded for this attempt; a status webhook shows Meta accepted it",
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
