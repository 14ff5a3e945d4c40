"""The message log / dispatch queue and the attempt log: the only SQL on ``whatsapp_messages`` and its attempts.

Lifecycle changes are :class:`~notification_service.domain.message.MessageUpdate` values built by the pure
transitions of ``domain/message.py``; :func:`apply` and :func:`apply_leased` write them and say which applied.
This module emits no metrics: callers count the transitions that applied.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.message import Guard, Message, MessageUpdate
from notification_service.domain.statuses import MessageStatus
from notification_service.models import sending_holds, whatsapp_message_attempts, whatsapp_messages
from notification_service.repositories.common import dialect_name, in_values

M = whatsapp_messages
A = whatsapp_message_attempts
H = sending_holds

_INSERT_MESSAGE = sa.insert(M)  # one statement, compiled once (values go as parameters)


async def insert_message(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_INSERT_MESSAGE, values)


async def insert_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Several new messages in one statement (executemany: a multi-row INSERT on both dialects)."""
    if rows:
        await session.execute(_INSERT_MESSAGE, rows)


async def get(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    row = (await session.execute(sa.select(M).where(M.c.id == message_id))).mappings().first()
    return Message.from_row(row) if row else None


async def get_for_event(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> Message | None:
    query = sa.select(M).where(M.c.tenant_id == tenant_id, M.c.event_id == event_id)
    row = (await session.execute(query)).mappings().first()
    return Message.from_row(row) if row else None


async def list_for_event(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> list[Message]:
    """Every message of one event (a staff alert has one per recipient), oldest first."""
    query = sa.select(M).where(M.c.tenant_id == tenant_id, M.c.event_id == event_id).order_by(M.c.created_at, M.c.id)
    return [Message.from_row(row) for row in (await session.execute(query)).mappings()]


async def list_messages(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
    kind: str | None = None,
) -> list[Message]:
    """Newest first; ``after`` is the (created_at, id) of the last row of the previous page."""
    query = sa.select(M)
    if kind is not None:
        query = query.where(M.c.kind == kind)
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
    return [Message.from_row(row) for row in (await session.execute(query)).mappings()]


async def list_attempts(session: AsyncSession, message_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(sa.select(A).where(A.c.message_id == message_id).order_by(A.c.attempt_no, A.c.id))
    return [dict(row) for row in rows.mappings()]


async def count_created(session: AsyncSession, *, tenant_id: uuid.UUID, kind: str, since: datetime) -> int:
    """Messages of ``kind`` a tenant created since ``since`` (the test-message quota)."""
    query = sa.select(sa.func.count()).where(M.c.tenant_id == tenant_id, M.c.kind == kind, M.c.created_at >= since)
    return int((await session.execute(query)).scalar_one())


async def oldest_created(session: AsyncSession, *, tenant_id: uuid.UUID, kind: str, since: datetime) -> datetime | None:
    query = sa.select(sa.func.min(M.c.created_at)).where(
        M.c.tenant_id == tenant_id, M.c.kind == kind, M.c.created_at >= since
    )
    value: datetime | None = (await session.execute(query)).scalar_one()
    return value


# ------------------------------------------------------------------ claiming and leases


def _due(now: datetime | sa.BindParameter[datetime], table: sa.FromClause = M) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(table.c.status == MessageStatus.QUEUED.value, table.c.due_at <= now),
        sa.and_(table.c.status == MessageStatus.SENDING.value, table.c.lease_expires_at < now),
    )


async def claim_batch(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[Message]:
    """Lease up to ``limit`` due messages (queued and due, or ``sending`` under an expired lease), fairly.

    First the oldest due messages (an index range, cheap). When one tenant holds more than a tenth of them, it may
    be flooding the queue: then round-robin over tenants (every tenant's oldest due message first, then every
    tenant's second, …; a window over the due rows, paid only then), so one tenant's backlog never keeps another
    tenant's message out of the next batch.

    PostgreSQL: candidates are locked ``FOR UPDATE … SKIP LOCKED``, so any number of dispatchers claim disjoint
    batches. SQLite: one dispatcher; the UPDATE re-checks that each candidate is still due. (Two statements, not
    UPDATE … WHERE id IN (SELECT … LIMIT … SKIP LOCKED): PostgreSQL may re-run such a subquery during the join,
    and with SKIP LOCKED each run picks other rows, so more than ``limit`` were claimed.)
    """
    postgres = dialect_name(session) == "postgresql"
    oldest = sa.select(M.c.id, M.c.tenant_id).where(_due(now)).order_by(M.c.due_at).limit(limit)
    if postgres:
        oldest = oldest.with_for_update(skip_locked=True)
    rows = (await session.execute(oldest)).all()
    ids = [row.id for row in rows]
    per_tenant = Counter(row.tenant_id for row in rows)
    if len(rows) == limit and max(per_tenant.values()) > max(1, limit // 10):
        ids = list((await session.execute(_round_robin(now, limit, postgres))).scalars())
    if not ids:
        return []
    stmt = (
        sa.update(M)
        .where(in_values(session, M.c.id, ids), _due(now))
        .values(status=MessageStatus.SENDING.value, lease_owner=owner, lease_expires_at=lease_until, updated_at=now)
        .returning(*M.c)
    )
    return [Message.from_row(r) for r in (await session.execute(stmt)).mappings().all()]


async def claim_batch_with_unfinished(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> tuple[list[Message], dict[uuid.UUID, datetime]]:
    """:func:`claim_batch` and :func:`unfinished_attempts` of the claimed messages. On PostgreSQL the claim's
    ``UPDATE … RETURNING`` also returns the start of each message's unfinished attempt (a correlated sub-query):
    one statement less per batch."""
    if dialect_name(session) != "postgresql":
        messages = await claim_batch(session, owner=owner, now=now, lease_until=lease_until, limit=limit)
        return messages, await unfinished_attempts(session, [m.id for m in messages])
    rows = (await session.execute(_CLAIM_OLDEST_PG, {"now": now, "limit": limit})).all()
    ids = [row.id for row in rows]
    per_tenant = Counter(row.tenant_id for row in rows)
    if len(rows) == limit and max(per_tenant.values()) > max(1, limit // 10):
        ids = list((await session.execute(_round_robin(now, limit, True))).scalars())
    if not ids:
        return [], {}
    # The claim's commit need not wait for its WAL flush: nothing was sent yet, so a claim lost in a database crash
    # only leaves its messages queued; and the gate's commit (synchronous, before any send) flushes the WAL up to
    # and including this one. One fsync less before a batch's first send (~1 ms idle, several under load).
    await session.execute(_CLAIM_WITHOUT_FLUSH)
    params = {"ids": ids, "now": now, "owner": owner, "lease_until": lease_until}
    claimed: list[Message] = []
    unfinished: dict[uuid.UUID, datetime] = {}
    for row in (await session.execute(_CLAIM_PG, params)).mappings().all():
        message = Message.from_row(row)
        claimed.append(message)
        if row["unfinished_since"] is not None:
            unfinished[message.id] = row["unfinished_since"]
    return claimed, unfinished


def _round_robin(now: datetime, limit: int, postgres: bool) -> sa.Select[tuple[uuid.UUID]]:
    """Due messages in round-robin order over tenants (rank within the tenant, then due time)."""
    ranked_from = M.alias("ranked_from")
    rank = sa.func.row_number().over(
        partition_by=ranked_from.c.tenant_id, order_by=(ranked_from.c.due_at, ranked_from.c.created_at)
    )
    ranked = (
        sa.select(ranked_from.c.id.label("id"), rank.label("rank")).where(_due(now, ranked_from)).subquery("ranked")
    )
    picked = M.alias("picked")
    query = (
        sa.select(picked.c.id)
        .join(ranked, ranked.c.id == picked.c.id)
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.rank, picked.c.due_at, picked.c.created_at)
        .limit(limit)
    )
    return query.with_for_update(skip_locked=True, of=picked) if postgres else query


#: the start of a message's attempt that was started and never finished (the newest such, normally the only one)
_UNFINISHED_SINCE = (
    sa.select(sa.func.max(A.c.started_at))
    .where(A.c.message_id == M.c.id, A.c.outcome.is_(None))
    .scalar_subquery()
    .label("unfinished_since")
)


# The claim's statements on PostgreSQL, built once: SQLAlchemy memoizes a statement object's cache key, so a
# constant statement costs no construction and no cache-key walk per batch (a fresh one cost both every time).
_NOW: sa.BindParameter[datetime] = sa.bindparam("now", type_=M.c.due_at.type)
_CLAIM_OLDEST_PG = (
    sa.select(M.c.id, M.c.tenant_id)
    .where(_due(_NOW))
    .order_by(M.c.due_at)
    .limit(sa.bindparam("limit", type_=sa.Integer()))
    .with_for_update(skip_locked=True)
)
_CLAIM_WITHOUT_FLUSH = sa.text("SET LOCAL synchronous_commit TO OFF")
_CLAIM_PG = (
    sa.update(M)
    .where(M.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(M.c.id.type))), _due(_NOW))
    .values(
        status=MessageStatus.SENDING.value,
        lease_owner=sa.bindparam("owner", type_=M.c.lease_owner.type),
        lease_expires_at=sa.bindparam("lease_until", type_=M.c.lease_expires_at.type),
        updated_at=_NOW,
    )
    .returning(*M.c, _UNFINISHED_SINCE)
)


async def extend_leases(session: AsyncSession, owner: str, ids: Sequence[uuid.UUID], until: datetime) -> set[uuid.UUID]:
    """Push the leases of ``ids`` this dispatcher still holds to ``until``; returns the ids still held."""
    if not ids:
        return set()
    result = await session.execute(
        sa.update(M)
        .where(in_values(session, M.c.id, ids), M.c.lease_owner == owner, M.c.status == MessageStatus.SENDING.value)
        .values(lease_expires_at=until)
        .returning(M.c.id)
    )
    return {row.id for row in result}


# ------------------------------------------------------------------ the one writer of lifecycle changes


def _guard(guard: Guard) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if guard.owner is not None:
        conditions.append(M.c.lease_owner == guard.owner)
    if guard.status is not None:
        conditions.append(M.c.status == guard.status.value)
    if guard.hold_key is not None:
        conditions.append(M.c.hold_key == guard.hold_key)
    return conditions


async def apply(session: AsyncSession, update: MessageUpdate) -> int:
    """Write one update in one statement, only where its guard still holds; returns the rows changed
    (0 or 1 for an update of one message, any number for a bulk one such as a released hold)."""
    query = sa.update(M).where(*_guard(update.guard)).values(update.columns())
    if update.message_id is not None:
        query = query.where(M.c.id == update.message_id)
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


async def apply_leased(session: AsyncSession, owner: str, updates: Sequence[MessageUpdate]) -> set[uuid.UUID]:
    """Write many updates of messages leased by ``owner``; returns the ids whose update applied.

    The first statement finds (and on PostgreSQL locks) the rows still leased by ``owner``; only those are
    written, one executemany per set of columns. An update whose lease was lost (it expired and another
    dispatcher claimed the message) is not written and its id is not returned: the caller must drop that message.
    """
    if not updates:
        return set()
    for update in updates:
        if update.guard != Guard.leased_by(owner) or update.message_id is None:
            raise ValueError("apply_leased writes updates of messages leased by this owner only")
    ids = [u.message_id for u in updates if u.message_id is not None]
    if dialect_name(session) == "postgresql" and len(set(ids)) == len(ids):
        return await _apply_leased_pg(session, owner, updates)
    leased = sa.select(M.c.id).where(
        M.c.id.in_(ids), M.c.lease_owner == owner, M.c.status == MessageStatus.SENDING.value
    )
    if dialect_name(session) == "postgresql":
        leased = leased.with_for_update()  # held until commit: nobody re-claims them in between
    # (SQLite: transaction() holds the database's write lock from its start, so nothing changes in between)
    owned = set((await session.execute(leased)).scalars())
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for update in updates:
        if update.message_id in owned:
            columns = update.columns()
            groups.setdefault(tuple(columns), []).append(
                {"b_id": update.message_id, **{f"v_{k}": v for k, v in columns.items()}}
            )
    conn = await session.connection()
    for keys, params in groups.items():
        stmt = sa.update(M).where(M.c.id == sa.bindparam("b_id")).values({k: sa.bindparam(f"v_{k}") for k in keys})
        await conn.execute(stmt.execution_options(synchronize_session=False), params)
    return owned


async def _apply_leased_pg(session: AsyncSession, owner: str, updates: Sequence[MessageUpdate]) -> set[uuid.UUID]:
    """:func:`apply_leased` on PostgreSQL: one ``UPDATE … FROM unnest(arrays) … WHERE <still leased> RETURNING id``
    per set of columns. The lease check and the write are one statement (the row is locked by the UPDATE and
    re-checked under it), and the rows travel as one array per column instead of one parameter set per row."""
    groups: dict[tuple[str, ...], list[tuple[uuid.UUID, dict[str, Any]]]] = {}
    for update in updates:
        assert update.message_id is not None
        columns = update.columns()
        groups.setdefault(tuple(columns), []).append((update.message_id, columns))
    conn = await session.connection()
    # Lock the rows first, in id order: the webhook applier locks message rows in id order too
    # (lock_for_statuses), and an UPDATE ... FROM unnest locks in whatever order its plan visits them: two
    # transactions taking the same rows in different orders deadlock, and PostgreSQL would abort one of them.
    await conn.execute(
        _LOCK_LEASED_IN_ID_ORDER, {"ids": [message_id for message_id, _ in _all(groups)], "owner": owner}
    )
    applied: set[uuid.UUID] = set()
    for keys, rows in groups.items():
        params: dict[str, Any] = {"owner": owner, "a_id": [message_id for message_id, _ in rows]}
        for k in keys:
            values = [columns[k] for _, columns in rows]
            # JSON values go as JSON text (a list inside the array would make it two-dimensional)
            params[f"a_{k}"] = [json.dumps(v) for v in values] if k in _JSON_COLUMNS else values
        result = await conn.execute(_unnest_update(keys), params)
        applied.update(result.scalars())
    return applied


def _all(groups: dict[tuple[str, ...], list[tuple[uuid.UUID, dict[str, Any]]]]) -> list[tuple[uuid.UUID, Any]]:
    return [row for rows in groups.values() for row in rows]


_LOCK_LEASED_IN_ID_ORDER = (
    sa.select(M.c.id)
    .where(
        M.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(M.c.id.type))),
        M.c.lease_owner == sa.bindparam("owner"),
        M.c.status == MessageStatus.SENDING.value,
    )
    .order_by(M.c.id)
    .with_for_update()
)

_JSON_COLUMNS = frozenset(c.name for c in M.c if isinstance(c.type, sa.JSON))


def _array_type(name: str) -> Any:
    return sa.Text() if name in _JSON_COLUMNS else M.c[name].type


@lru_cache(maxsize=64)
def _unnest_update(keys: tuple[str, ...]) -> sa.Update:
    names = ("id", *keys)
    arrays = [sa.bindparam(f"a_{name}", type_=postgresql.ARRAY(_array_type(name))) for name in names]
    rows = (
        sa.func.unnest(*arrays)
        .table_valued(*(sa.column(name, _array_type(name)) for name in names))
        .render_derived(name="v")
    )
    values = {k: sa.cast(rows.c[k], postgresql.JSONB) if k in _JSON_COLUMNS else rows.c[k] for k in keys}
    return (
        sa.update(M)
        .where(M.c.id == rows.c.id, M.c.lease_owner == sa.bindparam("owner"), M.c.status == MessageStatus.SENDING.value)
        .values(values)
        .returning(M.c.id)
    )


async def record_media(session: AsyncSession, owner: str, message_id: uuid.UUID, media_id: str, now: datetime) -> bool:
    """The purchase order's PDF was uploaded for a message this dispatcher holds: keep its media id (a retry reuses
    it). False when the lease was lost (the id is then not kept; the next holder uploads again)."""
    result = await session.execute(
        sa.update(M)
        .where(M.c.id == message_id, M.c.lease_owner == owner, M.c.status == MessageStatus.SENDING.value)
        .values(media_id=media_id, media_uploaded_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def record_wamid_if_missing(session: AsyncSession, message_id: uuid.UUID, wamid: str, now: datetime) -> None:
    """Meta accepted a send whose message had moved on (a webhook was faster): keep the wamid all the same."""
    await session.execute(
        sa.update(M).where(M.c.id == message_id, M.c.wamid.is_(None)).values(wamid=wamid, updated_at=now)
    )


async def find_for_status(
    session: AsyncSession, *, wamid: str | None, notification_id: uuid.UUID | None
) -> Message | None:
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
            return Message.from_row(row)
    return None


async def lock_for_statuses(session: AsyncSession, *, wamids: Iterable[str], ids: Iterable[uuid.UUID]) -> list[Message]:
    """Every message a batch of status webhooks names (by wamid, or by our notification id), in ONE query per
    1,000 keys; PostgreSQL: locked ``FOR UPDATE`` in id order (the dispatcher also locks message rows: one order
    avoids deadlocks), so concurrent appliers and the dispatcher apply one by one."""
    wamid_list, id_list = sorted(set(wamids)), sorted(set(ids), key=str)
    postgres = dialect_name(session) == "postgresql"
    found: dict[uuid.UUID, Message] = {}
    step = 1000
    for start in range(0, max(len(wamid_list), len(id_list)), step):
        w, i = wamid_list[start : start + step], id_list[start : start + step]
        # = ANY(array) on PostgreSQL: one SQL text whatever the number of keys (an IN list was a new statement for
        # each length, prepared and cached on each pooled connection: the API's memory grew as lengths came up)
        condition = sa.or_(
            *([in_values(session, M.c.wamid, w)] if w else []), *([in_values(session, M.c.id, i)] if i else [])
        )
        query = sa.select(M).where(condition).order_by(M.c.id)
        if postgres:
            query = query.with_for_update()
        for row in (await session.execute(query)).mappings():
            found[row["id"]] = Message.from_row(row)
    return list(found.values())


async def write_status_updates(
    session: AsyncSession, updates: Sequence[tuple[uuid.UUID, MessageStatus, dict[str, Any]]]
) -> None:
    """Write the net result of a webhook batch's updates of each message — (id, the status the updates were
    computed from, the union of their :meth:`MessageUpdate.columns`, later ones winning) — one executemany per set
    of columns, each row guarded by that status. The rows are locked by :func:`lock_for_statuses` (SQLite: the
    write lock is held), so the guard holds."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for message_id, guard, columns in updates:
        groups.setdefault(tuple(sorted(columns)), []).append(
            {"b_id": message_id, "b_guard": guard.value, **{f"v_{k}": v for k, v in columns.items()}}
        )
    conn = await session.connection()
    for keys, params in groups.items():
        stmt = (
            sa.update(M)
            .where(M.c.id == sa.bindparam("b_id"), M.c.status == sa.bindparam("b_guard"))
            .values({k: sa.bindparam(f"v_{k}") for k in keys})
        )
        await conn.execute(stmt.execution_options(synchronize_session=False), params)


# ------------------------------------------------------------------ held messages


async def orphaned_hold_keys(session: AsyncSession) -> list[str]:
    """Hold keys of held messages whose hold no longer exists (lifted while a dispatcher was holding them)."""
    active = sa.select(H.c.scope + ":" + H.c.scope_key)
    query = (
        sa.select(M.c.hold_key)
        .where(M.c.status == MessageStatus.HELD.value, M.c.hold_key.is_not(None), M.c.hold_key.not_in(active))
        .distinct()
    )
    return [str(key) for key in (await session.execute(query)).scalars()]


async def oldest_held(session: AsyncSession, hold_key: str) -> uuid.UUID | None:
    query = (
        sa.select(M.c.id)
        .where(M.c.status == MessageStatus.HELD.value, M.c.hold_key == hold_key)
        .order_by(M.c.created_at, M.c.id)
        .limit(1)
    )
    value: uuid.UUID | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def status_of(session: AsyncSession, message_id: uuid.UUID) -> MessageStatus | None:
    value = (await session.execute(sa.select(M.c.status).where(M.c.id == message_id))).scalar_one_or_none()
    return MessageStatus(value) if value is not None else None


# ------------------------------------------------------------------ attempts


@dataclass(frozen=True, slots=True)
class AttemptStart:
    message_id: uuid.UUID
    attempt_no: int
    dispatcher_id: str
    phone_number_id: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    attempt_id: int
    outcome: str  # accepted | transient | throttled | permanent | credential | restricted | timeout_ambiguous | …
    finished_at: datetime
    duration_ms: int | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    wamid: str | None = None


async def unfinished_attempts(session: AsyncSession, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """Message id → start of an attempt that was started but never finished (the worker died during the call)."""
    if not message_ids:
        return {}
    rows = await session.execute(
        sa.select(A.c.message_id, A.c.started_at).where(A.c.message_id.in_(list(message_ids)), A.c.outcome.is_(None))
    )
    return {row.message_id: row.started_at for row in rows}


async def abandon_attempts(session: AsyncSession, message_ids: Iterable[uuid.UUID], now: datetime) -> None:
    ids = list(message_ids)
    if ids:
        await session.execute(
            sa.update(A)
            .where(A.c.message_id.in_(ids), A.c.outcome.is_(None))
            .values(
                outcome="abandoned",
                finished_at=now,
                error_message="the dispatcher stopped during this attempt; it may have reached Meta",
            )
        )


async def start_attempts(session: AsyncSession, starts: Sequence[AttemptStart]) -> dict[uuid.UUID, int]:
    """One attempt row per message before the HTTP calls (one multi-row INSERT … RETURNING);
    returns message id → attempt row id."""
    if not starts:
        return {}
    rows = [
        {
            "message_id": s.message_id,
            "attempt_no": s.attempt_no,
            "dispatcher_id": s.dispatcher_id,
            "phone_number_id": s.phone_number_id,
            "started_at": s.started_at,
        }
        for s in starts
    ]
    result = await session.execute(sa.insert(A).returning(A.c.message_id, A.c.id, sort_by_parameter_order=True), rows)
    return {row.message_id: int(row.id) for row in result}


async def finish_attempts(session: AsyncSession, ends: Sequence[AttemptEnd]) -> None:
    """Complete attempt rows (one executemany)."""
    if not ends:
        return
    conn = await session.connection()
    if dialect_name(session) == "postgresql":
        # one statement, the rows as arrays (an executemany is one execution per row on the server)
        arrays: dict[str, Any] = {"a_id": [e.attempt_id for e in ends]}
        for k in _ATTEMPT_END_KEYS:
            arrays[f"a_{k}"] = [getattr(e, k) for e in ends]
        await conn.execute(_FINISH_ATTEMPTS_PG, arrays)
        return
    keys = _ATTEMPT_END_KEYS
    stmt = sa.update(A).where(A.c.id == sa.bindparam("b_id")).values({k: sa.bindparam(f"b_{k}") for k in keys})
    params = [{"b_id": e.attempt_id, **{f"b_{k}": getattr(e, k) for k in keys}} for e in ends]
    await conn.execute(stmt.execution_options(synchronize_session=False), params)


_ATTEMPT_END_KEYS = ("outcome", "finished_at", "duration_ms", "http_status", "error_code", "error_message", "wamid")


def _finish_attempts_pg() -> sa.Update:
    names = ("id", *_ATTEMPT_END_KEYS)
    rows = (
        sa.func.unnest(*(sa.bindparam(f"a_{n}", type_=postgresql.ARRAY(A.c[n].type)) for n in names))
        .table_valued(*(sa.column(n, A.c[n].type) for n in names))
        .render_derived(name="v")
    )
    return sa.update(A).where(A.c.id == rows.c.id).values({k: rows.c[k] for k in _ATTEMPT_END_KEYS})


_FINISH_ATTEMPTS_PG = _finish_attempts_pg()


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
