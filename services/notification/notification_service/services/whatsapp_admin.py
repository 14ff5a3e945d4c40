"""The admin's views of the master account (numbers with their holds, templates) and the admin's hold release."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.auth import Principal
from bakery_shared.db import transaction
from bakery_shared.errors import NotFound
from bakery_shared.graph_versions import GRAPH_API_VERSIONS, WARN_DAYS, VersionStatus
from notification_service.api.schemas_admin import (
    AccountHoldsOut,
    AccountTemplatesOut,
    ApiVersionOut,
    HoldOut,
    NumberQualityOut,
    QualityOut,
    ReleaseOut,
    TemplateLanguageOut,
    TemplateOut,
    TemplateReleaseOut,
    TemplatesOut,
)
from notification_service.domain.decisions import (
    ACCOUNT_SCOPE,
    MASTER_ACCOUNT_KEY,
    PHONE_NUMBER_SCOPE,
    account_scope_key,
    account_waba_of_key,
)
from notification_service.domain.whatsapp_state import (
    CATEGORY_HOLD,
    TEMPLATE_SCOPE,
    TemplateAction,
    normalize_language,
    number_hold_reason,
    send_route,
    template_action,
    template_scope_key,
)
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.repositories.holds import Hold
from notification_service.repositories.whatsapp_state import NumberRow
from notification_service.services import holds as holds_service
from notification_service.services import whatsapp_state as state_service

log = logging.getLogger("notification.whatsapp.admin")

#: The path segment of ``POST /holds/{phone_number_id}/release`` that names the account-wide holds of the
#: environment's account; ``account:<WABA id>`` names another account's (issue 18).
ACCOUNT_RELEASE_KEY = "account"


def _hold_out(hold: Hold, environment_waba: str = "") -> HoldOut:
    waba = hold.waba_id
    if hold.scope == ACCOUNT_SCOPE:
        waba = account_waba_of_key(hold.scope_key, environment_waba) or None
    return HoldOut(kind=hold.kind, reason=hold.reason, since=hold.created_at, error_code=hold.error_code, waba_id=waba)


def _number_out(phone_number_id: str, number: NumberRow | None, holds: list[Hold]) -> NumberQualityOut:
    """A number as synced (``number``; None when only a hold knows it) with the holds placed on it."""
    return NumberQualityOut(
        phone_number_id=phone_number_id,
        display_phone_number=number.display_phone_number if number else None,
        verified_name=number.verified_name if number else None,
        quality_rating=number.quality_rating if number else None,
        messaging_limit=number.messaging_limit_tier if number else None,
        status=number.status if number else None,
        throughput_level=number.throughput_level if number else None,
        held=bool(holds),
        hold_reason=holds[0].reason if holds else None,
        holds=[_hold_out(h) for h in holds],
        risk=number_hold_reason(number.quality_rating, number.status) if number else number_hold_reason(None, None),
        admin_override=bool(number and number.admin_override),
        last_event=number.last_event if number else None,
        last_event_at=number.last_event_at if number else None,
        synced_at=number.synced_at if number else None,
        updated_at=number.updated_at if number else None,
    )


async def quality(session: AsyncSession, *, last_sync_at: datetime | None, environment_waba: str = "") -> QualityOut:
    """Per number: quality rating, messaging limit, status, held or not and why; then the account-wide holds, each
    naming its account (``waba_id``; issue 18)."""
    numbers = await state_repo.list_numbers(session)
    holds = await holds_repo.holds(session)
    by_number: dict[str, list[Hold]] = {}
    for hold in holds:
        if hold.scope == PHONE_NUMBER_SCOPE:
            by_number.setdefault(hold.scope_key, []).append(hold)
    known = {n.phone_number_id for n in numbers}
    out = [_number_out(n.phone_number_id, n, by_number.get(n.phone_number_id, [])) for n in numbers]
    out += [_number_out(key, None, by_number[key]) for key in sorted(by_number) if key not in known]
    account = [_hold_out(h, environment_waba) for h in holds if h.scope == ACCOUNT_SCOPE]
    return QualityOut(
        numbers=out, account=AccountHoldsOut(held=bool(account), holds=account), last_sync_at=last_sync_at
    )


async def templates(
    session: AsyncSession, *, last_sync_at: datetime | None, environment_waba: str = ""
) -> TemplatesOut:
    """Templates with their status and category per language and account, as last synced or reported by webhooks,
    with the holds that keep their messages (e.g. re-categorised to MARKETING: the reason, until an admin releases
    it). ``templates`` is the environment's account's (as before accounts were data); ``accounts`` every account's,
    the environment's first (issue 18)."""
    holds = {h.scope_key: h for h in await holds_repo.holds(session) if h.scope == TEMPLATE_SCOPE}
    by_account: dict[str, dict[str, TemplateOut]] = {MASTER_ACCOUNT_KEY: {}}
    for row in await state_repo.list_templates(session):
        waba = account_waba_of_key(row.account_key, environment_waba) or None
        grouped = by_account.setdefault(row.account_key, {})
        item = grouped.setdefault(
            row.name, TemplateOut(name=row.name, category=row.category, languages=[], waba_id=waba)
        )
        item.category = item.category or row.category
        hold = holds.get(template_scope_key(row.name, row.language, row.account_key))
        action = template_action(row.status)
        item.languages.append(
            TemplateLanguageOut(
                language=row.language,
                status=row.status,
                action=(TemplateAction.HOLD if hold and action is TemplateAction.SEND else action).value,
                reason=row.reason,
                template_id=row.template_id,
                updated_at=row.updated_at,
                synced_at=row.synced_at,
                category=row.category,
                previous_category=row.previous_category,
                category_changed_at=row.category_changed_at,
                accepted_category=row.accepted_category,
                held=hold is not None,
                quality_score=row.quality_score,
                hold_reason=hold.reason if hold else None,
                route=send_route(row.category, row.accepted_category),
            )
        )
    accounts = [
        AccountTemplatesOut(
            waba_id=account_waba_of_key(key, environment_waba) or None,
            environment=key == MASTER_ACCOUNT_KEY,
            templates=list(grouped.values()),
        )
        for key, grouped in by_account.items()
    ]
    return TemplatesOut(templates=accounts[0].templates, last_sync_at=last_sync_at, accounts=accounts)


async def release_template(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    language: str,
    principal: Principal,
    now: datetime,
    *,
    account_key: str = MASTER_ACCOUNT_KEY,
    environment_waba: str = "",
) -> TemplateReleaseOut:
    """The admin accepts the category Meta gave a template translation at one account (``account_key``: ``master``
    for the environment's): its category hold is lifted, its held messages are queued again and go out as that
    category (MARKETING: ``/marketing_messages``). The acceptance holds for that category only: Meta changing it
    again places a new hold."""
    language = normalize_language(language)
    key = template_scope_key(name, language, account_key)
    waba = account_waba_of_key(account_key, environment_waba) or None
    async with transaction(sessions) as session:
        if not await holds_repo.hold_exists(session, TEMPLATE_SCOPE, key, CATEGORY_HOLD):
            at = f" at account {waba}" if account_key != MASTER_ACCOUNT_KEY else ""
            raise NotFound(f"No category hold on template {name} ({language}){at}", code="no_hold")
        row = await state_repo.get_template(session, name, language, account_key=account_key, lock=True)
        category = row.category if row else None
        await state_repo.upsert_template(
            session,
            name,
            language,
            {"accepted_category": category, "accepted_by": principal.sub[:128]},
            now,
            account_key=account_key,
        )
        requeued = await holds_service.release_hold(
            session, scope=TEMPLATE_SCOPE, scope_key=key, kind=CATEGORY_HOLD, now=now
        )
    log.warning("template %s (%s) at %s: category %s accepted by %s", name, language, waba, category, principal.sub)
    return TemplateReleaseOut(
        name=name,
        language=language,
        waba_id=waba,
        category=category,
        route=send_route(category, category),
        released=[CATEGORY_HOLD],
        requeued=requeued,
        released_by=principal.sub,
    )


def api_version(status: VersionStatus) -> ApiVersionOut:
    """The configured Graph API version as the admin page shows it (a warning within 90 days of its end)."""
    return ApiVersionOut(
        version=status.version,
        state=status.state.value,
        released=status.released.isoformat() if status.released else None,
        expires=status.expires.isoformat() if status.expires else None,
        days_left=status.days_left,
        warn_days=WARN_DAYS,
        detail=status.message,
        supported=list(GRAPH_API_VERSIONS),
    )


async def release_holds(
    sessions: async_sessionmaker[AsyncSession],
    phone_number_id: str,
    principal: Principal,
    now: datetime,
    *,
    environment_waba: str = "",
) -> ReleaseOut:
    """Lift every hold on a number (``account``: the environment's account-wide holds; ``account:<WABA id>``: that
    account's); its held messages are queued again.

    A quality hold released here is not placed again while the number stays in the state the admin saw
    (``admin_override``); it is placed again if the number recovers and later drops again.
    """
    name, _, waba = phone_number_id.partition(":")
    account = name == ACCOUNT_RELEASE_KEY
    scope, key = (
        (ACCOUNT_SCOPE, account_scope_key(waba, environment_waba)) if account else (PHONE_NUMBER_SCOPE, phone_number_id)
    )
    async with transaction(sessions) as session:
        kinds = await holds_repo.hold_kinds(session, scope, key)
        if not kinds:
            raise NotFound(f"No hold on {phone_number_id}", code="no_hold")
        override = False
        if not account:
            number = await state_repo.get_number(session, phone_number_id, lock=True)
            if number is not None and number_hold_reason(number.quality_rating, number.status):
                override = True
                await state_repo.upsert_number(
                    session, phone_number_id, {"admin_override": True, "override_by": principal.sub[:128]}, now
                )
        requeued = 0
        for kind in kinds:
            requeued += await holds_service.release_hold(session, scope=scope, scope_key=key, kind=kind, now=now)
        await state_service.refresh_held_numbers_gauge(session)
    return ReleaseOut(
        phone_number_id=phone_number_id,
        released=kinds,
        requeued=requeued,
        admin_override=override,
        released_by=principal.sub,
    )
