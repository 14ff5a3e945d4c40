"""SQL of the loaded rate card (``rate_card_rates``) and of Meta's pricing analytics (``meta_pricing_analytics``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.pricing import Rate
from notification_service.models import meta_pricing_analytics, phone_numbers, rate_card_rates, whatsapp_messages

R = rate_card_rates
A = meta_pricing_analytics
M = whatsapp_messages


async def loaded_rates(session: AsyncSession) -> list[Rate]:
    rows = (await session.execute(sa.select(R))).mappings().all()
    return [
        Rate(
            market=row["market"],
            category=row["category"],
            rate=Decimal(str(row["rate"])),
            effective_from=row["effective_from"],
            currency=row["currency"],
            source=row["source"] or "",
        )
        for row in rows
    ]


async def upsert_rates(session: AsyncSession, rates: Sequence[Rate], *, now: datetime, by: str | None) -> int:
    """Store ``rates``: a rate of the same market, category and effective date is replaced."""
    for rate in rates:
        await session.execute(
            sa.delete(R).where(
                R.c.market == rate.market, R.c.category == rate.category, R.c.effective_from == rate.effective_from
            )
        )
    if rates:
        await session.execute(
            sa.insert(R),
            [
                {
                    "market": r.market,
                    "category": r.category,
                    "effective_from": r.effective_from,
                    "currency": r.currency,
                    "rate": r.rate,
                    "source": r.source[:2000],
                    "loaded_at": now,
                    "loaded_by": by,
                }
                for r in rates
            ],
        )
    return len(rates)


# ---------------------------------------------------------------- Meta's pricing analytics


@dataclass(frozen=True, slots=True)
class AnalyticsPoint:
    phone_number: str  # display number, digits
    day: date
    country: str
    pricing_category: str
    pricing_type: str
    volume: int
    cost: Decimal | None


async def number_ids_by_display(session: AsyncSession) -> dict[str, str]:
    rows = (
        await session.execute(sa.select(phone_numbers.c.display_phone_number, phone_numbers.c.phone_number_id))
    ).all()
    return {str(display): str(pid) for display, pid in rows if display}


async def replace_days(
    session: AsyncSession,
    points: Iterable[AnalyticsPoint],
    *,
    days: Sequence[date],
    now: datetime,
    waba_id: str | None = None,
    legacy: bool = True,
) -> int:
    """Meta's figures for ``days`` of one account (``waba_id``; None: every row) replace what was stored of it for
    them (a later read of a day is more complete); ``legacy``: with the rows stored before accounts were recorded."""
    ids = await number_ids_by_display(session)
    if days:
        delete = sa.delete(A).where(A.c.day.in_(list(days)))
        if waba_id is not None:
            mine = A.c.waba_id == waba_id
            delete = delete.where(sa.or_(mine, A.c.waba_id.is_(None)) if legacy else mine)
        await session.execute(delete)
    merged: dict[tuple[str, date, str, str, str], dict[str, Any]] = {}
    for p in points:
        key = (p.phone_number, p.day, p.country, p.pricing_category, p.pricing_type)
        row = merged.get(key)
        if row is None:
            merged[key] = {
                "phone_number": p.phone_number,
                "day": p.day,
                "country": p.country,
                "pricing_category": p.pricing_category,
                "pricing_type": p.pricing_type,
                "phone_number_id": ids.get(p.phone_number),
                "waba_id": waba_id,
                "volume": p.volume,
                "cost": p.cost,
                "synced_at": now,
            }
        else:  # the same key twice in one answer (several pages): add up
            row["volume"] += p.volume
            if p.cost is not None:
                row["cost"] = (row["cost"] or Decimal(0)) + p.cost
    if merged:
        await session.execute(sa.insert(A), list(merged.values()))
    return len(merged)


@dataclass(frozen=True, slots=True)
class MetaMonth:
    """Meta's volume and cost for one business number in a month."""

    phone_number: str
    phone_number_id: str | None
    volume: int
    cost: Decimal | None
    by_category: dict[str, int]


async def meta_month(session: AsyncSession, *, start: date, end: date) -> list[MetaMonth]:
    query = (
        sa.select(
            A.c.phone_number, A.c.phone_number_id, A.c.pricing_category, sa.func.sum(A.c.volume), sa.func.sum(A.c.cost)
        )
        .where(A.c.day >= start, A.c.day < end)
        .group_by(A.c.phone_number, A.c.phone_number_id, A.c.pricing_category)
    )
    acc: dict[str, dict[str, Any]] = {}
    for number, pid, category, volume, cost in (await session.execute(query)).all():
        row = acc.setdefault(number, {"pid": pid, "volume": 0, "cost": None, "by_category": {}})
        row["pid"] = row["pid"] or pid
        row["volume"] += int(volume or 0)
        row["by_category"][str(category)] = row["by_category"].get(str(category), 0) + int(volume or 0)
        if cost is not None:
            row["cost"] = (row["cost"] or Decimal(0)) + Decimal(str(cost))
    return [
        MetaMonth(number, r["pid"], r["volume"], r["cost"], dict(sorted(r["by_category"].items())))
        for number, r in sorted(acc.items())
    ]


async def last_synced(session: AsyncSession) -> datetime | None:
    value: datetime | None = (await session.execute(sa.select(sa.func.max(A.c.synced_at)))).scalar()
    return value


async def tenants_by_number(session: AsyncSession, *, start: datetime, end: datetime) -> dict[str, set[uuid.UUID]]:
    """Which bakeries sent from each number in ``[start, end)`` (one bakery per number in this product)."""
    query = (
        sa.select(M.c.phone_number_id, M.c.tenant_id)
        .where(M.c.sent_at >= start, M.c.sent_at < end, M.c.phone_number_id.is_not(None))
        .distinct()
    )
    out: dict[str, set[uuid.UUID]] = {}
    for pid, tid in (await session.execute(query)).all():
        out.setdefault(str(pid), set()).add(tid)
    return out
