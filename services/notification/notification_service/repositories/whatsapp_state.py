"""Phone-number and template state (from webhooks and the periodic sync), and the raw webhook log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.models import message_templates, phone_numbers, webhook_events, webhook_statuses
from notification_service.repositories.common import dialect_name, insert_ignore

P = phone_numbers
T = message_templates
E = webhook_events
S = webhook_statuses


# ---------------------------------------------------------------- phone numbers


@dataclass(frozen=True, slots=True)
class NumberRow:
    """A phone number of the master account as last synced or reported by webhooks."""

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


def _number(row: Any) -> NumberRow:
    return NumberRow(**{**row, "admin_override": bool(row["admin_override"])})


async def upsert_number(session: AsyncSession, phone_number_id: str, values: dict[str, Any], now: datetime) -> None:
    """Create the row if needed, then set only the given columns (a webhook knows less than a sync)."""
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


# ---------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class TemplateRow:
    """One language of a message template as last synced or reported by webhooks."""

    name: str
    language: str
    template_id: str | None
    status: str
    category: str | None
    reason: str | None
    synced_at: datetime | None
    updated_at: datetime


async def upsert_template(
    session: AsyncSession, name: str, language: str, values: dict[str, Any], now: datetime
) -> None:
    await session.execute(
        insert_ignore(session, T, ["name", "language"]).values(
            name=name, language=language, status=values.get("status") or "UNKNOWN", updated_at=now
        )
    )
    await session.execute(
        sa.update(T).where(T.c.name == name, T.c.language == language).values(**values, updated_at=now)
    )


async def list_templates(session: AsyncSession) -> list[TemplateRow]:
    rows = await session.execute(sa.select(T).order_by(T.c.name, T.c.language))
    return [TemplateRow(**r) for r in rows.mappings()]


async def template_states(session: AsyncSession, statuses: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(name, language) → row, for templates in one of ``statuses`` (the non-sendable ones: a small set)."""
    rows = await session.execute(sa.select(T).where(T.c.status.in_(statuses)))
    return {(r["name"], r["language"]): dict(r) for r in rows.mappings()}


# ---------------------------------------------------------------- webhook log


async def store_event(
    session: AsyncSession, *, sha256: str, body: str, size: int, fields: str, now: datetime
) -> tuple[int, bool]:
    """Insert the raw event unless the same body is stored already. Returns (event id, already processed)."""
    await session.execute(
        insert_ignore(session, E, ["body_sha256"]).values(
            body_sha256=sha256, body=body, size=size, fields=fields[:300], received_at=now, process_attempts=0
        )
    )
    row = (await session.execute(sa.select(E.c.id, E.c.processed_at).where(E.c.body_sha256 == sha256))).one()
    return int(row[0]), row[1] is not None


async def lock_unprocessed_event(session: AsyncSession, event_id: int) -> dict[str, Any] | None:
    """The event if nobody processed it yet (PostgreSQL: locked, skipped when another process holds it)."""
    query = sa.select(E).where(E.c.id == event_id, E.c.processed_at.is_(None))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row else None


async def mark_processed(session: AsyncSession, event_id: int, now: datetime) -> None:
    await session.execute(
        sa.update(E)
        .where(E.c.id == event_id)
        .values(processed_at=now, process_attempts=E.c.process_attempts + 1, last_error=None)
    )


async def mark_failed(session: AsyncSession, event_id: int, error: str) -> None:
    await session.execute(
        sa.update(E)
        .where(E.c.id == event_id)
        .values(process_attempts=E.c.process_attempts + 1, last_error=error[:2000])
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
    await session.execute(sa.insert(S).values(**values))
