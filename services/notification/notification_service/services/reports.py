"""Costs per tenant and month, and today's usage against the caps and the portfolio's messaging limit."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.errors import InvalidInput
from notification_service.config import NotificationSettings
from notification_service.domain.pricing import COST_QUANTUM, CURRENCY
from notification_service.domain.whatsapp_state import TIER_LIMITS, tier_limit
from notification_service.models import phone_numbers, whatsapp_messages

M = whatsapp_messages
SEED_ESTIMATE = {
    "basis": "5 POs per bakery per day × 10 bakeries × 30 days at €0.05 (the original estimate)",
    "messages": 1500,
    "cost_eur": "75.00",
}


def parse_month(month: str | None, today: date) -> tuple[str, datetime, datetime]:
    if not month:
        month = f"{today.year:04d}-{today.month:02d}"
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=UTC)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("must be YYYY-MM, e.g. 2026-11", field="query.month") from exc
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return f"{year:04d}-{mon:02d}", start, end


def _money(value: Any) -> Decimal:
    if value is None:
        return Decimal("0").quantize(COST_QUANTUM)
    return Decimal(str(value)).quantize(COST_QUANTUM)


def _empty() -> dict[str, Any]:
    return {
        "messages": 0,
        "by_status": {},
        "by_category": {},
        "billable": 0,
        "unpriced": 0,
        "cost": Decimal("0").quantize(COST_QUANTUM),
    }


def _out(acc: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": acc["messages"],
        "by_status": dict(sorted(acc["by_status"].items())),
        "by_category": dict(sorted(acc["by_category"].items())),
        "billable": acc["billable"],
        "unpriced": acc["unpriced"],
        "cost_eur": str(acc["cost"]),
    }


async def costs(
    session: AsyncSession, *, month: str | None, tenant_id: uuid.UUID | None, now: datetime
) -> dict[str, Any]:
    label, start, end = parse_month(month, now.date())
    billable = sa.case((M.c.billable.is_(True), 1), else_=0)
    unpriced = sa.case((sa.and_(M.c.billable.is_(True), M.c.cost_eur.is_(None)), 1), else_=0)
    query = (
        sa.select(
            M.c.tenant_id,
            M.c.status,
            M.c.pricing_category,
            sa.func.count(),
            sa.func.sum(billable),
            sa.func.sum(unpriced),
            sa.func.sum(M.c.cost_eur),
        )
        .where(M.c.created_at >= start, M.c.created_at < end)
        .group_by(M.c.tenant_id, M.c.status, M.c.pricing_category)
    )
    if tenant_id is not None:
        query = query.where(M.c.tenant_id == tenant_id)
    per_tenant: dict[uuid.UUID, dict[str, Any]] = {}
    total = _empty()
    for tid, status, category, count, n_billable, n_unpriced, cost in (await session.execute(query)).all():
        for acc in (per_tenant.setdefault(tid, _empty()), total):
            acc["messages"] += int(count)
            acc["by_status"][status] = acc["by_status"].get(status, 0) + int(count)
            if category:
                acc["by_category"][category] = acc["by_category"].get(category, 0) + int(count)
            acc["billable"] += int(n_billable or 0)
            acc["unpriced"] += int(n_unpriced or 0)
            acc["cost"] += _money(cost)
    if tenant_id is not None and tenant_id not in per_tenant:
        per_tenant[tenant_id] = _empty()
    tenants = [{"tenant_id": str(tid), **_out(acc)} for tid, acc in sorted(per_tenant.items(), key=lambda i: str(i[0]))]
    total_out = _out(total)
    return {
        "month": label,
        "currency": CURRENCY,
        "tenants": tenants,
        "total": total_out,
        "total_cost_eur": total_out["cost_eur"],
        "estimate": _estimate(total, start, end, now),
    }


def _estimate(total: dict[str, Any], start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    days_in_month = calendar.monthrange(start.year, start.month)[1]
    if now >= end:
        days_measured = float(days_in_month)
    elif now <= start:
        days_measured = 0.0
    else:
        days_measured = round((now - start).total_seconds() / 86400, 3)
    measured_cost = total["cost"]
    per_day = Decimal(total["messages"]) / Decimal(str(days_measured)) if days_measured else Decimal(0)
    cost_per_day = measured_cost / Decimal(str(days_measured)) if days_measured else Decimal(0)
    priced = total["billable"] - total["unpriced"]
    avg = (measured_cost / priced).quantize(COST_QUANTUM) if priced else None
    return {
        "days_in_month": days_in_month,
        "days_measured": days_measured,
        "messages_per_day": str(per_day.quantize(Decimal("0.01"))),
        "average_cost_per_billable_message_eur": str(avg) if avg is not None else None,
        "projected_messages": int((per_day * days_in_month).to_integral_value()),
        "projected_cost_eur": str((cost_per_day * days_in_month).quantize(Decimal("0.01"))),
        "seed_estimate": SEED_ESTIMATE,
    }


async def _recipients_today(session: AsyncSession, day_start: datetime, tenant_id: uuid.UUID | None) -> dict[Any, int]:
    """Distinct recipients per tenant of messages Meta accepted today (UTC)."""
    query = (
        sa.select(M.c.tenant_id, sa.func.count(sa.distinct(M.c.recipient_phone)))
        .where(M.c.sent_at >= day_start, M.c.sent_at < day_start + timedelta(days=1), M.c.wamid.is_not(None))
        .group_by(M.c.tenant_id)
    )
    if tenant_id is not None:
        query = query.where(M.c.tenant_id == tenant_id)
    return {tid: int(n) for tid, n in (await session.execute(query)).all()}


def _tenant_usage(tenant_id: Any, count: int, cap: int) -> dict[str, Any]:
    return {
        "tenant_id": str(tenant_id),
        "new_recipients_today": count,
        "cap": cap or None,
        "remaining": max(cap - count, 0) if cap else None,
    }


async def usage(
    session: AsyncSession, settings: NotificationSettings, *, tenant_id: uuid.UUID | None, now: datetime
) -> dict[str, Any]:
    day_start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    counts = await _recipients_today(session, day_start, tenant_id)
    cap = settings.tenant_daily_new_recipient_cap
    if tenant_id is not None:
        return {"day": day_start.date().isoformat(), **_tenant_usage(tenant_id, counts.get(tenant_id, 0), cap)}
    tiers = [r[0] for r in (await session.execute(sa.select(phone_numbers.c.messaging_limit_tier))).all() if r[0]]
    order = list(TIER_LIMITS)
    tier = max(tiers, key=lambda t: order.index(t) if t in order else -1) if tiers else None
    limit = tier_limit(tier)
    total = sum(counts.values())
    return {
        "day": day_start.date().isoformat(),
        "tenant_daily_new_recipient_cap": cap or None,
        "tenants": [_tenant_usage(t, n, cap) for t, n in sorted(counts.items(), key=lambda i: str(i[0]))],
        "portfolio": {
            "new_recipients_today": total,
            "messaging_limit_tier": tier,
            "messaging_limit": limit,
            "remaining": max(limit - total, 0) if limit is not None else None,
            "utilization": round(total / limit, 4) if limit else None,
        },
    }
