"""Admin views of WhatsApp delivery: number quality and holds, templates, costs, usage, hold release, sync."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from bakery_shared.auth import AdminOrOwner, AdminPrincipal, ensure_tenant_access
from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import AppError
from notification_service.api.schemas_admin import (
    ApiVersionOut,
    CostsOut,
    QualityOut,
    RatesLoadedOut,
    RatesOut,
    ReleaseOut,
    ShareIn,
    ShareOut,
    SyncOut,
    TemplateReleaseOut,
    TemplatesOut,
    TenantUsageDayOut,
    UnreachableClearedOut,
    UnreachableListOut,
    UsageOut,
)
from notification_service.api.schemas_templates import PlanOut, SubmitOut
from notification_service.runtime import RuntimeDep
from notification_service.services import (
    delivery_failures,
    health,
    pricing_admin,
    reports,
    shares,
    template_admin,
    whatsapp_admin,
)
from notification_service.services.sync import SyncBusy

router = APIRouter(prefix="/api/v1/admin/whatsapp", tags=["admin whatsapp"])
tenant_router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])

Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC); default this month")]


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"


@router.get("/quality", response_model=QualityOut)
async def quality(_: AdminPrincipal, runtime: RuntimeDep) -> QualityOut:
    """Per number: quality rating, messaging limit, status, held or not and why, last change."""
    async with runtime.sessions() as session:
        return await whatsapp_admin.quality(
            session, last_sync_at=runtime.sync.last_run, environment_waba=runtime.accounts.environment_waba
        )


@router.get("/templates", response_model=TemplatesOut)
async def templates(_: AdminPrincipal, runtime: RuntimeDep) -> TemplatesOut:
    """Templates with their status per language, as last synced or reported by webhooks: ``templates`` the
    environment's account's, ``accounts`` every account's (Meta keeps templates per WABA)."""
    async with runtime.sessions() as session:
        return await whatsapp_admin.templates(
            session, last_sync_at=runtime.sync.last_run, environment_waba=runtime.accounts.environment_waba
        )


#: the account (WABA id) whose templates are planned or submitted; the environment's account when absent
AccountQuery = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,64}$", description="WABA id of the account (default: the environment's account)"),
]


@router.get(
    "/templates/plan",
    response_model=PlanOut,
    responses={
        404: {"description": "No active account with that WABA id"},
        502: {"description": "Meta did not answer"},
        503: {"description": "Master account not configured"},
    },
)
async def templates_plan(_: AdminPrincipal, runtime: RuntimeDep, account: AccountQuery = None) -> PlanOut:
    """What the product needs at Meta (name, language, category, components with examples) against what the WABA
    has (status, category): each one missing, present or with another category. ``bakery-admin templates plan``."""
    return await template_admin.plan(await template_admin.target(runtime.settings, runtime.accounts, account))


@router.post(
    "/templates/submit",
    response_model=SubmitOut,
    responses={
        404: {"description": "No active account with that WABA id"},
        502: {"description": "Meta did not answer"},
        503: {"description": "Master account not configured"},
    },
)
async def templates_submit(_: AdminPrincipal, runtime: RuntimeDep, account: AccountQuery = None) -> SubmitOut:
    """Create the templates the WABA lacks (``POST /<WABA_ID>/message_templates``, with Meta's examples); those
    already there are skipped. Each result: created (PENDING review), skipped or refused with Meta's error."""
    at = await template_admin.target(runtime.settings, runtime.accounts, account)
    return await template_admin.submit(runtime.settings, at, runtime.sessions)


@router.post(
    "/templates/{name}/{language}/release",
    response_model=TemplateReleaseOut,
    responses={404: {"description": "No category hold on that template translation"}},
)
async def release_template(
    name: Annotated[str, Path(pattern=r"^[a-z0-9_]{1,512}$", description="The template's name at Meta")],
    language: Annotated[str, Path(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$", description="e.g. es, en_US")],
    principal: AdminPrincipal,
    runtime: RuntimeDep,
    account: AccountQuery = None,
) -> TemplateReleaseOut:
    """Accept the category Meta gave a template translation (e.g. MARKETING) at an account (``?account=<WABA
    id>``; default the environment's): its category hold is lifted and that account's messages of it are sent as
    that category (MARKETING: through ``/marketing_messages``). Placed again if Meta changes the category once
    more."""
    released = await whatsapp_admin.release_template(
        runtime.sessions,
        name,
        language,
        principal,
        utcnow(),
        account_key=runtime.accounts.key_for(account),
        environment_waba=runtime.accounts.environment_waba,
    )
    runtime.wakeup.notify()
    return released


@router.get("/api-version", response_model=ApiVersionOut)
async def api_version(_: AdminPrincipal, runtime: RuntimeDep) -> ApiVersionOut:
    """The configured Graph API version: when it ends, and the warning the admin page shows 90 days before."""
    return whatsapp_admin.api_version(health.api_version(runtime))


@router.get("/costs", response_model=CostsOut)
async def costs(
    _: AdminPrincipal, runtime: RuntimeDep, month: Month = None, tenant_id: uuid.UUID | None = None
) -> CostsOut:
    """Messages, statuses and cost (EUR) per bakery for a month, with a projection for the whole month."""
    async with runtime.sessions() as session:
        return await reports.costs(
            session,
            month=month,
            tenant_id=tenant_id,
            now=utcnow(),
            with_meta=True,
            accounts=await runtime.accounts.all(),
        )


@router.get("/rates", response_model=RatesOut)
async def rates(_: AdminPrincipal, runtime: RuntimeDep) -> RatesOut:
    """The rate card in use: every rate (market × category) with the date it took effect and its source."""
    return pricing_admin.rates_view(runtime.rates.card)


@router.put(
    "/rates",
    response_model=RatesLoadedOut,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def load_rates(
    request: Request,
    principal: AdminPrincipal,
    runtime: RuntimeDep,
    effective_from: Annotated[
        date | None, Query(description="The card's date, required for Meta's layout (it carries none per row)")
    ] = None,
) -> RatesLoadedOut:
    """Load a rate-card CSV (Meta's layout or ``market,category,currency,rate,effective_from,source``); the whole
    file is validated first, then stored in one transaction. ``bakery-admin rates load FILE`` calls this."""
    text = await pricing_admin.read_csv_body(request)
    loaded = await runtime.rates.load_csv(text, effective_from=effective_from, now=utcnow(), by=principal.sub)
    return RatesLoadedOut(loaded=loaded, rates_in_card=len(runtime.rates.card.rates))


@router.get("/usage", response_model=UsageOut)
async def usage(_: AdminPrincipal, runtime: RuntimeDep) -> UsageOut:
    """Today's new recipients per bakery, and the portfolio's against the numbers' messaging limit."""
    async with runtime.sessions() as session:
        return await reports.usage(session, runtime.settings, now=utcnow(), accounts=await runtime.accounts.all())


@router.put("/tenants/{tenant_id}/recipient-share", response_model=ShareOut)
async def set_recipient_share(
    tenant_id: uuid.UUID, body: ShareIn, principal: AdminPrincipal, runtime: RuntimeDep
) -> ShareOut:
    """Set a bakery's daily share of the portfolio's new-recipient budget (null: derived from the portfolio's
    messaging limit and the active bakeries again)."""
    async with transaction(runtime.sessions) as session:
        out = await shares.set_share(
            session,
            runtime.settings,
            tenant_id,
            body.daily_new_recipients,
            actor=principal.sub,
            now=utcnow(),
            accounts=await runtime.accounts.all(),
        )
    if runtime.dispatcher is not None:
        runtime.dispatcher.shares_changed()
    return out


@router.post(
    "/holds/{phone_number_id}/release",
    response_model=ReleaseOut,
    responses={404: {"description": "No hold on that number"}},
)
async def release(
    phone_number_id: Annotated[
        str,
        Path(
            pattern=r"^([0-9]{1,64}|account|account:[0-9]{1,64})$",
            description="Meta's phone number id; account (the environment's account) or account:<WABA id>",
        ),
    ],
    principal: AdminPrincipal,
    runtime: RuntimeDep,
) -> ReleaseOut:
    """Lift every hold on a number (``account`` as the id: the environment's account-wide holds; ``account:<WABA
    id>``: that account's); its held messages resume.

    A quality hold released here is not placed again while the number stays in the state the admin saw;
    it is placed again if the number recovers and later drops again.
    """
    released = await whatsapp_admin.release_holds(
        runtime.sessions, phone_number_id, principal, utcnow(), environment_waba=runtime.accounts.environment_waba
    )
    runtime.wakeup.notify()
    return released


@router.post(
    "/sync",
    response_model=SyncOut,
    response_model_exclude_unset=True,  # "skipped" carries only its reason
    responses={429: {"description": "A sync ran moments ago, or another process is syncing"}},
)
async def sync_now(_: AdminPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """Sync numbers and templates from the Graph API now (also runs every WHATSAPP_SYNC_INTERVAL_SECONDS)."""
    try:
        return await runtime.sync.run_once(manual=True)
    except SyncBusy as exc:
        raise TooManyRequests(str(exc)) from exc


@tenant_router.get("/{tenant_id}/whatsapp/costs", response_model=CostsOut)
async def tenant_costs(
    tenant_id: uuid.UUID, principal: AdminOrOwner, runtime: RuntimeDep, month: Month = None
) -> CostsOut:
    """The same shape as the admin report, with only this tenant."""
    ensure_tenant_access(principal, tenant_id)
    async with runtime.sessions() as session:
        return await reports.costs(session, month=month, tenant_id=tenant_id, now=utcnow())


@tenant_router.get("/{tenant_id}/whatsapp/usage", response_model=TenantUsageDayOut)
async def tenant_usage(tenant_id: uuid.UUID, principal: AdminOrOwner, runtime: RuntimeDep) -> TenantUsageDayOut:
    """This bakery's new recipients today against the daily cap."""
    ensure_tenant_access(principal, tenant_id)
    async with runtime.sessions() as session:
        return await reports.tenant_usage(
            session, runtime.settings, tenant_id=tenant_id, now=utcnow(), accounts=await runtime.accounts.all()
        )


@tenant_router.get("/{tenant_id}/whatsapp/unreachable", response_model=UnreachableListOut)
async def unreachable(tenant_id: uuid.UUID, principal: AdminOrOwner, runtime: RuntimeDep) -> UnreachableListOut:
    """Suppliers Meta could not deliver to (error 131026): this bakery's messages to them are not sent for now."""
    ensure_tenant_access(principal, tenant_id)
    async with runtime.sessions() as session:
        return await delivery_failures.list_unreachable(session, runtime.settings, tenant_id, utcnow())


@tenant_router.delete(
    "/{tenant_id}/whatsapp/unreachable/{recipient_phone}",
    response_model=UnreachableClearedOut,
    responses={404: {"description": "That number is not marked unreachable for this bakery"}},
)
async def clear_unreachable(
    tenant_id: uuid.UUID,
    recipient_phone: Annotated[str, Path(max_length=40, description="The supplier's number, e.g. +34612345678")],
    principal: AdminOrOwner,
    runtime: RuntimeDep,
) -> UnreachableClearedOut:
    """The supplier's number works again (e.g. they installed WhatsApp): the next message to it is sent."""
    ensure_tenant_access(principal, tenant_id)
    async with transaction(runtime.sessions) as session:
        return await delivery_failures.clear_unreachable(session, tenant_id, recipient_phone, actor=principal.sub)
