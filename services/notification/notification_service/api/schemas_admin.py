"""Response shapes of the WhatsApp admin and owner reports (quality, templates, costs, usage, holds, sync).

The pages (``/app/admin/whatsapp/messages``) and the CLI (``bakery costs``) read these fields. Times are ISO 8601
strings with their UTC offset; money is a decimal string in EUR (six places for costs, two for projections).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

#: ``datetime.isoformat()`` (``+00:00``), as the reports always wrote it; documented as a date-time.
IsoTime = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Money = Annotated[str, Field(description="A decimal amount in EUR", examples=["0.015000"])]


# ---------------------------------------------------------------- quality


class HoldOut(BaseModel):
    kind: str = Field(description="quality, credential, account_update, template, …")
    reason: str
    since: IsoTime
    error_code: str | None
    waba_id: str | None = Field(
        default=None, description="The WhatsApp Business Account it holds (account holds) or the number belongs to"
    )


class NumberQualityOut(BaseModel):
    phone_number_id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None = Field(description="GREEN, YELLOW, RED or UNKNOWN (null: never synced)")
    messaging_limit: str | None = Field(description="Messaging-limit tier, e.g. TIER_2K")
    status: str | None
    throughput_level: str | None
    held: bool
    hold_reason: str | None = Field(description="Reason of the oldest hold on the number")
    holds: list[HoldOut]
    risk: str | None = Field(description="Why the number's state would hold it (even when an admin released it)")
    admin_override: bool
    last_event: str | None
    last_event_at: IsoTime | None
    synced_at: IsoTime | None
    updated_at: IsoTime | None


class AccountHoldsOut(BaseModel):
    held: bool
    holds: list[HoldOut]


class QualityOut(BaseModel):
    numbers: list[NumberQualityOut]
    account: AccountHoldsOut
    last_sync_at: IsoTime | None


# ---------------------------------------------------------------- templates


class TemplateLanguageOut(BaseModel):
    language: str
    status: str
    action: str = Field(description="send, hold or fail: what the dispatcher does with this template's messages")
    reason: str | None
    template_id: str | None
    updated_at: IsoTime
    synced_at: IsoTime | None
    category: str | None = Field(default=None, description="This translation's category, as Meta last reported it")
    previous_category: str | None = Field(default=None, description="Its category before Meta's last change")
    category_changed_at: IsoTime | None = None
    accepted_category: str | None = Field(
        default=None, description="The category an admin accepted by releasing the category hold"
    )
    held: bool = Field(default=False, description="A hold (status or category) keeps this translation's messages")
    quality_score: str | None = Field(
        default=None, description="Meta's quality score at this account (GREEN, YELLOW, RED, UNKNOWN); null: none"
    )
    hold_reason: str | None = None
    route: str = Field(
        default="messages", description="Where its messages go: messages, or marketing_messages (accepted MARKETING)"
    )


class TemplateOut(BaseModel):
    name: str
    category: str | None
    languages: list[TemplateLanguageOut]
    waba_id: str | None = Field(
        default=None, description="The account (WABA) this state is of; null: the environment's, not configured"
    )


class AccountTemplatesOut(BaseModel):
    """One account's templates (Meta keeps templates per WABA; issue 18)."""

    waba_id: str | None = Field(description="The account's WABA id (null: the environment's, not configured)")
    environment: bool = Field(description="The environment's account (WHATSAPP_BUSINESS_ACCOUNT_ID)")
    templates: list[TemplateOut]


class TemplatesOut(BaseModel):
    templates: list[TemplateOut] = Field(description="The environment's account's templates")
    last_sync_at: IsoTime | None
    accounts: list[AccountTemplatesOut] = Field(
        default_factory=list,
        description="Every account's templates, the environment's first (its list is also ``templates``)",
    )


# ---------------------------------------------------------------- costs


class CostSummaryOut(BaseModel):
    messages: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    billable: int
    unpriced: int = Field(description="Billable messages without a cost (no rate for their category)")
    cost_eur: Money


class ReconciliationOut(BaseModel):
    """Our estimate (rate card × what the webhooks reported) beside what Meta's pricing analytics say it billed."""

    phone_numbers: list[str] = Field(description="The business numbers (display digits) Meta's figures are for")
    estimate_cost_eur: Money
    meta_messages: int = Field(description="Charged and free messages Meta counted (pricing_analytics volume)")
    meta_by_category: dict[str, int]
    meta_cost_eur: Money | None = Field(description="Meta's cost; null when Meta reported no cost")
    difference_eur: Money | None = Field(description="estimate − Meta; null without Meta's cost")


class TenantCostOut(CostSummaryOut):
    tenant_id: uuid.UUID
    reconciliation: ReconciliationOut | None = Field(
        default=None, description="Admin report only: the estimate beside Meta's figure for the bakery's number"
    )


class UnattributedMetaOut(BaseModel):
    phone_number: str
    phone_number_id: str | None
    meta_messages: int
    meta_cost_eur: Money | None


class ReconciliationTotalOut(BaseModel):
    estimate_cost_eur: Money
    meta_messages: int
    meta_cost_eur: Money | None
    difference_eur: Money | None
    meta_synced_at: IsoTime | None = Field(description="Last read of Meta's pricing analytics (null: never)")
    unattributed: list[UnattributedMetaOut] = Field(
        description="Numbers Meta billed that sent nothing for a bakery this month (test sends, other apps)"
    )


class RateOut(BaseModel):
    market: str
    category: str
    currency: str
    rate: Money
    effective_from: str
    source: str


class RatesOut(BaseModel):
    currency: str
    rates: list[RateOut] = Field(description="Every rate of the card in use, with the date it took effect")


class RatesLoadedOut(BaseModel):
    loaded: int = Field(
        description="Rates stored from the file (a rate of the same market, category and date is replaced)"
    )
    rates_in_card: int


class SeedEstimateOut(BaseModel):
    basis: str
    messages: int
    cost_eur: Money


class CostEstimateOut(BaseModel):
    days_in_month: int
    days_measured: float
    messages_per_day: Money
    average_cost_per_billable_message_eur: Money | None
    projected_messages: int
    projected_cost_eur: Money
    seed_estimate: SeedEstimateOut


class AccountCostOut(CostSummaryOut):
    """The month of one WhatsApp Business Account (issue 18): a tenant-owned account's messages are billed to the
    bakery's own account, so they show apart from the platform's."""

    waba_id: str | None = Field(description="The account the messages went out from (null: not sent, or older)")
    kind: str | None = Field(description="platform or tenant_owned (null: an account the directory does not list)")
    portfolio_id: str | None


class CostsOut(BaseModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    currency: str
    tenants: list[TenantCostOut]
    accounts: list[AccountCostOut] = Field(default=[], description="The same month grouped by account (issue 18)")
    total: CostSummaryOut
    total_cost_eur: Money
    estimate: CostEstimateOut
    reconciliation: ReconciliationTotalOut | None = Field(
        default=None, description="Admin report only: the month's estimate beside Meta's pricing analytics"
    )


# ---------------------------------------------------------------- usage


class TenantUsageOut(BaseModel):
    tenant_id: uuid.UUID
    portfolio_id: str | None = Field(default=None, description="The portfolio whose budget the share is of")
    new_recipients_today: int = Field(description="Distinct recipients of the messages Meta accepted today (UTC)")
    cap: int | None = Field(description="This bakery's daily share of new recipients (null: no cap)")
    share_source: str = Field(
        description="configured (set by an admin), derived (portfolio limit ÷ active bakeries), unlimited "
        "(the portfolio has no limit) or fallback (limit unknown: TENANT_DAILY_NEW_RECIPIENT_CAP)"
    )
    share_used: int = Field(description="New recipients counted against the share today (the rate gate's count)")
    remaining: int | None


class TenantUsageDayOut(TenantUsageOut):
    day: str = Field(description="The UTC day, YYYY-MM-DD")


class PortfolioUsageOut(BaseModel):
    new_recipients_today: int
    messaging_limit_tier: str | None = Field(description="whatsapp_business_manager_messaging_limit, e.g. TIER_2K")
    messaging_limit: int | None
    remaining: int | None
    utilization: float | None
    active_bakeries: int = Field(description="Bakeries with a purchase order in RECIPIENT_SHARE_ACTIVE_DAYS")
    derived_share: int | None = Field(description="The share of a bakery without a configured one (null: no cap)")
    configured_shares_total: int


class PortfolioUsageByIdOut(PortfolioUsageOut):
    portfolio_id: str
    waba_ids: list[str] = Field(description="The accounts in the portfolio (as the directory lists them)")


class UsageOut(BaseModel):
    day: str = Field(description="The UTC day, YYYY-MM-DD")
    tenant_daily_new_recipient_cap: int | None
    tenants: list[TenantUsageOut]
    portfolio: PortfolioUsageOut = Field(description="The environment's account's portfolio")
    portfolios: list[PortfolioUsageByIdOut] = Field(default=[], description="Every portfolio (issue 18)")


# ---------------------------------------------------------------- actions


class ReleaseOut(BaseModel):
    phone_number_id: str = Field(description="The number, or ``account`` for the account-wide holds")
    released: list[str] = Field(description="Kinds of the holds lifted")
    requeued: int = Field(description="Held messages queued again")
    admin_override: bool = Field(description="True when the number still looks unsafe and stays released anyway")
    released_by: str


class TemplateReleaseOut(BaseModel):
    name: str
    language: str
    waba_id: str | None = Field(default=None, description="The account whose translation was released")
    category: str | None = Field(description="The category accepted (its messages are sent as that category)")
    route: str = Field(description="messages, or marketing_messages for an accepted MARKETING template")
    released: list[str] = Field(description="Kinds of the holds lifted")
    requeued: int = Field(description="Held messages queued again")
    released_by: str


class ApiVersionOut(BaseModel):
    """The configured Graph API version and its end (Meta's "Graph API changelog: Versions" page)."""

    version: str
    state: str = Field(description="current, ending (within warn_days of its end), expired or unknown")
    released: str | None = Field(description="YYYY-MM-DD")
    expires: str | None = Field(description="YYYY-MM-DD; null while Meta has not announced it")
    days_left: int | None
    warn_days: int
    detail: str | None = Field(description="The warning or error for an operator; null when all is well")
    supported: list[str] = Field(description="Versions the product knows, oldest first")


class SyncOut(BaseModel):
    """``ok`` / ``partial`` carry the counts; ``skipped`` carries only a ``reason``."""

    status: str = Field(description="ok, partial or skipped")
    numbers: int | None = None
    templates: int | None = None
    pricing_points: int | None = Field(default=None, description="Rows of Meta's pricing analytics stored")
    held_numbers: list[str] | None = None
    errors: list[str] | None = None
    reason: str | None = None
    accounts: list[str] | None = Field(default=None, description="The WABA ids read, each with its own token")


# ---------------------------------------------------------------- issue 15: shares and unreachable suppliers


class ShareIn(BaseModel):
    daily_new_recipients: int | None = Field(
        ge=1, le=10_000_000, description="New recipients per UTC day for this bakery; null: back to the derived share"
    )


class ShareOut(BaseModel):
    tenant_id: uuid.UUID
    daily_new_recipients: int | None = Field(description="The share in force (null: no cap)")
    source: str
    set_by: str


class UnreachableOut(BaseModel):
    recipient_phone: str
    error_code: str
    error_message: str | None
    failures: int = Field(description="Failures that marked it (the latest refreshes the mark)")
    first_marked_at: str
    marked_at: str
    retried_after: str | None = Field(description="When messages go to it again by themselves (null: once cleared)")


class UnreachableListOut(BaseModel):
    tenant_id: uuid.UUID
    suppliers: list[UnreachableOut]


class UnreachableClearedOut(BaseModel):
    tenant_id: uuid.UUID
    recipient_phone: str
    cleared: bool
