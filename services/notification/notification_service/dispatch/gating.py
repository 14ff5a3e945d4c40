"""Rate gates of a batch: the pure plan of ``domain/rate_gate.py`` over the counters shared in the database."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.db import transaction
from notification_service.dispatch.context import DispatchContext, count_applied
from notification_service.domain import rate_gate, transitions
from notification_service.domain.decisions import Send
from notification_service.domain.message import MessageUpdate
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import rate_limits as rate_repo
from notification_service.services.shares import ShareCache

#: bound on the remembered keys (pair keys grow with the recipients): beyond it the set starts again
_KNOWN_KEYS_MAX = 200_000


#: work done in the gate's transaction with the admitted sends
Then = Callable[[AsyncSession, list["Admitted"]], Awaitable[None]]


class _RowsMissing(Exception):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"{len(keys)} rate-limit row(s) missing")
        self.keys = keys


@dataclass
class Admitted:
    send: Send
    send_at: datetime | None


class Gate:
    def __init__(self, ctx: DispatchContext) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.config = rate_gate.GateConfig(
            rate_per_second=s.rate_per_number_per_second,
            pair_interval=s.recipient_min_interval_seconds,
            horizon=s.rate_wait_horizon_seconds,
        )
        #: each bakery's share of its portfolio's daily new-recipient budget (re-read every few seconds)
        self.shares = ShareCache(s)
        #: rate-limit keys whose row this process created or locked (so it need not create them again)
        self._known_keys: set[str] = set()

    async def admit(self, sends: list[Send], then: Then | None = None) -> list[Admitted]:
        """Which sends may go now (each with the instant of its slot); the others are re-queued for their slot.

        ``then`` runs in the same transaction with the admitted sends (the batch starts their attempts there: one
        commit for the slots taken and the attempts that use them, one round of BEGIN/COMMIT less per batch)."""
        now = self.ctx.clock()  # the current time, not the batch's: tenant look-ups may have taken a while
        requests = [
            rate_gate.GateRequest(
                message_id=s.message.id,
                tenant_id=s.message.tenant_id,
                phone_number_id=s.phone_number_id,
                recipient=s.message.recipient_phone,
            )
            for s in sends
        ]
        accounts = await self.ctx.accounts.all()  # cached: the tenant service is asked at most once a minute
        async with self.ctx.sessions() as session:
            table = await self.shares.get(session, now, accounts)
        # each bakery draws on its own portfolio's budget (issue 18): the one its settings name now
        caps = {s.message.tenant_id: table.share(s.message.tenant_id, s.portfolio_id).daily for s in sends}
        keys = rate_gate.keys_for(requests, self.config, now.date(), caps)
        for _ in range(3):
            try:
                return await self._admit(sends, requests, keys, now, then, caps)
            except _RowsMissing as missing:  # removed by the clean-up, or created by another dispatcher not yet
                self._known_keys.difference_update(missing.keys)  # committed: create (or wait for) them again
        raise RuntimeError("rate-limit rows keep disappearing; the batch is retried later")

    async def _admit(
        self,
        sends: list[Send],
        requests: list[rate_gate.GateRequest],
        keys: list[str],
        now: datetime,
        then: Then | None,
        caps: rate_gate.Caps,
    ) -> list[Admitted]:
        owner = self.ctx.owner
        deferred: list[MessageUpdate] = []
        new_keys = [k for k in keys if k not in self._known_keys]
        async with transaction(self.ctx.sessions) as session:
            # Rows first, locks second, both in key order: an INSERT waits only for another INSERT of the same
            # key, a lock only for another lock, so concurrent dispatchers cannot deadlock. A row another
            # dispatcher inserted but has not committed is not seen by the lock: then the transaction starts again.
            await rate_repo.ensure_keys(session, new_keys, now)
            counters = await rate_repo.lock_keys(session, keys)
            if len(counters) < len(keys):
                raise _RowsMissing([k for k in keys if k not in counters])  # rolls back: no lock is kept
            known: set[tuple[uuid.UUID, str]] = set()
            capped = [(r.tenant_id, r.recipient) for r in requests if caps.get(r.tenant_id) is not None]
            if capped:
                known = await rate_repo.known_recipients(session, now.date(), capped)
            results = rate_gate.plan(requests, counters, config=self.config, now=now, known_today=known, caps=caps)
            await rate_repo.write_back(session, counters.values(), now)
            new = [(r.tenant_id, r.recipient) for r in requests if results[r.message_id].new_recipient]
            await rate_repo.add_recipients(session, now.date(), new, now)
            admitted: list[Admitted] = []
            for send in sends:
                result = results[send.message.id]
                if result.allowed:
                    admitted.append(Admitted(send, result.send_at))
                else:
                    assert result.defer_until is not None and result.reason is not None
                    deferred.append(
                        transitions.requeued(send.message, owner, now, due=result.defer_until, reason=result.reason)
                    )
            applied = await messages_repo.apply_leased(session, owner, deferred)
            if then is not None and admitted:
                await then(session, admitted)
        if len(self._known_keys) + len(new_keys) > _KNOWN_KEYS_MAX:
            self._known_keys.clear()
        self._known_keys.update(new_keys)
        count_applied(deferred, applied, {s.message.id: s.message.tenant_id for s in sends})
        return admitted
