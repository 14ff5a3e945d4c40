"""Phone-number and template state (from webhooks and the periodic sync), and the raw webhook log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from notification_service.domain.webhook_payload import clean_text
from notification_service.domain.whatsapp_state import MASTER_ACCOUNT_KEY
from notification_service.models import (
    message_templates,
    phone_numbers,
    webhook_events,
    webhook_statuses,
    whatsapp_messages,
)
from notification_service.repositories.common import dialect_name, fit_to_columns, in_values, insert_ignore

P = phone_numbers
T = message_templates
E = webhook_events
S = webhook_statuses


# ---------------------------------------------------------------- phone numbers


@dataclass(frozen=True, slots=True)
class NumberRow:
    """A phone number of one of the accounts as last synced or reported by webhooks."""

    phone_number_id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None
    messaging_limit_tier: str | None
    status: str | None
    throughput_level: str | None
    last_event: str | None
    last_event_at: datetime | None
    admin_override: bool
    override_by: str | None
    synced_at: datetime | None
    updated_at: datetime
    #: the account the sync read it from (migration 0012, issue 18); None: not synced since
    waba_id: str | None = None


def _number(row: Any) -> NumberRow:
    return NumberRow(**{**row, "admin_override": bool(row["admin_override"])})


async def upsert_number(session: AsyncSession, phone_number_id: str, values: dict[str, Any], now: datetime) -> None:
    """Create the row if needed, then set only the given columns (a webhook knows less than a sync).

    String values are cut to their columns; the key is the caller's to fit (``get_number`` reads it back).
    """
    values = fit_to_columns(P, values)
    await session.execute(
        insert_ignore(session, P, ["phone_number_id"]).values(
            phone_number_id=phone_number_id, admin_override=False, updated_at=now
        )
    )
    await session.execute(sa.update(P).where(P.c.phone_number_id == phone_number_id).values(**values, updated_at=now))


async def get_number(session: AsyncSession, phone_number_id: str, *, lock: bool = False) -> NumberRow | None:
    query = sa.select(P).where(P.c.phone_number_id == phone_number_id)
    if lock and dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    return _number(row) if row else None


async def number_id_for_display(session: AsyncSession, display_digits: str) -> str | None:
    if not display_digits:
        return None
    row = (
        await session.execute(sa.select(P.c.phone_number_id).where(P.c.display_phone_number == display_digits))
    ).first()
    return str(row[0]) if row else None


async def list_numbers(session: AsyncSession) -> list[NumberRow]:
    rows = await session.execute(sa.select(P).order_by(P.c.phone_number_id))
    return [_number(r) for r in rows.mappings()]


async def messaging_limit_tiers(session: AsyncSession) -> list[str]:
    """The messaging-limit tiers of the numbers that report one (``TIER_250``, ``TIER_2K``, …)."""
    rows = await session.execute(sa.select(P.c.messaging_limit_tier).where(P.c.messaging_limit_tier.is_not(None)))
    return [str(r[0]) for r in rows.all() if r[0]]


async def messaging_limit_tiers_by_account(session: AsyncSession) -> list[tuple[str | None, str]]:
    """(account, tier) of the numbers that report a tier (account None: not synced since accounts were kept)."""
    query = sa.select(P.c.waba_id, P.c.messaging_limit_tier).where(P.c.messaging_limit_tier.is_not(None))
    return [(r[0], str(r[1])) for r in (await session.execute(query)).all() if r[1]]


async def set_portfolio_messaging_limit(
    session: AsyncSession, tier: str, now: datetime, *, waba_id: str | None = None, legacy: bool = True
) -> None:
    """The messaging limit belongs to the business portfolio (since 2025-10-07), so a report for one number is
    the limit of every number of its account: store it on all of them (``waba_id`` None: every number;
    ``legacy``: with the numbers whose account is not recorded yet). The sync reads each number's own."""
    query = sa.update(P).where(sa.or_(P.c.messaging_limit_tier.is_(None), P.c.messaging_limit_tier != tier))
    if waba_id is not None:
        mine = P.c.waba_id == waba_id
        query = query.where(sa.or_(mine, P.c.waba_id.is_(None)) if legacy else mine)
    await session.execute(query.values(messaging_limit_tier=clean_text(tier, 32), updated_at=now))


# ---------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class TemplateRow:
    """One language of a message template at one account, as last synced or reported by webhooks."""

    name: str
    language: str
    template_id: str | None
    status: str
    category: str | None
    reason: str | None
    synced_at: datetime | None
    updated_at: datetime
    previous_category: str | None = None
    category_changed_at: datetime | None = None
    accepted_category: str | None = None
    accepted_by: str | None = None
    #: the account (migration 0013, issue 18): ``master`` for the environment's, else its WABA id
    account_key: str = MASTER_ACCOUNT_KEY
    #: Meta's quality score of the translation at that account (``message_template_quality_update``)
    quality_score: str | None = None


#: (account key, name, normalised language) of a template translation at one account
TemplateKey = tuple[str, str, str]


async def get_template(
    session: AsyncSession, name: str, language: str, *, account_key: str = MASTER_ACCOUNT_KEY, lock: bool = False
) -> TemplateRow | None:
    query = sa.select(T).where(T.c.account_key == account_key, T.c.name == name, T.c.language == language)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    return TemplateRow(**row) if row else None


async def templates_sent_as(session: AsyncSession, category: str) -> set[TemplateKey]:
    """(account key, name, language) of the translations whose category an admin accepted as ``category`` and
    that still have it (a small set: read once per batch)."""
    query = sa.select(T.c.account_key, T.c.name, T.c.language).where(
        T.c.accepted_category == category, T.c.category == category
    )
    return {(r[0], r[1], r[2]) for r in (await session.execute(query)).all()}


async def upsert_template(
    session: AsyncSession,
    name: str,
    language: str,
    values: dict[str, Any],
    now: datetime,
    *,
    account_key: str = MASTER_ACCOUNT_KEY,
) -> None:
    values = fit_to_columns(T, values)
    await session.execute(
        insert_ignore(session, T, ["account_key", "name", "language"]).values(
            account_key=account_key,
            name=name,
            language=language,
            status=values.get("status") or "UNKNOWN",
            updated_at=now,
        )
    )
    await session.execute(
        sa.update(T)
        .where(T.c.account_key == account_key, T.c.name == name, T.c.language == language)
        .values(**values, updated_at=now)
    )


async def list_templates(session: AsyncSession) -> list[TemplateRow]:
    """Every account's template translations (the environment's first, then by WABA id), by name and language."""
    first = sa.case((T.c.account_key == MASTER_ACCOUNT_KEY, 0), else_=1)
    rows = await session.execute(sa.select(T).order_by(first, T.c.account_key, T.c.name, T.c.language))
    return [TemplateRow(**r) for r in rows.mappings()]


async def template_states(session: AsyncSession, statuses: list[str]) -> dict[TemplateKey, dict[str, Any]]:
    """(account key, name, language) → row, for every account's templates in one of ``statuses`` (the
    non-sendable ones: a small set, read once per batch)."""
    rows = await session.execute(sa.select(T).where(T.c.status.in_(statuses)))
    return {(r["account_key"], r["name"], r["language"]): dict(r) for r in rows.mappings()}


# ---------------------------------------------------------------- webhook log


class StoredEvent(NamedTuple):
    id: int
    processed: bool
    last_error: str | None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One signature-valid body to store (``processed_at``/``last_error`` set at once for an unusable body)."""

    sha256: str
    body: str
    size: int
    fields: str
    invalid: str | None = None  # ``last_error`` of a body stored as processed and invalid


async def store_events(session: AsyncSession, events: list[NewEvent], now: datetime) -> list[tuple[StoredEvent, bool]]:
    """Store many bodies in one multi-row ``INSERT … ON CONFLICT (body_sha256) DO NOTHING RETURNING``; a body
    already stored (Meta's retry, or twice in this batch) is read back with its state. One answer per event, in
    order: the stored row and whether it is a duplicate (the same body was stored before, or earlier in the
    batch); for a duplicate the row's state is the earlier copy's (``processed``, ``last_error``)."""

    async def insert(pending: list[NewEvent]) -> list[tuple[int, str]]:
        rows = [
            {
                "body_sha256": e.sha256,
                "size": e.size,
                "received_at": now,
                "process_attempts": 0,
                "processed_at": now if e.invalid is not None else None,
                "last_error": clean_text(e.invalid, 2000) if e.invalid is not None else None,
                **fit_to_columns(E, {"body": e.body, "fields": e.fields}),
            }
            for e in pending
        ]
        # executemany with RETURNING: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues") from one cached
        # compiled statement (a .values(rows) statement is compiled again for every batch size)
        statement = insert_ignore(session, E, ["body_sha256"]).returning(E.c.id, E.c.body_sha256)
        return [(int(row[0]), str(row[1])) for row in (await session.execute(statement, rows)).all()]

    async def existing(shas: list[str]) -> list[tuple[int, str, bool, str | None]]:
        query = sa.select(E.c.id, E.c.body_sha256, E.c.processed_at, E.c.last_error).where(E.c.body_sha256.in_(shas))
        return [(int(r[0]), str(r[1]), r[2] is not None, r[3]) for r in (await session.execute(query)).all()]

    return await _store_events(events, insert, existing)


#: PostgreSQL: the whole batch as one row of arrays (7 parameters whatever its size, one prepared statement)
_STORE_EVENTS_PG = f"""
INSERT INTO {E.name} (body_sha256, body, size, fields, received_at, processed_at, process_attempts, last_error)
SELECT v.sha, v.body, v.size, v.fields, $5, v.processed_at, 0, v.last_error
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $6::timestamptz[], $7::text[])
    AS v(sha, body, size, fields, processed_at, last_error)
ON CONFLICT (body_sha256) DO NOTHING
RETURNING id, body_sha256
"""  # noqa: S608 - our own table name
_STORED_EVENTS_PG = (
    f"SELECT id, body_sha256, processed_at, last_error FROM {E.name} WHERE body_sha256 = ANY($1::text[])"  # noqa: S608
)


async def store_events_pg(
    engine: AsyncEngine, events: list[NewEvent], now: datetime, *, notify_channel: str | None = None
) -> list[tuple[StoredEvent, bool]]:
    """:func:`store_events` on PostgreSQL, in its own transaction on the driver's connection: the request path's
    one write, at concurrency 50 the store's batches are small and frequent, and the ORM's and SQLAlchemy's fixed
    work per batch (a session, a multi-row INSERT with 9 parameters a row, their type processing) was most of its
    CPU. ``notify_channel``: ``NOTIFY`` it in the same transaction (delivered at commit) when a usable body was
    stored."""
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None

        async def insert(pending: list[NewEvent]) -> list[tuple[int, str]]:
            cleaned = [fit_to_columns(E, {"body": e.body, "fields": e.fields}) for e in pending]
            rows = await driver.fetch(
                _STORE_EVENTS_PG,
                [e.sha256 for e in pending],
                [c["body"] for c in cleaned],
                [e.size for e in pending],
                [c["fields"] for c in cleaned],
                now,
                [now if e.invalid is not None else None for e in pending],
                [clean_text(e.invalid, 2000) if e.invalid is not None else None for e in pending],
            )
            return [(int(row[0]), str(row[1])) for row in rows]

        async def existing(shas: list[str]) -> list[tuple[int, str, bool, str | None]]:
            rows = await driver.fetch(_STORED_EVENTS_PG, shas)
            return [(int(r[0]), str(r[1]), r[2] is not None, r[3]) for r in rows]

        async with driver.transaction():
            stored = await _store_events(events, insert, existing)
            if notify_channel is not None and any(not dup and not event.processed for event, dup in stored):
                await driver.execute("SELECT pg_notify($1, '')", notify_channel)
        return stored


async def _store_events(
    events: list[NewEvent],
    insert: Callable[[list[NewEvent]], Awaitable[list[tuple[int, str]]]],
    existing: Callable[[list[str]], Awaitable[list[tuple[int, str, bool, str | None]]]],
) -> list[tuple[StoredEvent, bool]]:
    """:func:`store_events`' rules, whichever way the rows are written: ``insert`` (id, sha256 of the rows it
    inserted) and ``existing`` (id, sha256, processed, ``last_error`` of stored rows by sha256)."""
    answers: dict[str, StoredEvent] = {}
    new: dict[str, bool] = {}  # sha256 → inserted by this call
    pending = list({e.sha256: e for e in events}.values())  # one row per distinct body
    for _ in range(3):  # the retention job may delete an old copy between the insert and the read
        if not pending:
            break
        by_sha = {e.sha256: e for e in pending}
        for event_id, sha in await insert(pending):
            new[sha] = True
            answers[sha] = StoredEvent(event_id, by_sha[sha].invalid is not None, by_sha[sha].invalid)
        conflicts = [e.sha256 for e in pending if e.sha256 not in answers]
        if conflicts:
            for event_id, sha, processed, last_error in await existing(conflicts):
                answers[sha] = StoredEvent(event_id, processed, last_error)
                new[sha] = False
        pending = [e for e in pending if e.sha256 not in answers]
    if pending:
        raise RuntimeError(f"{len(pending)} webhook event(s) vanished three times while being stored")
    seen: set[str] = set()
    out: list[tuple[StoredEvent, bool]] = []
    for e in events:
        duplicate = not new[e.sha256] or e.sha256 in seen
        seen.add(e.sha256)
        out.append((answers[e.sha256], duplicate))
    return out


async def claim_events(session: AsyncSession, limit: int, *, retries: bool) -> list[tuple[int, str]]:
    """Up to ``limit`` unprocessed events, oldest first, as (id, body). ``retries``: also those that failed
    before (fewer than 20 attempts); otherwise only never-tried ones. PostgreSQL: locked ``FOR UPDATE SKIP
    LOCKED``, so several API processes share the work and never take the same event. SQLite: call it in
    ``bakery_shared.db.transaction`` (the write lock is held from the start)."""
    query = sa.select(E.c.id, E.c.body).where(E.c.processed_at.is_(None))
    query = query.where(E.c.process_attempts < 20 if retries else E.c.process_attempts == 0)
    query = query.order_by(E.c.received_at, E.c.id).limit(limit)
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [(int(r[0]), str(r[1])) for r in (await session.execute(query)).all()]


async def mark_many_processed(session: AsyncSession, notes: dict[int, str | None], now: datetime) -> None:
    """Mark processed the events of ``notes`` (event id → ``last_error``, None when everything was usable): one
    statement for the clean ones, one executemany for those with a note."""
    clean = [event_id for event_id, note in notes.items() if not note]
    if clean:
        await session.execute(
            sa.update(E)
            .where(in_values(session, E.c.id, clean))  # one SQL text whatever the batch's size (PostgreSQL)
            .values(processed_at=now, process_attempts=E.c.process_attempts + 1, last_error=None)
        )
    noted = [{"b_id": event_id, "b_note": clean_text(note, 2000)} for event_id, note in notes.items() if note]
    if noted:
        stmt = (
            sa.update(E)
            .where(E.c.id == sa.bindparam("b_id"))
            .values(processed_at=now, process_attempts=E.c.process_attempts + 1, last_error=sa.bindparam("b_note"))
        )
        conn = await session.connection()
        await conn.execute(stmt.execution_options(synchronize_session=False), noted)


async def record_statuses(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Many ``webhook_statuses`` rows in one executemany (every row has the same keys, values already fitted)."""
    if rows:
        conn = await session.connection()
        await conn.execute(sa.insert(S), rows)


async def claim_event(session: AsyncSession, event_id: int) -> dict[str, Any] | None:
    """The event if nobody processed it yet (PostgreSQL: locked, skipped when another process holds it). Call it
    in ``bakery_shared.db.transaction``: on SQLite that holds the write lock from the start, so SAVEPOINTs taken
    afterwards are nested in a real transaction."""
    query = sa.select(E).where(E.c.id == event_id, E.c.processed_at.is_(None))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def mark_processed(session: AsyncSession, event_id: int, now: datetime, note: str | None = None) -> None:
    """``note``: what was skipped as invalid (NULL when everything was usable)."""
    error = clean_text(note, 2000) if note else None
    await session.execute(
        sa.update(E)
        .where(E.c.id == event_id)
        .values(processed_at=now, process_attempts=E.c.process_attempts + 1, last_error=error)
    )


async def mark_failed(session: AsyncSession, event_id: int, error: str) -> None:
    await session.execute(
        sa.update(E)
        .where(E.c.id == event_id)
        .values(process_attempts=E.c.process_attempts + 1, last_error=clean_text(error, 2000))
    )


async def unprocessed_events(session: AsyncSession, older_than: datetime, limit: int) -> list[int]:
    rows = await session.execute(
        sa.select(E.c.id)
        .where(E.c.processed_at.is_(None), E.c.received_at < older_than, E.c.process_attempts < 20)
        .order_by(E.c.received_at)
        .limit(limit)
    )
    return [int(r[0]) for r in rows]


async def record_status(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(sa.insert(S).values(**fit_to_columns(S, values)))


# ---------------------------------------------------------------- retention


async def expired_events(
    session: AsyncSession, *, older_than: datetime, after_id: int, limit: int
) -> tuple[list[int], int | None]:
    """Up to ``limit`` processed events received before ``older_than`` with ids above ``after_id`` (id order),
    and the last of those ids (None when there is nothing left to look at)."""
    rows = await session.execute(
        sa.select(E.c.id)
        .where(E.c.id > after_id, E.c.processed_at.is_not(None), E.c.received_at < older_than)
        .order_by(E.c.id)
        .limit(limit)
    )
    ids = [int(r[0]) for r in rows]
    return ids, (ids[-1] if ids else None)


async def delete_unneeded_events(
    session: AsyncSession, event_ids: list[int], *, in_flight: list[str]
) -> tuple[int, int]:
    """Delete those of ``event_ids`` that are processed and have no status row about a message in one of the
    ``in_flight`` statuses (checked in the same statement), then their status rows.

    Returns (events deleted, status rows deleted)."""
    if not event_ids:
        return 0, 0
    M = whatsapp_messages
    needed = (
        sa.select(S.c.id).join(M, M.c.id == S.c.message_id).where(S.c.event_id == E.c.id, M.c.status.in_(in_flight))
    )
    events = await session.execute(
        sa.delete(E).where(E.c.id.in_(event_ids), E.c.processed_at.is_not(None), ~sa.exists(needed))
    )
    orphaned = ~sa.exists(sa.select(E.c.id).where(E.c.id == S.c.event_id))
    statuses = await session.execute(sa.delete(S).where(S.c.event_id.in_(event_ids), orphaned))
    return int(events.rowcount or 0), int(statuses.rowcount or 0)  # type: ignore[attr-defined]
