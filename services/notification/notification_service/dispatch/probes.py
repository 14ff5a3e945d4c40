"""Holds the dispatcher places (a Graph error said the number or account cannot send), and how they converge.

A hold parks every message of its number (or of the whole account). It is lifted only by evidence that sending
works again: **one real send** of one held message, the *probe*. Each probe cycle:

* waits its backoff: ``HOLD_PROBE_INTERVAL_SECONDS × 4^failures``, capped at ``HOLD_PROBE_MAX_INTERVAL_SECONDS``;
* for a credential hold (token, permission) first reads the number (``GET /<id>``); a failed read is a failed
  cycle and nothing is sent;
* then releases the oldest held message alone. If Meta accepts it (or refuses it for a reason of that recipient
  only), the hold is lifted and every held message is due. If the send fails with the hold's error again, the
  cycle failed.

After ``HOLD_MAX_PROBE_CYCLES`` failed cycles probing stops: the hold's reason says so, and the messages wait for an
admin's release (admin page or ``POST /api/v1/admin/whatsapp/holds/release``). So a restricted number costs at most
``1 + HOLD_MAX_PROBE_CYCLES`` sends per message, however long the restriction lasts.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.db import transaction
from bakery_shared.graph import GraphClientError, GraphNotConfigured
from notification_service import metrics
from notification_service.dispatch.context import DispatchContext
from notification_service.dispatch.outcomes import ErrorClass, HoldRequest
from notification_service.domain import transitions
from notification_service.domain.decisions import ACCOUNT_SCOPE, PHONE_NUMBER_SCOPE
from notification_service.domain.statuses import PENDING, MessageStatus
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import messages as messages_repo
from notification_service.repositories.holds import Hold
from notification_service.services import holds as holds_service

log = logging.getLogger("notification.whatsapp.dispatcher")

#: hold kinds this module places and probes (the others are lifted by whoever placed them)
PROBED_KINDS = frozenset({ErrorClass.CREDENTIAL.value, ErrorClass.RESTRICTED.value})


class HoldProber:
    def __init__(self, ctx: DispatchContext) -> None:
        self.ctx = ctx

    def _backoff(self, failures: int) -> timedelta:
        s = self.ctx.settings
        return timedelta(
            seconds=min(s.hold_probe_max_interval_seconds, s.hold_probe_interval_seconds * (4 ** min(failures, 10)))
        )

    # ------------------------------------------------------------------ from the batch (same transaction)

    async def hold_failed(
        self, session: AsyncSession, request: HoldRequest, message_id: uuid.UUID, now: datetime
    ) -> None:
        """A send failed with a hold-class error: place the hold, or count a failed probe cycle."""
        created = await holds_repo.place_hold(
            session,
            scope=request.scope,
            scope_key=request.scope_key,
            kind=request.kind,
            reason=request.reason,
            error_code=request.error_code,
            probe_phone_number_id=request.probe_phone_number_id,
            now=now,
            # a template's category hold (131063) is lifted by an admin or by Meta's change back, never by a probe
            next_probe_at=now + self._backoff(0) if request.kind in PROBED_KINDS else None,
            waba_id=request.waba_id or None,
        )
        if created:
            log.warning("sending paused for %s %s: %s", request.scope, request.scope_key, request.reason)
            return
        hold = await holds_repo.find(session, scope=request.scope, scope_key=request.scope_key, kind=request.kind)
        if hold is None or hold.probe_message_id != message_id:
            return  # another message of the same batch: the hold is already counted
        failures = hold.probe_failures + 1
        limit = self.ctx.settings.hold_max_probe_cycles
        if failures >= limit:
            reason = (
                f"{request.reason[:300]} — automatic checks stopped after {failures} failed probes; "
                "fix it at Meta (WhatsApp Manager), then release the hold from the admin page"
            )
            await holds_repo.schedule_probe(
                session, hold.id, failures=failures, next_probe_at=None, now=now, reason=reason
            )
            log.warning("hold %s: probe %d failed; waiting for an admin's release", hold.key, failures)
        else:
            next_at = now + self._backoff(failures)
            await holds_repo.schedule_probe(session, hold.id, failures=failures, next_probe_at=next_at, now=now)
            log.info("hold %s: probe %d failed; next probe at %s", hold.key, failures, next_at.isoformat())

    async def probe_passed(self, session: AsyncSession, hold: Hold, now: datetime) -> None:
        """The probe message was sent: the number can send again; lift the hold."""
        requeued = await holds_service.release_hold(
            session, scope=hold.scope, scope_key=hold.scope_key, kind=hold.kind, now=now
        )
        log.warning("sending resumed for %s %s (%d held messages re-queued)", hold.scope, hold.scope_key, requeued)
        self.ctx.wake()

    # ------------------------------------------------------------------ periodic

    async def probe(self, *, force: bool = False) -> int:
        """Start the probe cycles that are due (every probed hold with ``force``, e.g. after a token rotation).

        Returns the number of holds that sent a probe message or were lifted."""
        now = self.ctx.clock()
        async with self.ctx.sessions() as session:
            candidates = await (holds_repo.holds(session) if force else holds_repo.due_probes(session, now))
        started = 0
        for hold in candidates:
            if hold.kind not in PROBED_KINDS:
                continue
            if await self._probe_one(hold, now, force=force):
                started += 1
        if started:
            self.ctx.wake()
        return started

    async def _probe_one(self, hold: Hold, now: datetime, *, force: bool) -> bool:
        async with self.ctx.sessions() as session:
            in_flight = hold.probe_message_id and await messages_repo.status_of(session, hold.probe_message_id)
        if in_flight in PENDING and in_flight is not MessageStatus.HELD:
            return False  # the probe message is still on its way
        if hold.kind == ErrorClass.CREDENTIAL.value:
            try:
                await self._read(hold)
            except GraphClientError as exc:
                async with transaction(self.ctx.sessions) as session:
                    await holds_repo.schedule_probe(
                        session,
                        hold.id,
                        failures=hold.probe_failures + (0 if force else 1),
                        next_probe_at=now + self._backoff(hold.probe_failures + 1),
                        now=now,
                    )
                log.info("hold %s still failing its read probe (%s)", hold.key, exc)
                return False
        async with transaction(self.ctx.sessions) as session:
            probe_id = await messages_repo.oldest_held(session, hold.key)
            if probe_id is None:  # nothing waits: lift it; the next message is the test
                await holds_service.release_hold(
                    session, scope=hold.scope, scope_key=hold.scope_key, kind=hold.kind, now=now
                )
                log.warning("sending resumed for %s %s (no held messages)", hold.scope, hold.scope_key)
                return True
            if not await messages_repo.apply(session, transitions.probe_released(probe_id, hold.key, now)):
                return False
            metrics.count_transition(MessageStatus.QUEUED.value, "hold_probe")
            # if the probe never resolves (e.g. the bakery switched WhatsApp off), pick another one later
            await holds_repo.schedule_probe(
                session,
                hold.id,
                failures=hold.probe_failures,
                next_probe_at=now + self._backoff(hold.probe_failures),
                now=now,
                probe_message_id=probe_id,
            )
        log.info("hold %s: sending message %s as a probe", hold.key, probe_id)
        return True

    async def _read(self, hold: Hold) -> None:
        """The read of a credential probe, with the token of the held account (issue 18: the account a hold's
        number belongs to, or the account the hold is on; the environment's for holds from before)."""
        accounts = self.ctx.accounts
        waba = hold.waba_id or (accounts.waba_of_key(hold.scope_key) if hold.scope == ACCOUNT_SCOPE else "")
        graph = await accounts.graph_for_waba(waba)
        number = hold.probe_phone_number_id or (hold.scope_key if hold.scope == PHONE_NUMBER_SCOPE else None)
        if number:
            await graph.get_phone_number(number, fields="id,status,quality_rating")
        elif waba:
            await graph.list_phone_numbers(waba)
        else:
            raise GraphNotConfigured("WhatsApp master account not configured")
