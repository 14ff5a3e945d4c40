"""One batch, start to end — the message lifecycle in one place:

1. **claim** due messages under a lease (fairly across tenants); the lease heartbeat starts at once and runs
   until the last outcome is recorded, so slow tenant look-ups or rate waits never let the lease expire;
2. **decide** each message (``domain/decisions.prepare``): send, or settle it now (skip, hold, fail, re-queue);
3. **gate** the sends on the shared rate limits, at the current time;
4. **start attempts**: the attempt rows and the ``attempts`` count are committed before any HTTP call; a message
   whose lease was lost (its ownership write matched nothing) is dropped here and never sent;
5. **send** through the Graph client and **record** each outcome (``dispatch/outcomes``): accepted sends in
   chunks, failures one by one with their pacing and holds.

Every change of a message is a transition of ``domain/message.py`` written by ``repositories/messages.apply_leased``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.contracts import InternalNotificationSettings
from bakery_shared.db import transaction
from bakery_shared.graph import GraphClient, GraphTimeout, SendResult
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.dispatch import outcomes
from notification_service.dispatch.context import DispatchContext, count_applied
from notification_service.dispatch.gating import Admitted, Gate
from notification_service.dispatch.probes import PROBED_KINDS, HoldProber
from notification_service.domain import button_payloads, decisions, po_document, transitions
from notification_service.domain.message import Message, MessageUpdate
from notification_service.domain.statuses import callback_data_for
from notification_service.domain.supplier_replies import KIND_SUPPLIER_ACK
from notification_service.domain.whatsapp_state import (
    MARKETING,
    MARKETING_ROUTE,
    TEMPLATE_ACTIONS,
    TemplateAction,
)
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import rate_limits as rate_repo
from notification_service.repositories import supplier_replies as replies_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.repositories.messages import AttemptEnd, AttemptStart
from notification_service.services import delivery_failures
from notification_service.tenant_client import TenantNotFound, TenantServiceUnavailable

log = logging.getLogger("notification.whatsapp.dispatcher")

#: a wait for a rate slot up to this long is a plain sleep (a shutdown waits at most this for it)
_PLAIN_SLEEP_SECONDS = 0.5
_RECORD_CHUNK = 50  # accepted sends recorded per transaction (the rest of a batch in its tail)
#: templates that must not be sent now (PAUSED, PENDING, REJECTED, …)
_BLOCKED_TEMPLATE_STATES = [s for s, a in TEMPLATE_ACTIONS.items() if a is not TemplateAction.SEND]


class Lease:
    """The messages of one batch this dispatcher still holds (claimed and not yet settled)."""

    def __init__(self, ids: list[uuid.UUID]) -> None:
        self.held = set(ids)

    def release(self, ids: set[uuid.UUID] | list[uuid.UUID]) -> None:
        self.held.difference_update(ids)


@dataclass
class _Out:
    """A message on its way out."""

    send: decisions.Send
    send_at: datetime | None
    attempt_id: int = 0
    started: float = field(default=0.0)

    @property
    def message(self) -> Message:
        return self.send.message


class Batch:
    def __init__(self, ctx: DispatchContext, gate: Gate, prober: HoldProber) -> None:
        self.ctx = ctx
        self.gate = gate
        self.prober = prober
        self._accepted: list[tuple[_Out, SendResult, int]] = []
        self._tenant_of: dict[uuid.UUID, uuid.UUID] = {}
        self._probes: dict[uuid.UUID, holds_repo.Hold] = {}
        #: accepted MARKETING templates (account key, name, language): /marketing_messages
        self._marketing: set[tuple[str, str, str]] = set()
        self._opted_out: dict[tuple[uuid.UUID, str], str] = {}  # suppliers who opted out of a bakery (issue 16)
        self._last_inbound: dict[tuple[str, str], datetime] = {}  # customer-service windows of free-form sends
        #: what the tenant client knew of each tenant when its settings were read (see _send_one)
        self._versions: dict[uuid.UUID, tuple[int, int]] = {}

    async def run(self) -> int:
        """Claim one batch and process it completely. Returns how many messages were claimed."""
        claimed, tail = await self.start()
        if tail is not None:
            await tail
        return claimed

    async def start(self) -> tuple[int, Coroutine[Any, Any, None] | None]:
        """Claim one batch and send it; returns how many messages were claimed and the *tail* that must be
        awaited: recording the last accepted sends and ending the lease heartbeat. The dispatcher's loop runs the
        tail while it claims the next batch (the next batch's messages never wait for this one's bookkeeping);
        until the tail ends, its messages stay ``sending`` under this dispatcher's lease."""
        ctx = self.ctx
        now = ctx.clock()
        async with transaction(ctx.sessions) as session:
            claimed, unfinished = await messages_repo.claim_batch_with_unfinished(
                session, owner=ctx.owner, now=now, lease_until=ctx.lease_until(), limit=ctx.settings.dispatch_batch_size
            )
            if not claimed:
                return 0, None
            await messages_repo.abandon_attempts(session, unfinished, now)
            # read in the claim's transaction: no session, pool check-out and BEGIN/ROLLBACK of their own
            holds = await holds_repo.holds(session)
            states = await state_repo.template_states(session, _BLOCKED_TEMPLATE_STATES)
            unreachable = await delivery_failures.unreachable_reasons(
                session, ctx.settings, [(m.tenant_id, m.recipient_phone) for m in claimed], now
            )
            self._opted_out = await replies_repo.opted_out(session, [(m.tenant_id, m.recipient_phone) for m in claimed])
            free_form = [m.recipient_phone for m in claimed if m.kind == KIND_SUPPLIER_ACK]
            self._last_inbound = await replies_repo.last_inbound_by_supplier(session, free_form) if free_form else {}
            self._marketing = await state_repo.templates_sent_as(session, MARKETING)
        self._tenant_of = {m.id: m.tenant_id for m in claimed}
        lease = Lease([m.id for m in claimed])
        heartbeat = asyncio.create_task(self._heartbeat(lease), name=f"lease-heartbeat-{ctx.owner}")
        try:
            await self._process(claimed, unfinished, lease, holds, states, unreachable)
        except BaseException:
            await self._tail(lease, heartbeat)
            raise
        return len(claimed), self._tail(lease, heartbeat)

    async def _tail(self, lease: Lease, heartbeat: asyncio.Task[None]) -> None:
        try:
            await self._flush_accepted(lease)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, lease: Lease) -> None:
        """Keep the batch's leases from expiring while it is processed; forget the ones lost all the same."""
        period = self.ctx.settings.dispatch_lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            ids = list(lease.held)
            try:
                async with transaction(self.ctx.sessions) as session:
                    still = await messages_repo.extend_leases(session, self.ctx.owner, ids, self.ctx.lease_until())
            except Exception:  # noqa: BLE001 - the next beat retries
                log.warning("dispatcher %s: could not extend leases", self.ctx.owner, exc_info=True)
                continue
            lost = {i for i in ids if i not in still and i in lease.held}
            if lost:
                log.warning(
                    "dispatcher %s: lost the lease of %d message(s); not sending them", self.ctx.owner, len(lost)
                )
                lease.release(lost)

    # ------------------------------------------------------------------ decide, settle, gate

    async def _process(
        self,
        claimed: list[Message],
        unfinished: dict[uuid.UUID, datetime],
        lease: Lease,
        holds: list[holds_repo.Hold],
        states: dict[state_repo.TemplateKey, dict[str, Any]],
        unreachable: dict[tuple[uuid.UUID, str], str],
    ) -> None:
        ctx = self.ctx
        self._probes = {h.probe_message_id: h for h in holds if h.probe_message_id is not None}
        by_key: dict[str, list[holds_repo.Hold]] = {}
        for hold in holds:  # oldest first
            by_key.setdefault(hold.key, []).append(hold)
        active: dict[str, tuple[str, uuid.UUID | None]] = {}
        for key, group in by_key.items():
            # a probe message may pass its hold, but not another kind of hold on the same key (e.g. quality)
            probes = [h.probe_message_id for h in group if h.probe_message_id is not None]
            probe = probes[0] if probes and all(h.kind in PROBED_KINDS for h in group) else None
            active[key] = (group[0].reason, probe)
        tenants: dict[uuid.UUID, InternalNotificationSettings | decisions.TenantProblem] = {}
        missing: list[uuid.UUID] = []
        for tenant_id in {m.tenant_id for m in claimed}:
            # the common case answered from the cache without a task per tenant
            self._versions[tenant_id] = ctx.tenants.version(tenant_id)
            cached = ctx.tenants.fresh(tenant_id)
            if cached is not None:
                tenants[tenant_id] = cached
            else:
                missing.append(tenant_id)
        if missing:
            looked_up = await asyncio.gather(*(self._tenant(t) for t in missing))
            tenants.update(zip(missing, looked_up, strict=True))
        decide_ctx = decisions.Context(
            owner=ctx.owner,
            now=ctx.clock(),
            globally_enabled=ctx.settings.enable_whatsapp_notifications,
            ambiguous_grace=ctx.settings.ambiguous_grace_seconds,
            tenant_retry=ctx.settings.tenant_unavailable_retry_seconds,
            holds=active,
            template_states={k: (str(v["status"]), v["reason"]) for k, v in states.items()},
            unreachable=unreachable,
            marketing_templates=self._marketing,
            opted_out=self._opted_out,
            last_inbound=self._last_inbound,
            environment_waba=ctx.accounts.environment_waba,
        )
        sends: list[decisions.Send] = []
        settles: list[MessageUpdate] = []
        for message in claimed:
            result = decisions.prepare(
                message, decide_ctx, unfinished_since=unfinished.get(message.id), tenant=tenants[message.tenant_id]
            )
            if isinstance(result, decisions.Send):
                sends.append(result)
            else:
                settles.append(result)
        if settles:
            async with transaction(ctx.sessions) as session:
                applied = await messages_repo.apply_leased(session, ctx.owner, settles)
            count_applied(settles, applied, self._tenant_of)
            lease.release([u.message_id for u in settles if u.message_id is not None])
        sends = [s for s in sends if s.message.id in lease.held]
        if not sends:
            return
        tried: list[Admitted] = []
        started: list[_Out] = []

        async def start(session: AsyncSession, admitted: list[Admitted]) -> None:
            tried[:] = [a for a in admitted if a.send.message.id in lease.held]
            started[:] = await self._start_attempts(session, tried)

        admitted = await self.gate.admit(sends, then=start)
        lease.release({s.message.id for s in sends} - {a.send.message.id for a in admitted})
        outgoing = self._kept(started, tried, lease)
        if outgoing:
            await self._send_all(outgoing, lease)

    async def _tenant(self, tenant_id: uuid.UUID) -> InternalNotificationSettings | decisions.TenantProblem:
        self._versions[tenant_id] = self.ctx.tenants.version(tenant_id)
        try:
            return await self.ctx.tenants.get(tenant_id)
        except TenantNotFound:
            return decisions.TenantProblem.NOT_FOUND
        except TenantServiceUnavailable:
            return decisions.TenantProblem.UNAVAILABLE

    # ------------------------------------------------------------------ attempts and sends

    async def _start_attempts(self, session: AsyncSession, admitted: list[Admitted]) -> list[_Out]:
        """One attempt row per message, in the gate's transaction: committed before any HTTP call (a crash leaves
        the attempt open). A message whose ownership write matched nothing (lease lost) gets no attempt."""
        ctx = self.ctx
        now = ctx.clock()
        updates = [
            transitions.attempt_started(
                a.send.message,
                ctx.owner,
                now,
                phone_number_id=a.send.phone_number_id,
                language=a.send.rendered.language,
                parameters=a.send.rendered.parameters,
                possible_duplicate=a.send.possible_duplicate,
                waba_id=a.send.waba_id,
            )
            for a in admitted
        ]
        applied = await messages_repo.apply_leased(session, ctx.owner, updates)
        kept = [a for a in admitted if a.send.message.id in applied]
        starts = [
            AttemptStart(a.send.message.id, a.send.message.attempts + 1, ctx.owner, a.send.phone_number_id, now)
            for a in kept
        ]
        attempt_ids = await messages_repo.start_attempts(session, starts)
        return [_Out(a.send, a.send_at, attempt_ids[a.send.message.id]) for a in kept]

    def _kept(self, started: list[_Out], tried: list[Admitted], lease: Lease) -> list[_Out]:
        """After the commit: the messages tried without an attempt lost their lease (never sent)."""
        ctx = self.ctx
        lost = {a.send.message.id for a in tried} - {o.message.id for o in started}
        if lost:
            log.warning("dispatcher %s: %d message(s) lost their lease before sending; not sent", ctx.owner, len(lost))
            lease.release(lost)
        for out in started:
            if out.send.possible_duplicate:
                metrics.POSSIBLE_DUPLICATES.inc()
                with bind(tenant_id=out.message.tenant_id, notification_id=out.message.id):
                    log.warning("whatsapp message re-sent after an ambiguous attempt: possible duplicate")
        return started

    async def _send_all(self, outgoing: list[_Out], lease: Lease) -> None:
        semaphore = asyncio.Semaphore(self.ctx.settings.dispatch_concurrency)
        await asyncio.gather(*(self._send_one(item, semaphore, lease) for item in outgoing))  # the tail records

    async def _send_one(self, item: _Out, semaphore: asyncio.Semaphore, lease: Lease) -> None:
        message = item.message
        with bind(tenant_id=message.tenant_id, notification_id=message.id):
            if item.send_at is not None:
                delay = (item.send_at - self.ctx.clock()).total_seconds()
                if 0 < delay <= _PLAIN_SLEEP_SECONDS:
                    # a pacing slot moments away (most sends of a full batch): a plain sleep; shutting down is
                    # checked right after it, under the semaphore (wait_for would cost a task and a timer each)
                    await asyncio.sleep(delay)
                elif delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.ctx.stopping.wait(), timeout=delay)
            async with semaphore:
                if self.ctx.stopping.is_set() or message.id not in lease.held:
                    await self._not_sent(item, lease)
                    return
                if self.ctx.tenants.version(message.tenant_id) != self._versions.get(message.tenant_id):
                    # the tenant's settings changed since they were read (e.g. its number was unassigned):
                    # never send from a number the bakery may no longer hold; the next batch reads them again
                    await self._not_sent(item, lease, "the bakery's settings changed before the send; re-read")
                    return
                started = time.monotonic()
                try:
                    result: SendResult | BaseException = await self._send(item)
                except Exception as exc:  # noqa: BLE001 - every error is recorded on the message
                    result = exc
                elapsed = time.monotonic() - started
                metrics.record_send(message.tenant_id, result, elapsed)
            duration_ms = int(elapsed * 1000)
            try:
                if isinstance(result, SendResult):
                    log.info(
                        "whatsapp message sent: accepted by Meta as %s (%d ms)",
                        result.wamid,
                        duration_ms,
                        extra={"status": "sent", "wamid": result.wamid, "duration_ms": duration_ms},
                    )
                    self._accepted.append((item, result, duration_ms))
                    if len(self._accepted) >= _RECORD_CHUNK:
                        await self._flush_accepted(lease)
                else:
                    await self._record_failure(item, result, duration_ms, lease)
            except Exception:  # noqa: BLE001
                log.exception("could not record the outcome of message %s; its lease will expire", message.id)

    async def _send(self, item: _Out) -> SendResult:
        """The Graph call: a free-form text (only ever decided inside the customer-service window), or the template
        with a signed payload on each of its quick-reply buttons (domain/button_payloads.py)."""
        message, rendered = item.message, item.send.rendered
        graph = self.ctx.accounts.graph_for(item.send.token_ref)  # the number's account speaks with its own token
        if rendered.free_form:
            return await graph.send_text(
                item.send.phone_number_id,
                to=message.recipient_phone,
                body=rendered.parameters[0],
                biz_opaque_callback_data=callback_data_for(message.id),
            )
        header_document = None
        if rendered.document:
            media_id = await self._document_media(item, graph)
            header_document = (media_id, po_document.filename(str(message.template_values["po_number"])))
        return await graph.send_template(
            item.send.phone_number_id,
            to=message.recipient_phone,
            template_name=rendered.name,
            language=rendered.meta_language,
            body_parameters=rendered.parameters,
            biz_opaque_callback_data=callback_data_for(message.id),
            marketing=item.send.route == MARKETING_ROUTE,
            button_payloads=[
                button_payloads.sign(self.ctx.button_key, message.id, button_payloads.Action(action))
                for action in rendered.buttons
            ],
            header_document=header_document,
        )

    async def _document_media(self, item: _Out, graph: GraphClient) -> str:
        """The send's first step for a purchase order with lines: the media id of its PDF. The one uploaded by an
        earlier attempt from the same number is reused within its life; else the PDF is rendered in the message's
        language and uploaded (``POST /<PHONE_NUMBER_ID>/media``), and its id kept with the message. A failed
        upload raises the Graph client's errors: the attempt fails and is retried like a failed send."""
        message, rendered = item.message, item.send.rendered
        reused = po_document.reusable_media_id(
            message.media_id,
            message.media_uploaded_at,
            message.phone_number_id,
            item.send.phone_number_id,
            self.ctx.clock(),
            last_error_code=message.error_code,
        )
        if reused is not None:
            return reused
        pdf = await asyncio.to_thread(po_document.render_pdf, message.template_values, rendered.language)
        try:
            media_id = await graph.upload_media(
                item.send.phone_number_id,
                content=pdf,
                mime_type=po_document.MIME_TYPE,
                filename=po_document.filename(str(message.template_values["po_number"])),
            )
        except GraphTimeout as exc:
            # an upload that may have reached Meta is no message that may have reached the supplier: nothing was
            # sent, so it is retried as transient (never an ambiguous send and its duplicate grace)
            raise GraphTimeout(f"media upload: {exc}", maybe_delivered=False) from exc
        async with transaction(self.ctx.sessions) as session:
            await messages_repo.record_media(session, self.ctx.owner, message.id, media_id, self.ctx.clock())
        return media_id

    async def _not_sent(self, item: _Out, lease: Lease, why: str = "dispatcher shutting down") -> None:
        """Shutting down, the tenant's settings changed, or the lease was lost: the attempt did not happen."""
        now = self.ctx.clock()
        held = item.message.id in lease.held
        end = AttemptEnd(
            item.attempt_id,
            "released" if held else "lease_lost",
            now,
            error_message=f"{why}; not sent" if held else "the lease expired; not sent",
        )
        async with transaction(self.ctx.sessions) as session:
            await messages_repo.finish_attempts(session, [end])
            if held:
                await messages_repo.apply_leased(
                    session, self.ctx.owner, [transitions.returned(item.message, self.ctx.owner, now)]
                )
        lease.release([item.message.id])

    # ------------------------------------------------------------------ recording outcomes

    async def _flush_accepted(self, lease: Lease) -> None:
        """Record the accepted sends buffered so far in one transaction."""
        chunk, self._accepted = self._accepted, []
        if not chunk:
            return
        ctx = self.ctx
        now = ctx.clock()
        updates = [
            transitions.accepted(
                item.message,
                ctx.owner,
                now,
                wamid=result.wamid,
                pacing=result.message_status if result.message_status not in (None, "accepted") else None,
            )
            for item, result, _ in chunk
        ]
        ends = [
            AttemptEnd(item.attempt_id, "accepted", now, duration_ms=ms, http_status=200, wamid=result.wamid)
            for item, result, ms in chunk
        ]
        try:
            async with transaction(ctx.sessions) as session:
                applied = await messages_repo.apply_leased(session, ctx.owner, updates)
                for item, result, _ in chunk:
                    if item.message.id not in applied:  # a webhook was faster: keep the wamid all the same
                        await messages_repo.record_wamid_if_missing(session, item.message.id, result.wamid, now)
                await messages_repo.finish_attempts(session, ends)
                for item, _, _ in chunk:
                    if item.message.id in self._probes:
                        await self.prober.probe_passed(session, self._probes[item.message.id], now)
        except Exception:  # noqa: BLE001 - as for one message: the leases expire and the attempts are reconciled
            log.exception("could not record %d accepted sends; their leases will expire", len(chunk))
            return
        count_applied(updates, applied, self._tenant_of)
        lease.release([item.message.id for item, _, _ in chunk])

    async def _record_failure(self, item: _Out, exc: BaseException, duration_ms: int, lease: Lease) -> None:
        ctx = self.ctx
        now = ctx.clock()
        failure = outcomes.classify(exc)
        plan = outcomes.plan_failure(
            item.message,
            failure,
            owner=ctx.owner,
            phone_number_id=item.send.phone_number_id,
            now=now,
            policy=ctx.policy,
            rng=ctx.rng,
            template=(item.send.rendered.name, item.send.rendered.meta_language),
            account_key=ctx.accounts.key_for(item.send.waba_id),
            waba_id=item.send.waba_id,
        )
        end = AttemptEnd(
            item.attempt_id,
            plan.attempt_outcome,
            now,
            duration_ms=duration_ms,
            http_status=failure.http_status,
            error_code=failure.label,
            error_message=failure.error.message,
        )
        probe_of = self._probes.get(item.message.id)
        async with transaction(ctx.sessions) as session:
            if plan.pace is not None:
                await rate_repo.push_tat(session, plan.pace[0], plan.pace[1], now)
            if plan.hold is not None:
                await self.prober.hold_failed(session, plan.hold, item.message.id, now)
            elif probe_of is not None and failure.error_class is outcomes.ErrorClass.PERMANENT:
                await self.prober.probe_passed(session, probe_of, now)  # the number sent; the recipient is the issue
            applied = await messages_repo.apply_leased(session, ctx.owner, [plan.update])
            await messages_repo.finish_attempts(session, [end])
            await delivery_failures.apply_plan_effects(session, item.message, plan, failure, now)
        if not applied:
            log.warning("message %s: lease lost before its outcome was recorded", item.message.id)
        count_applied([plan.update], applied, self._tenant_of)
        lease.release([item.message.id])
