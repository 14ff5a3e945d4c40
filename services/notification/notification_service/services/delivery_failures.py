"""What a failure says beyond its own message, applied the same way whether Meta refused the send at once (the
dispatcher) or reported it later in a ``failed`` status webhook (many codes only arrive that way: 131026, 131047,
131049, 131050, …):

* **131026** (undeliverable): the supplier's number is marked unreachable *for that bakery*
  (``unreachable_recipients``); later messages from that bakery to it are skipped with ``supplier_unreachable``
  until the owner or an admin clears it, or ``UNREACHABLE_RECIPIENT_DAYS`` passed. Other bakeries are unaffected.
* **throttles** reported late (131049, 131056, 130429, 4, 80007): the same rate-limit key is pushed as for a
  synchronous answer, so the *next* messages to that pair (131049: 24 h) or from that number wait.
* **credential / restricted** codes reported late (131048 spam limit, 368, 131031, 130497, 190, …): the same hold
  is placed on the number or the account as for a synchronous answer.
* **132015 / 132016**: the template is recorded PAUSED / DISABLED, so its other messages are held / failed by the
  template rules until Meta reports it approved again.

A message that failed in a status webhook stays ``failed`` (that wamid will never be delivered); an admin can
re-drive it.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.errors import InvalidInput, NotFound
from bakery_shared.phone import InvalidPhoneNumber, normalize_e164
from notification_service.api.schemas_admin import UnreachableClearedOut, UnreachableListOut, UnreachableOut
from notification_service.config import NotificationSettings
from notification_service.dispatch import outcomes
from notification_service.dispatch.outcomes import ErrorClass, Failure, FailurePlan, Policy
from notification_service.domain.decisions import account_scope_key, unreachable_reason
from notification_service.domain.message import ErrorInfo, Message
from notification_service.domain.templates import TEMPLATES
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import rate_limits as rate_repo
from notification_service.repositories import recipients as recipients_repo
from notification_service.services import whatsapp_state as state_service

log = logging.getLogger("notification.whatsapp.failures")


def unreachable_since(settings: NotificationSettings, now: datetime) -> datetime | None:
    """Marks older than this no longer stop a send (None: they last until cleared)."""
    days = settings.unreachable_recipient_days
    return now - timedelta(days=days) if days else None


async def unreachable_reasons(
    session: AsyncSession,
    settings: NotificationSettings,
    pairs: Iterable[tuple[uuid.UUID, str]],
    now: datetime,
) -> dict[tuple[uuid.UUID, str], str]:
    """(tenant, recipient) → the ``status_reason`` of a skip, for the pairs marked unreachable and still in force."""
    days = settings.unreachable_recipient_days
    rows = await recipients_repo.active_unreachable(session, pairs, since=unreachable_since(settings, now))
    return {
        (r.tenant_id, r.recipient_phone): unreachable_reason(
            r.error_code, r.marked_at + timedelta(days=days) if days else None
        )
        for r in rows
    }


async def _mark(session: AsyncSession, message: Message, error: ErrorInfo, now: datetime) -> None:
    await recipients_repo.mark_unreachable(
        session,
        [recipients_repo.Mark(message.tenant_id, message.recipient_phone, error.code, error.message, message.id)],
        now,
    )
    log.warning(
        "supplier %s marked unreachable for tenant %s (error %s)",
        _masked(message.recipient_phone),
        message.tenant_id,
        error.code,
    )


async def _template(
    session: AsyncSession, name: str, language: str, status: str, code: str, now: datetime, account_key: str
) -> None:
    """Record a template's status after Meta's error, at the account the message went out from only."""
    await state_service.apply_template(
        session,
        name=name,
        language=language,
        status=status,
        category=None,
        reason=f"error {code}",
        template_id=None,
        now=now,
        account_key=account_key,
    )
    log.warning("template %s (%s) recorded %s at %s after error %s", name, language, status, account_key, code)


async def apply_plan_effects(
    session: AsyncSession, message: Message, plan: FailurePlan, failure: Failure, now: datetime
) -> None:
    """The dispatcher's side: a synchronous failure's effects beyond its message, pacing and hold."""
    if plan.unreachable:
        await _mark(session, message, failure.error, now)
    if plan.template_status is not None:
        name, language, status = plan.template_status
        await _template(session, name, language, status, failure.label, now, plan.template_account)


def _masked(phone: str) -> str:
    return phone[:-4] + "****" if len(phone) > 6 else "****"


@dataclass
class AsyncFailures:
    """The webhook side: the effects of ``failed`` statuses, with the dispatcher's policy."""

    settings: NotificationSettings
    rng: random.Random

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> AsyncFailures:
        return cls(settings, random.Random())  # noqa: S311 - jitter, not security

    @property
    def policy(self) -> Policy:
        return Policy.from_settings(self.settings)

    async def apply(self, session: AsyncSession, failed: list[tuple[Message, ErrorInfo]], now: datetime) -> None:
        """Apply every failed status's effects (in the webhook batch's transaction)."""
        for message, error in failed:
            try:
                code = int(error.code)
            except (TypeError, ValueError):
                continue
            await self._one(session, message, error, code, now)

    async def _one(self, session: AsyncSession, message: Message, error: ErrorInfo, code: int, now: datetime) -> None:
        error_class = outcomes.classify_code(code)
        number = message.phone_number_id
        if code in outcomes.UNREACHABLE_CODES:
            await _mark(session, message, error, now)
        elif error_class is ErrorClass.THROTTLED and number:
            delay, key = outcomes.throttle_delay(code, 1, number, message.recipient_phone, self.policy, self.rng)
            await rate_repo.push_tat(session, key, now + timedelta(seconds=delay), now)
            log.warning("error %s reported in a status webhook: %s waits %.0f s", code, key.split(":")[0], delay)
        elif error_class in (ErrorClass.CREDENTIAL, ErrorClass.RESTRICTED) and number:
            failure = Failure(error_class, code, error)
            waba = message.waba_id or ""  # the account it went out from (issue 18): its hold, not another's
            account_key = account_scope_key(waba, self.settings.whatsapp_business_account_id)
            hold = outcomes.hold_request(failure, number, account_key=account_key, waba_id=waba)
            created = await holds_repo.place_hold(
                session,
                scope=hold.scope,
                scope_key=hold.scope_key,
                kind=hold.kind,
                reason=hold.reason,
                error_code=hold.error_code,
                probe_phone_number_id=hold.probe_phone_number_id,
                now=now,
                next_probe_at=now + timedelta(seconds=self.settings.hold_probe_interval_seconds),
                waba_id=hold.waba_id or None,
            )
            if created:
                log.warning("sending paused for %s %s (status webhook): %s", hold.scope, hold.scope_key, hold.reason)
        if code in outcomes.TEMPLATE_STATUS_CODES and message.language and message.template_name in TEMPLATES:
            spec = TEMPLATES[message.template_name]
            language = spec.languages.get(message.language, message.language)
            status = outcomes.TEMPLATE_STATUS_CODES[code]
            account_key = account_scope_key(message.waba_id or "", self.settings.whatsapp_business_account_id)
            await _template(session, spec.name, language, status, str(code), now, account_key)


# ---------------------------------------------------------------- the owner's and admin's view


async def list_unreachable(
    session: AsyncSession, settings: NotificationSettings, tenant_id: uuid.UUID, now: datetime
) -> UnreachableListOut:
    """The suppliers this bakery's messages do not go to now (marks older than the retry period are not shown)."""
    days = settings.unreachable_recipient_days
    rows = await recipients_repo.list_unreachable(session, tenant_id, since=unreachable_since(settings, now))
    return UnreachableListOut(
        tenant_id=tenant_id,
        suppliers=[
            UnreachableOut(
                recipient_phone=r.recipient_phone,
                error_code=r.error_code,
                error_message=r.error_message,
                failures=r.failures,
                first_marked_at=r.first_marked_at.isoformat(),
                marked_at=r.marked_at.isoformat(),
                retried_after=(r.marked_at + timedelta(days=days)).isoformat() if days else None,
            )
            for r in rows
        ],
    )


async def clear_unreachable(
    session: AsyncSession, tenant_id: uuid.UUID, raw_phone: str, *, actor: str
) -> UnreachableClearedOut:
    """The owner (or an admin) says the supplier's number works again: the next message to it is sent.

    Raises :class:`InvalidInput` for a value that is not a phone number, :class:`NotFound` when it is not marked."""
    try:
        phone = normalize_e164(raw_phone)
    except InvalidPhoneNumber as exc:
        raise InvalidInput(f"{raw_phone!r} is not a phone number", field="path.recipient_phone") from exc
    if not await recipients_repo.clear_unreachable(session, tenant_id, phone):
        raise NotFound(f"{phone} is not marked unreachable for this bakery")
    log.warning("supplier %s cleared for tenant %s by %s", _masked(phone), tenant_id, actor)
    return UnreachableClearedOut(tenant_id=tenant_id, recipient_phone=phone, cleared=True)
