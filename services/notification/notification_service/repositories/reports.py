"""Aggregates behind the cost and usage reports (the report's rules are in ``services/reports.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.models import whatsapp_messages

M = whatsapp_messages


@dataclass(frozen=True, slots=True)
class CostGroup:
    """Messages of one tenant with one status and pricing category, created in the period."""

    tenant_id: uuid.UUID
    status: str
    pricing_category: str | None
    messages: int
    billable: int
    unpriced: int  # billable, but no cost recorded (no rate for the category)
    cost_eur: Decimal | None  # sum of the recorded costs; None when none was recorded
    waba_id: str | None = None  # the account the messages went out from (issue 18)


async def cost_groups(
    session: AsyncSession, *, start: datetime, end: datetime, tenant_id: uuid.UUID | None
) -> list[CostGroup]:
    """Messages created in ``[start, end)`` grouped by tenant, account, status and pricing category."""
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
            M.c.waba_id,
        )
        .where(M.c.created_at >= start, M.c.created_at < end)
        .group_by(M.c.tenant_id, M.c.waba_id, M.c.status, M.c.pricing_category)
    )
    if tenant_id is not None:
        query = query.where(M.c.tenant_id == tenant_id)
    return [
        CostGroup(
            tenant_id=tid,
            status=str(status),
            pricing_category=category,
            messages=int(count),
            billable=int(n_billable or 0),
            unpriced=int(n_unpriced or 0),
            cost_eur=None if cost is None else Decimal(str(cost)),
            waba_id=waba,
        )
        for tid, status, category, count, n_billable, n_unpriced, cost, waba in (await session.execute(query)).all()
    ]


async def recipients_accepted(
    session: AsyncSession, *, start: datetime, end: datetime, tenant_id: uuid.UUID | None
) -> dict[uuid.UUID, int]:
    """Distinct recipients per tenant of the messages Meta accepted (a wamid came back) in ``[start, end)``."""
    query = (
        sa.select(M.c.tenant_id, sa.func.count(sa.distinct(M.c.recipient_phone)))
        .where(M.c.sent_at >= start, M.c.sent_at < end, M.c.wamid.is_not(None))
        .group_by(M.c.tenant_id)
    )
    if tenant_id is not None:
        query = query.where(M.c.tenant_id == tenant_id)
    return {tid: int(n) for tid, n in (await session.execute(query)).all()}
