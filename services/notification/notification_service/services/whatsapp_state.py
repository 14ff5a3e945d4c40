"""Apply phone-number, account and template state (from webhooks or the periodic sync) and the holds they imply."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notification_service import metrics
from notification_service.domain.decisions import ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY, PHONE_NUMBER_SCOPE
from notification_service.domain.webhook_payload import clean_text
from notification_service.domain.whatsapp_state import (
    ACCOUNT_HOLD,
    CATEGORY_HOLD,
    QUALITY_HOLD,
    TEMPLATE_HOLD,
    TEMPLATE_SCOPE,
    TemplateAction,
    category_hold_reason,
    digits,
    normalize_language,
    number_hold_reason,
    template_action,
    template_hold_reason,
    template_scope_key,
)
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.services import holds as holds_service

log = logging.getLogger("notification.whatsapp_state")


def number_values_from_graph(item: dict[str, Any]) -> dict[str, Any]:
    """Columns of ``phone_numbers`` from a Graph API phone-number object (list or single read)."""
    values: dict[str, Any] = {}
    if item.get("display_phone_number"):
        values["display_phone_number"] = digits(str(item["display_phone_number"]))
    if item.get("verified_name") is not None:
        values["verified_name"] = str(item["verified_name"])[:256]
    if item.get("quality_rating"):
        values["quality_rating"] = str(item["quality_rating"]).upper()
    tier = item.get("whatsapp_business_manager_messaging_limit") or item.get("messaging_limit_tier")
    if tier:
        values["messaging_limit_tier"] = str(tier).upper()
    if item.get("status"):
        values["status"] = str(item["status"]).upper()
    throughput = item.get("throughput")
    if isinstance(throughput, dict) and throughput.get("level"):
        values["throughput_level"] = str(throughput["level"]).upper()
    return values


async def apply_number(
    session: AsyncSession, phone_number_id: str, values: dict[str, Any], now: datetime
) -> str | None:
    """Store what we learned about a number; hold it when RED/FLAGGED/RESTRICTED, release when it recovered.

    Returns the hold reason (None when the number may send). An admin release (``admin_override``) keeps the
    number sending while it stays in the state the admin saw; recovering clears the override.
    """
    await state_repo.upsert_number(session, phone_number_id, values, now)
    row = await state_repo.get_number(session, phone_number_id, lock=True)
    assert row is not None
    reason = number_hold_reason(row.quality_rating, row.status)
    if reason is None:
        if row.admin_override:
            await state_repo.upsert_number(
                session, phone_number_id, {"admin_override": False, "override_by": None}, now
            )
        requeued = await holds_service.release_hold(
            session, scope=PHONE_NUMBER_SCOPE, scope_key=phone_number_id, kind=QUALITY_HOLD, now=now
        )
        if requeued:
            log.warning("number %s recovered; %d held messages re-queued", phone_number_id, requeued)
        return None
    if row.admin_override:
        log.warning("number %s: %s (not held: released by an admin)", phone_number_id, reason)
        return None
    existed = await holds_repo.hold_exists(session, PHONE_NUMBER_SCOPE, phone_number_id, QUALITY_HOLD)
    await holds_repo.place_hold(
        session,
        scope=PHONE_NUMBER_SCOPE,
        scope_key=phone_number_id,
        kind=QUALITY_HOLD,
        reason=reason,
        error_code=None,
        probe_phone_number_id=phone_number_id,
        now=now,
        next_probe_at=None,  # released by a webhook, the sync or an admin, never by a probe
    )
    if not existed:
        log.warning("sending paused for number %s: %s", phone_number_id, reason)
    return reason


async def apply_account_event(
    session: AsyncSession,
    value: dict[str, Any],
    now: datetime,
    *,
    account_key: str = MASTER_ACCOUNT_KEY,
    waba_id: str | None = None,
) -> None:
    """``account_update``: a restriction, deletion or ban pauses the account (``account_key``: its hold key, the
    environment's ``master``); reconnection/reinstatement lifts it."""
    event = str(value.get("event") or "").upper()
    ban_info = value.get("ban_info")
    ban_state = str((ban_info if isinstance(ban_info, dict) else {}).get("waba_ban_state") or "").upper()
    pause = event in {"ACCOUNT_RESTRICTION", "ACCOUNT_DELETED", "ACCOUNT_OFFBOARDED"} or (
        event == "DISABLED_UPDATE" and ban_state in {"DISABLE", "SCHEDULE_FOR_DISABLE"}
    )
    resume = event == "ACCOUNT_RECONNECTED" or (event == "DISABLED_UPDATE" and ban_state == "REINSTATE")
    if pause:
        reason = f"account_update: {event}" + (f" ({ban_state})" if ban_state else "")
        restriction = value.get("restriction_info")
        if isinstance(restriction, list) and restriction and isinstance(restriction[0], dict):
            reason += f" {restriction[0].get('restriction_type', '')}".rstrip()
        await holds_repo.place_hold(
            session,
            scope=ACCOUNT_SCOPE,
            scope_key=account_key,
            kind=ACCOUNT_HOLD,
            reason=clean_text(reason, 500),
            error_code=None,
            probe_phone_number_id=None,
            now=now,
            next_probe_at=None,
            waba_id=waba_id,
        )
        log.error("sending paused for the whole account %s: %s", waba_id or account_key, reason)
    elif resume:
        await holds_service.release_hold(
            session, scope=ACCOUNT_SCOPE, scope_key=account_key, kind=ACCOUNT_HOLD, now=now
        )
        log.warning("account_update %s: hold of account %s lifted", event, waba_id or account_key)


async def apply_template(
    session: AsyncSession,
    *,
    name: str,
    language: str,
    status: str,
    category: str | None,
    reason: str | None,
    template_id: str | None,
    now: datetime,
    synced: bool = False,
    account_key: str = MASTER_ACCOUNT_KEY,
) -> TemplateAction:
    """Store a template translation's status at one account (``account_key``: ``master`` for the environment's,
    else the WABA id; issue 18); PAUSED/PENDING → hold that account's messages of it, APPROVED → resume them.

    REJECTED/DISABLED/DELETED: the hold (if any) is lifted so that the dispatcher fails its messages with a
    clear reason instead of sending them.
    """
    language = normalize_language(language)
    values: dict[str, Any] = {"status": status.upper()}
    values["reason"] = reason
    if template_id:
        values["template_id"] = str(template_id)
    if synced:
        values["synced_at"] = now
    await state_repo.upsert_template(session, name, language, values, now, account_key=account_key)
    action = template_action(status)
    key = template_scope_key(name, language, account_key)
    if action is TemplateAction.HOLD:
        await holds_repo.place_hold(
            session,
            scope=TEMPLATE_SCOPE,
            scope_key=key,
            kind=TEMPLATE_HOLD,
            reason=template_hold_reason(name, language, status.upper())[:500],
            error_code=None,
            probe_phone_number_id=None,
            now=now,
            next_probe_at=None,
            waba_id=_waba_of(account_key),
        )
    else:
        await holds_service.release_hold(session, scope=TEMPLATE_SCOPE, scope_key=key, kind=TEMPLATE_HOLD, now=now)
    if category:
        await apply_category(session, name=name, language=language, category=category, now=now, account_key=account_key)
    return action


async def apply_category(
    session: AsyncSession,
    *,
    name: str,
    language: str,
    category: str,
    now: datetime,
    previous: str | None = None,
    template_id: str | None = None,
    account_key: str = MASTER_ACCOUNT_KEY,
) -> str | None:
    """Store a template translation's category (``template_category_update``, the status webhook or the sync); a
    change to MARKETING holds its messages until an admin accepts it (``release_template``) or Meta changes it back.

    ``previous`` is Meta's ``previous_category`` when the webhook carries it; otherwise the stored category is the
    previous one (the sync notices a change whose webhook was lost). Returns the hold reason (None: may send)."""
    language = normalize_language(language)
    category = clean_text(category.upper(), 32)
    row = await state_repo.get_template(session, name, language, account_key=account_key, lock=True)
    stored = row.category if row else None
    values: dict[str, Any] = {"category": category}
    if template_id:
        values["template_id"] = template_id
    changed_from = (previous or stored or "").upper() or None
    if changed_from and changed_from != category:
        values |= {"previous_category": changed_from, "category_changed_at": now}
        if row is not None and row.accepted_category != category:
            values |= {"accepted_category": None, "accepted_by": None}  # an acceptance holds for one category only
        log.warning("template %s (%s): Meta changed its category from %s to %s", name, language, changed_from, category)
    await state_repo.upsert_template(session, name, language, values, now, account_key=account_key)
    row = await state_repo.get_template(session, name, language, account_key=account_key)
    assert row is not None
    key = template_scope_key(name, language, account_key)
    reason = category_hold_reason(name, language, row.previous_category, row.category)
    if reason is not None and row.accepted_category != row.category:
        await holds_repo.place_hold(
            session,
            scope=TEMPLATE_SCOPE,
            scope_key=key,
            kind=CATEGORY_HOLD,
            reason=reason[:500],
            error_code=None,
            probe_phone_number_id=None,
            now=now,
            next_probe_at=None,  # an admin's release or Meta's change back lifts it, never a probe
            waba_id=_waba_of(account_key),
        )
        return reason
    await holds_service.release_hold(session, scope=TEMPLATE_SCOPE, scope_key=key, kind=CATEGORY_HOLD, now=now)
    return None


def _waba_of(account_key: str) -> str | None:
    """The ``waba_id`` a template hold records: another account's WABA id; None for the environment's (its hold
    key alone says so, as before accounts were data)."""
    return None if account_key == MASTER_ACCOUNT_KEY else account_key


async def refresh_held_numbers_gauge(session: AsyncSession) -> int:
    count = await holds_repo.count_held_numbers(session)
    metrics.HELD_NUMBERS.set(count)
    return count
