"""Costs per tenant and month, and today's usage against the caps and the portfolio's messaging limit."""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.contracts import WhatsAppAccount
from bakery_shared.errors import InvalidInput
from notification_service.api.schemas_admin import (
    AccountCostOut,
    CostEstimateOut,
    CostsOut,
    CostSummaryOut,
    PortfolioUsageByIdOut,
    PortfolioUsageOut,
    ReconciliationOut,
    ReconciliationTotalOut,
    SeedEstimateOut,
    TenantCostOut,
    TenantUsageDayOut,
    TenantUsageOut,
    UnattributedMetaOut,
    UsageOut,
)
from notification_service.config import NotificationSettings
from notification_service.domain.pricing import COST_QUANTUM, CURRENCY
from notification_service.domain.shares import Share, ShareTable
from notification_service.repositories import pricing as pricing_repo
from notification_service.repositories import rate_limits as rate_repo
from notification_service.repositories import reports as reports_repo
from notification_service.repositories.reports import CostGroup
from notification_service.services import shares as shares_service

SEED_ESTIMATE = SeedEstimateOut(
    basis="5 POs per bakery per day × 10 bakeries × 30 days at €0.05 (the original estimate)",
    messages=1500,
    cost_eur="75.00",
)


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


def _money(value: Decimal | None) -> Decimal:
    return (value if value is not None else Decimal("0")).quantize(COST_QUANTUM)


@dataclass
class _Totals:
    messages: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    billable: int = 0
    unpriced: int = 0
    cost: Decimal = field(default_factory=lambda: _money(None))

    def add(self, group: CostGroup) -> None:
        self.messages += group.messages
        self.by_status[group.status] = self.by_status.get(group.status, 0) + group.messages
        if group.pricing_category:
            category = group.pricing_category
            self.by_category[category] = self.by_category.get(category, 0) + group.messages
        self.billable += group.billable
        self.unpriced += group.unpriced
        self.cost += _money(group.cost_eur)

    def summary(self) -> CostSummaryOut:
        return CostSummaryOut(
            messages=self.messages,
            by_status=dict(sorted(self.by_status.items())),
            by_category=dict(sorted(self.by_category.items())),
            billable=self.billable,
            unpriced=self.unpriced,
            cost_eur=str(self.cost),
        )


async def costs(
    session: AsyncSession,
    *,
    month: str | None,
    tenant_id: uuid.UUID | None,
    now: datetime,
    with_meta: bool = False,
    accounts: Sequence[WhatsAppAccount] = (),
) -> CostsOut:
    """Messages, statuses, categories and cost per tenant for a month (only ``tenant_id`` when given); with
    ``with_meta`` (the admin's report) each bakery's estimate beside Meta's pricing analytics for its number. The
    same month grouped by account (issue 18, admin report): ``accounts`` names each one's kind and portfolio."""
    label, start, end = parse_month(month, now.date())
    per_tenant: dict[uuid.UUID, _Totals] = {}
    per_account: dict[str | None, _Totals] = {}
    total = _Totals()
    for group in await reports_repo.cost_groups(session, start=start, end=end, tenant_id=tenant_id):
        per_tenant.setdefault(group.tenant_id, _Totals()).add(group)
        per_account.setdefault(group.waba_id, _Totals()).add(group)
        total.add(group)
    if tenant_id is not None and tenant_id not in per_tenant:
        per_tenant[tenant_id] = _Totals()
    tenants = [
        TenantCostOut(tenant_id=tid, **acc.summary().model_dump())
        for tid, acc in sorted(per_tenant.items(), key=lambda item: str(item[0]))
    ]
    total_out = total.summary()
    reconciliation = await _reconcile(session, tenants, start, end, tenant_id) if with_meta else None
    directory = {a.waba_id: a for a in accounts}
    by_account = [
        AccountCostOut(
            waba_id=waba,
            kind=directory[waba].kind if waba in directory else None,
            portfolio_id=directory[waba].portfolio_id if waba in directory else None,
            **acc.summary().model_dump(),
        )
        for waba, acc in sorted(per_account.items(), key=lambda item: item[0] or "")
    ]
    return CostsOut(
        month=label,
        currency=CURRENCY,
        tenants=tenants,
        accounts=by_account if with_meta else [],
        total=total_out,
        total_cost_eur=total_out.cost_eur,
        estimate=_estimate(total, start, end, now),
        reconciliation=reconciliation,
    )


def _difference(estimate: Decimal, meta: Decimal | None) -> str | None:
    return str((estimate - meta).quantize(COST_QUANTUM)) if meta is not None else None


async def _reconcile(
    session: AsyncSession, tenants: list[TenantCostOut], start: datetime, end: datetime, only: uuid.UUID | None
) -> ReconciliationTotalOut:
    """Attach Meta's month to each bakery through the numbers it sent from; the rest is "unattributed".

    Meta counts a message on the day it was delivered and charged; the estimate counts it in the month it was
    created: a message created on the last evening of a month may sit in the next month on Meta's side."""
    meta = await pricing_repo.meta_month(session, start=start.date(), end=end.date())
    senders = await pricing_repo.tenants_by_number(session, start=start, end=end)
    by_tenant: dict[uuid.UUID, list[pricing_repo.MetaMonth]] = {}
    unattributed: list[UnattributedMetaOut] = []
    for row in meta:
        owners = senders.get(row.phone_number_id or "", set())
        if len(owners) == 1:
            by_tenant.setdefault(next(iter(owners)), []).append(row)
        elif only is None:
            unattributed.append(
                UnattributedMetaOut(
                    phone_number=row.phone_number,
                    phone_number_id=row.phone_number_id,
                    meta_messages=row.volume,
                    meta_cost_eur=str(_money(row.cost)) if row.cost is not None else None,
                )
            )
    total_estimate = _money(None)
    total_meta: Decimal | None = None
    total_volume = 0
    for tenant in tenants:
        rows = by_tenant.get(tenant.tenant_id, [])
        estimate = _money(Decimal(tenant.cost_eur))
        costs_known = [r.cost for r in rows if r.cost is not None]
        meta_cost = _money(sum(costs_known, Decimal(0))) if costs_known else None
        volume = sum(r.volume for r in rows)
        by_category: dict[str, int] = {}
        for r in rows:
            for category, n in r.by_category.items():
                by_category[category] = by_category.get(category, 0) + n
        tenant.reconciliation = ReconciliationOut(
            phone_numbers=sorted(r.phone_number for r in rows),
            estimate_cost_eur=str(estimate),
            meta_messages=volume,
            meta_by_category=dict(sorted(by_category.items())),
            meta_cost_eur=str(meta_cost) if meta_cost is not None else None,
            difference_eur=_difference(estimate, meta_cost),
        )
        total_estimate += estimate
        total_volume += volume
        if meta_cost is not None:
            total_meta = (total_meta or Decimal(0)) + meta_cost
    for extra in unattributed:
        total_volume += extra.meta_messages
        if extra.meta_cost_eur is not None:
            total_meta = (total_meta or Decimal(0)) + Decimal(extra.meta_cost_eur)
    return ReconciliationTotalOut(
        estimate_cost_eur=str(total_estimate),
        meta_messages=total_volume,
        meta_cost_eur=str(_money(total_meta)) if total_meta is not None else None,
        difference_eur=_difference(total_estimate, _money(total_meta) if total_meta is not None else None),
        meta_synced_at=await pricing_repo.last_synced(session),
        unattributed=unattributed,
    )


def _estimate(total: _Totals, start: datetime, end: datetime, now: datetime) -> CostEstimateOut:
    days_in_month = calendar.monthrange(start.year, start.month)[1]
    if now >= end:
        days_measured = float(days_in_month)
    elif now <= start:
        days_measured = 0.0
    else:
        days_measured = round((now - start).total_seconds() / 86400, 3)
    measured_cost = total.cost
    per_day = Decimal(total.messages) / Decimal(str(days_measured)) if days_measured else Decimal(0)
    cost_per_day = measured_cost / Decimal(str(days_measured)) if days_measured else Decimal(0)
    priced = total.billable - total.unpriced
    avg = (measured_cost / priced).quantize(COST_QUANTUM) if priced else None
    return CostEstimateOut(
        days_in_month=days_in_month,
        days_measured=days_measured,
        messages_per_day=str(per_day.quantize(Decimal("0.01"))),
        average_cost_per_billable_message_eur=str(avg) if avg is not None else None,
        projected_messages=int((per_day * days_in_month).to_integral_value()),
        projected_cost_eur=str((cost_per_day * days_in_month).quantize(Decimal("0.01"))),
        seed_estimate=SEED_ESTIMATE,
    )


def _tenant_usage(
    tenant_id: uuid.UUID, accepted: int, counted: int, share: Share, portfolio_id: str | None = None
) -> TenantUsageOut:
    return TenantUsageOut(
        tenant_id=tenant_id,
        portfolio_id=portfolio_id,
        new_recipients_today=accepted,
        cap=share.daily,
        share_source=share.source,
        share_used=counted,
        remaining=max(share.daily - counted, 0) if share.daily is not None else None,
    )


async def _recipients_today(
    session: AsyncSession, now: datetime, tenant_id: uuid.UUID | None
) -> tuple[date, dict[uuid.UUID, int]]:
    """Distinct recipients per tenant of messages Meta accepted today (UTC)."""
    day_start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    counts = await reports_repo.recipients_accepted(
        session, start=day_start, end=day_start + timedelta(days=1), tenant_id=tenant_id
    )
    return day_start.date(), counts


async def tenant_usage(
    session: AsyncSession,
    settings: NotificationSettings,
    *,
    tenant_id: uuid.UUID,
    now: datetime,
    accounts: Sequence[WhatsAppAccount] = (),
) -> TenantUsageDayOut:
    """One tenant's new recipients today against its share of its portfolio's messaging limit."""
    day, counts = await _recipients_today(session, now, tenant_id)
    counted = await rate_repo.recipients_counted(session, day, tenant_id)
    table = await shares_service.load(session, settings, now, accounts)
    usage = _tenant_usage(
        tenant_id,
        counts.get(tenant_id, 0),
        counted.get(tenant_id, 0),
        table.share(tenant_id),
        table.portfolio_of(tenant_id),
    )
    return TenantUsageDayOut(day=day.isoformat(), **usage.model_dump())


async def usage(
    session: AsyncSession,
    settings: NotificationSettings,
    *,
    now: datetime,
    accounts: Sequence[WhatsAppAccount] = (),
) -> UsageOut:
    """Every bakery's share of its portfolio's daily new-recipient budget and its use today, and each portfolio's
    use against its messaging limit (``whatsapp_business_manager_messaging_limit``, shared by its numbers, or its
    account's ``daily_limit``); ``portfolio`` is the environment's account's, ``portfolios`` every one (issue 18)."""
    day, counts = await _recipients_today(session, now, None)
    counted = await rate_repo.recipients_counted(session, day, None)
    shares = await shares_service.load(session, settings, now, accounts)
    tenants: set[uuid.UUID] = set(counts) | set(counted)
    for table in shares.tables.values():
        tenants |= set(table.configured) | set(table.active)
    used: dict[str, int] = {}
    for tenant, n in counts.items():
        portfolio = shares.portfolio_of(tenant)
        used[portfolio] = used.get(portfolio, 0) + n
    wabas: dict[str, list[str]] = {}
    for account in accounts:
        wabas.setdefault(account.portfolio_id or account.waba_id, []).append(account.waba_id)
    portfolios = [
        PortfolioUsageByIdOut(
            portfolio_id=name,
            waba_ids=wabas.get(name, [name] if name else []),
            **_portfolio_usage(shares.tables[name], used.get(name, 0)).model_dump(),
        )
        for name in sorted(shares.tables)
    ]
    return UsageOut(
        day=day.isoformat(),
        tenant_daily_new_recipient_cap=settings.tenant_daily_new_recipient_cap or None,
        tenants=[
            _tenant_usage(t, counts.get(t, 0), counted.get(t, 0), shares.share(t), shares.portfolio_of(t))
            for t in sorted(tenants, key=str)
        ],
        portfolio=_portfolio_usage(shares.table(), used.get(shares.default, 0)),
        portfolios=portfolios,
    )


def _portfolio_usage(table: ShareTable, total: int) -> PortfolioUsageOut:
    limit = table.limit
    return PortfolioUsageOut(
        new_recipients_today=total,
        messaging_limit_tier=table.tier,
        messaging_limit=limit,
        remaining=max(limit - total, 0) if limit is not None else None,
        utilization=round(total / limit, 4) if limit else None,
        active_bakeries=table.active_tenants,
        derived_share=table.derived.daily,
        configured_shares_total=sum(table.configured.values()),
    )
