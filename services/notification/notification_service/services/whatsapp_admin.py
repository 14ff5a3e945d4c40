"""The admin's views of the master account (numbers with their holds, templates) and the admin's hold release."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.auth import Principal
from bakery_shared.db import transaction
from bakery_shared.errors import NotFound
from notification_service.api.schemas_admin import (
    AccountHoldsOut,
    HoldOut,
    NumberQualityOut,
    QualityOut,
    ReleaseOut,
    TemplateLanguageOut,
    TemplateOut,
    TemplatesOut,
)
from notification_service.domain.decisions import ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY, PHONE_NUMBER_SCOPE
from notification_service.domain.whatsapp_state import number_hold_reason, template_action
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.repositories.holds import Hold
from notification_service.repositories.whatsapp_state import NumberRow
from notification_service.services import holds as holds_service
from notification_service.services import whatsapp_state as state_service

#: The path segment of ``POST /holds/{phone_number_id}/release`` that names the account-wide holds.
ACCOUNT_RELEASE_KEY = "account"


def _hold_out(hold: Hold) -> HoldOut:
    return HoldOut(kind=hold.kind, reason=hold.reason, since=hold.created_at, error_code=hold.error_code)


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


async def quality(session: AsyncSession, *, last_sync_at: datetime | None) -> QualityOut:
    """Per number: quality rating, messaging limit, status, held or not and why; then the account-wide holds."""
    numbers = await state_repo.list_numbers(session)
    holds = await holds_repo.holds(session)
    by_number: dict[str, list[Hold]] = {}
    for hold in holds:
        if hold.scope == PHONE_NUMBER_SCOPE:
            by_number.setdefault(hold.scope_key, []).append(hold)
    known = {n.phone_number_id for n in numbers}
    out = [_number_out(n.phone_number_id, n, by_number.get(n.phone_number_id, [])) for n in numbers]
    out += [_number_out(key, None, by_number[key]) for key in sorted(by_number) if key not in known]
    account = [_hold_out(h) for h in holds if h.scope == ACCOUNT_SCOPE]
    return QualityOut(
        numbers=out, account=AccountHoldsOut(held=bool(account), holds=account), last_sync_at=last_sync_at
    )


async def templates(session: AsyncSession, *, last_sync_at: datetime | None) -> TemplatesOut:
    """Templates with their status per language, as last synced or reported by webhooks."""
    grouped: dict[str, TemplateOut] = {}
    for row in await state_repo.list_templates(session):
        item = grouped.setdefault(row.name, TemplateOut(name=row.name, category=row.category, languages=[]))
        item.category = item.category or row.category
        item.languages.append(
            TemplateLanguageOut(
                language=row.language,
                status=row.status,
                action=template_action(row.status).value,
                reason=row.reason,
                template_id=row.template_id,
                updated_at=row.updated_at,
                synced_at=row.synced_at,
            )
        )
    return TemplatesOut(templates=list(grouped.values()), last_sync_at=last_sync_at)


async def release_holds(
    sessions: async_sessionmaker[AsyncSession], phone_number_id: str, principal: Principal, now: datetime
) -> ReleaseOut:
    """Lift every hold on a number (``account``: the account-wide holds); its held messages are queued again.

    A quality hold released here is not placed again while the number stays in the state the admin saw
    (``admin_override``); it is placed again if the number recovers and later drops again.
    """
    account = phone_number_id == ACCOUNT_RELEASE_KEY
    scope, key = (ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY) if account else (PHONE_NUMBER_SCOPE, phone_number_id)
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
