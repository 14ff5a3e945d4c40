"""What the non-status webhook fields change: number quality, the account, template statuses and categories (with
their holds).

Every value taken from the payload is of the expected type and fits its column; each call runs in its own
SAVEPOINT (``WebhookProcessor._apply``), so a change that fails does not fail the others.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.decisions import MASTER_ACCOUNT_KEY
from notification_service.domain.webhook_payload import PHONE_NUMBER_ID_LENGTH, clean_text, scalar_text
from notification_service.domain.whatsapp_state import digits, normalize_language, stored_template_status
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.services import whatsapp_state as state_service

log = logging.getLogger("notification.whatsapp.webhooks")


class FieldResult(Protocol):
    numbers_to_refresh: set[str]
    refresh_all_numbers: bool


async def quality(
    session: AsyncSession,
    value: dict[str, Any],
    result: FieldResult,
    now: datetime,
    *,
    waba_id: str | None = None,
    legacy: bool = True,
) -> None:
    """``phone_number_quality_update``; the portfolio's messaging limit it carries is stored on the numbers of its
    account (``waba_id``; ``legacy``: with the numbers whose account is not recorded; None: every number)."""
    display = digits(str(value.get("display_phone_number") or ""))
    phone_number_id = scalar_text(
        value.get("phone_number_id"), PHONE_NUMBER_ID_LENGTH
    ) or await state_repo.number_id_for_display(session, display)
    event = clean_text(value.get("event") or "", 64)
    if phone_number_id is None:
        log.warning("quality update %s for unknown number %s: syncing all numbers", event, display)
        result.refresh_all_numbers = True
        return
    values: dict[str, Any] = {"last_event": event, "last_event_at": now}
    if display:
        values["display_phone_number"] = display
    # the portfolio's messaging limit (``current_limit`` was removed in February 2026; read it from older payloads)
    tier = scalar_text(value.get("max_daily_conversations_per_business") or value.get("current_limit"), 32)
    if tier:
        values["messaging_limit_tier"] = tier.upper()
    # The event does not carry the quality colour (reference §3.6); when a payload has it, use it,
    # and in any case read the number's current state from the Graph API right after.
    for key in ("quality_rating", "new_quality_rating"):
        if value.get(key):
            values["quality_rating"] = str(value[key]).upper()
    if value.get("status"):
        values["status"] = str(value["status"]).upper()
    await state_service.apply_number(session, phone_number_id, values, now)
    if tier and tier.upper() != "TIER_NOT_SET":
        await state_repo.set_portfolio_messaging_limit(session, tier.upper(), now, waba_id=waba_id, legacy=legacy)
    result.numbers_to_refresh.add(phone_number_id)


async def account(
    session: AsyncSession,
    value: dict[str, Any],
    result: FieldResult,
    now: datetime,
    *,
    account_key: str = MASTER_ACCOUNT_KEY,
    waba_id: str | None = None,
) -> None:
    """``account_update``: holds or releases the account the entry is about (``account_key``: its hold key, issue
    18), never another account's."""
    event = clean_text(value.get("event") or "", 64)
    number = value.get("phone_number") or value.get("display_phone_number")
    if number:
        phone_number_id = await state_repo.number_id_for_display(session, digits(str(number)))
        if phone_number_id:
            await state_service.apply_number(
                session, phone_number_id, {"last_event": f"account_update:{event}", "last_event_at": now}, now
            )
            result.numbers_to_refresh.add(phone_number_id)
    await state_service.apply_account_event(session, value, now, account_key=account_key, waba_id=waba_id)


def _template_key(value: dict[str, Any]) -> tuple[str, str]:
    """The (name, language) a template webhook names, bounded and normalised ("" when missing)."""
    name = scalar_text(value.get("message_template_name"), 512) or ""
    language = clean_text(normalize_language(scalar_text(value.get("message_template_language"), 64)), 16)
    return name, language


async def template(
    session: AsyncSession,
    value: dict[str, Any],
    result: FieldResult,
    now: datetime,
    *,
    account_key: str = MASTER_ACCOUNT_KEY,
) -> None:
    """``message_template_status_update``: the translation's status at the entry's account (``account_key``)."""
    name, language = _template_key(value)
    event = scalar_text(value.get("event"), 32) or ""
    if not name or not event:
        return
    await state_service.apply_template(
        session,
        name=name,
        language=language,
        status=stored_template_status(event),
        category=scalar_text(value.get("message_template_category"), 32),
        reason=scalar_text(value.get("reason"), 128),
        template_id=scalar_text(value.get("message_template_id"), 64),
        now=now,
        account_key=account_key,
    )
    log.warning("template %s (%s) is now %s at %s (webhook)", name, language, event, account_key)


async def template_quality(
    session: AsyncSession,
    value: dict[str, Any],
    result: FieldResult,
    now: datetime,
    *,
    account_key: str = MASTER_ACCOUNT_KEY,
) -> None:
    """``message_template_quality_update``: the translation's quality score at the entry's account, for the admin
    (nothing is held for it: Meta pauses a template whose quality falls, and says so with a status update)."""
    name, language = _template_key(value)
    score = (scalar_text(value.get("new_quality_score"), 16) or "").upper()
    if not name or not score:
        return
    values: dict[str, Any] = {"quality_score": score}
    template_id = scalar_text(value.get("message_template_id"), 64)
    if template_id:
        values["template_id"] = template_id
    await state_repo.upsert_template(session, name, language, values, now, account_key=account_key)
    log.info("template %s (%s) at %s: quality %s", name, language, account_key, score)


async def template_category(
    session: AsyncSession,
    value: dict[str, Any],
    result: FieldResult,
    now: datetime,
    *,
    account_key: str = MASTER_ACCOUNT_KEY,
) -> None:
    """``template_category_update`` (Meta's webhook reference, updated 2025-11-11). Two shapes:

    * a completed change: ``previous_category`` and ``new_category`` → stored; a change to MARKETING holds the
      translation's messages (``whatsapp_state.apply_category``);
    * an impending change (``correct_category`` and ``category_update_timestamp``; ``new_category`` is then the
      *current* one): nothing changes yet; logged, and the completed change follows.
    """
    name, language = _template_key(value)
    new = scalar_text(value.get("new_category"), 32)
    if not name or not new:
        return
    correct = scalar_text(value.get("correct_category"), 32)
    if correct and not value.get("previous_category"):
        log.warning(
            "template %s (%s): Meta will change its category from %s to %s (at %s)",
            name,
            language,
            new,
            correct,
            scalar_text(value.get("category_update_timestamp"), 32),
        )
        return
    await state_service.apply_category(
        session,
        name=name,
        language=language,
        category=new,
        previous=scalar_text(value.get("previous_category"), 32),
        template_id=scalar_text(value.get("message_template_id"), 64),
        now=now,
        account_key=account_key,
    )
