"""What suppliers write back (issue 16): the one owner of inbound ``messages[]`` items.

The webhook applier hands every inbound item to :meth:`SupplierReplies.apply`, in the transaction of its batch
(or of its event, on the item-by-item path), so an item, what it decides and the events it produces for the
platform (``services/outbound_events.record``) commit together or not at all.

* Each item is stored once in ``inbound_messages`` (unique wamid): the same wamid again — Meta's retry in another
  body, or a replay — is counted and changes nothing.
* The bakery is the one the receiving number belongs to: the tenant of the latest message sent from that number
  (numbers belong to one bakery at a time; no call to the tenant service on this path).
* A tap (``button`` or ``interactive.button_reply``): the payload is verified (``domain/button_payloads``); it must
  name a message sent from the receiving number, of that number's bakery, to the supplier who taps. The first tap
  on a message is its decision (``supplier_decisions``), recorded as ``purchase_order.supplier_confirmed`` /
  ``_rejected``, and answered with a short free-form text when the customer-service window is open (it is: the tap
  opened it, unless Meta delivered the webhook more than 24 hours late). Later taps are recorded, the first decision
  stands. A refused payload changes nothing, is counted (``whatsapp_supplier_payloads_refused_total{reason}``) and
  logged without the payload.
* A text that is exactly an opt-out or opt-in word opts the supplier out of (or back into) this bakery's messages
  (``supplier.opted_out`` / ``supplier.opted_in``). Any other text (or media) is a reply, linked to the message it
  answers (``context.id``, else the latest message to that supplier from that number) and recorded as
  ``purchase_order.supplier_replied``.
* Without a phone number (Meta withholds it for some users: business-scoped user ID only) the item is kept and
  linked by the user ID (``whatsapp_messages.recipient_user_id``).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.auth import Principal
from notification_service import metrics
from notification_service.api.schemas import OptedOutListOut, OptedOutOut
from notification_service.config import NotificationSettings
from notification_service.domain import button_payloads, outbound_events
from notification_service.domain import supplier_replies as rules
from notification_service.domain.decisions import KIND_PURCHASE_ORDER, KIND_TEST
from notification_service.domain.message import Message
from notification_service.domain.outbound_events import OutboundEvent
from notification_service.domain.statuses import MessageStatus
from notification_service.domain.templates import SUPPLIER_ACK
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import supplier_replies as repo
from notification_service.repositories.signals import notify_in_transaction
from notification_service.services import outbound_events as outbound
from notification_service.services.ingestion import new_message_values
from notification_service.services.messages import inbound_shown_to

log = logging.getLogger("notification.whatsapp.inbound")

#: the messages a supplier's reply may answer (never our own confirmation replies)
_ANSWERABLE = (KIND_PURCHASE_ORDER, KIND_TEST)
_BUTTON_TYPES = ("button", "interactive")


def _masked(phone: str | None) -> str:
    return f"…{phone[-4:]}" if phone else "(no phone)"


@dataclass(frozen=True, slots=True)
class InboundItem:
    """One inbound ``messages[]`` item as the webhook carried it."""

    event_id: int | None
    phone_number_id: str | None
    item: Any


@dataclass
class InboundResult:
    """What a round of :meth:`SupplierReplies.apply` did; its metrics are published after the commit."""

    outcomes: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)  # confirmed | rejected | later_tap
    refused: Counter[str] = field(default_factory=Counter)  # reason → payloads
    opt: Counter[str] = field(default_factory=Counter)  # opted_out | opted_in
    replies: int = 0
    acks: Counter[str] = field(default_factory=Counter)  # queued | outside_window | opted_out
    queued: bool = False  # a message was queued: wake the dispatcher

    def merge(self, other: InboundResult) -> None:
        self.outcomes.update(other.outcomes)
        self.decisions.update(other.decisions)
        self.refused.update(other.refused)
        self.opt.update(other.opt)
        self.replies += other.replies
        self.acks.update(other.acks)
        self.queued = self.queued or other.queued

    def publish(self) -> None:
        for decision, n in self.decisions.items():
            metrics.SUPPLIER_DECISIONS.labels(decision=decision).inc(n)
        for reason, n in self.refused.items():
            metrics.SUPPLIER_PAYLOADS_REFUSED.labels(reason=reason).inc(n)
        for change, n in self.opt.items():
            metrics.SUPPLIER_OPT_CHANGES.labels(change=change).inc(n)
        if self.replies:
            metrics.SUPPLIER_REPLIES.inc(self.replies)
        for result, n in self.acks.items():
            metrics.SUPPLIER_ACKS.labels(result=result).inc(n)
        for outcome, n in self.outcomes.items():
            metrics.INBOUND_MESSAGES.labels(outcome=outcome).inc(n)


class SupplierReplies:
    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings
        self.key = button_payloads.derive_key(
            settings.button_payload_secret.get_secret_value(), settings.jwt_secret.get_secret_value()
        )
        self.words = rules.Words.of(settings.supplier_opt_out_words, settings.supplier_opt_in_words)

    async def apply(
        self, session: AsyncSession, items: list[InboundItem], now: datetime, result: InboundResult
    ) -> None:
        """Handle ``items`` in order, in the caller's transaction (nothing is committed here)."""
        for item in items:
            await self.handle(session, item, now, result)

    async def handle(self, session: AsyncSession, given: InboundItem, now: datetime, result: InboundResult) -> str:
        item = rules.parse_inbound(given.item, now)
        if item is None or not given.phone_number_id:
            log.warning("inbound message without an id or a receiving number: skipped")
            result.outcomes["invalid"] += 1
            return "invalid"
        inbound_id = uuid.uuid4()
        tenant_id = await repo.tenant_of_number(session, given.phone_number_id)
        stored = await repo.insert_inbound(
            session,
            {
                "id": inbound_id,
                "wamid": item.wamid,
                "phone_number_id": given.phone_number_id,
                "tenant_id": tenant_id,
                "from_phone": item.from_phone,
                "from_user_id": item.from_user_id,
                "supplier_phone": item.from_phone,
                "type": item.type,
                "text": item.text,
                "button_payload": item.button_payload,
                "button_text": item.button_text,
                "context_wamid": item.context_wamid,
                "outcome": rules.OUTCOME_RECEIVED,
                "sent_at": item.sent_at,
                "received_at": now,
                "webhook_event_id": given.event_id,
            },
        )
        if not stored:  # the same wamid again: handled once already, nothing is done twice
            log.info("inbound message %s already handled (duplicate wamid)", item.wamid)
            result.outcomes["duplicate"] += 1
            if item.type in _BUTTON_TYPES:
                result.refused[rules.REFUSED_REPLAYED] += 1
            return "duplicate"
        handler = self._tap if item.type in _BUTTON_TYPES else self._text
        values = await handler(session, given.phone_number_id, tenant_id, item, now, result)
        await repo.update_inbound(session, inbound_id, values)
        result.outcomes[values["outcome"]] += 1
        return str(values["outcome"])

    # ------------------------------------------------------------------ taps

    async def _tap(
        self,
        session: AsyncSession,
        phone_number_id: str,
        tenant_id: uuid.UUID | None,
        item: rules.Inbound,
        now: datetime,
        result: InboundResult,
    ) -> dict[str, Any]:
        verified = button_payloads.verify(self.key, item.button_payload or "")
        if isinstance(verified, button_payloads.Refusal):
            return self._refused(item, phone_number_id, verified.value, result)
        message = await messages_repo.get(session, verified.message_id)
        reason: str | None = None
        if message is None:
            reason = rules.REFUSED_UNKNOWN_MESSAGE
        elif message.phone_number_id != phone_number_id:
            reason = rules.REFUSED_OTHER_NUMBER
        elif tenant_id is not None and message.tenant_id != tenant_id:
            reason = rules.REFUSED_OTHER_TENANT
        elif not _same_supplier(message, item):
            reason = rules.REFUSED_OTHER_SUPPLIER
        if reason is not None or message is None:
            return self._refused(item, phone_number_id, reason or rules.REFUSED_UNKNOWN_MESSAGE, result)
        decision = rules.DECISION_OF[verified.action]
        po_id, po_number = await repo.purchase_order_of(session, message.tenant_id, message.event_id)
        linked = {
            "tenant_id": message.tenant_id,
            "message_id": message.id,
            "supplier_phone": message.recipient_phone,
            "purchase_order_id": po_id,
            "purchase_order_number": po_number or message.template_values.get("po_number"),
        }
        first = await repo.insert_decision(
            session,
            {
                "message_id": message.id,
                "tenant_id": message.tenant_id,
                "decision": decision,
                "decided_at": item.sent_at,
                "inbound_wamid": item.wamid,
                "created_at": now,
            },
        )
        if not first:
            standing = await repo.get_decision(session, message.id)
            kept = standing.decision if standing is not None else "?"
            log.info("message %s: a later tap (%s) after the decision %s; the first stands", message.id, decision, kept)
            result.decisions["later_tap"] += 1
            return {
                **linked,
                "outcome": rules.OUTCOME_LATER_TAP,
                "outcome_detail": f"tapped {decision}; the first decision stands: {kept}",
            }
        result.decisions[decision] += 1
        log.info("message %s: the supplier %s it", message.id, decision, extra={"tenant_id": str(message.tenant_id)})
        if message.kind == KIND_PURCHASE_ORDER:
            confirmed = decision == rules.CONFIRMED
            name = outbound_events.SUPPLIER_CONFIRMED if confirmed else outbound_events.SUPPLIER_REJECTED
            await self._event(session, name, message, item, now, po_id=po_id, po_number=po_number, decision=decision)
        await self._acknowledge(session, message, item, decision, po_number, now, result)
        return {**linked, "outcome": rules.OUTCOME_DECISION, "outcome_detail": decision}

    def _refused(self, item: rules.Inbound, phone_number_id: str, reason: str, result: InboundResult) -> dict[str, Any]:
        # never the payload itself in a log line: a valid one is a credential for that message's decision
        log.warning(
            "button payload refused (%s): inbound %s to number %s from %s",
            reason,
            item.wamid,
            phone_number_id,
            _masked(item.from_phone),
        )
        result.refused[reason] += 1
        return {"outcome": rules.OUTCOME_PAYLOAD_REFUSED, "outcome_detail": reason}

    async def _acknowledge(
        self,
        session: AsyncSession,
        message: Message,
        item: rules.Inbound,
        decision: str,
        po_number: str | None,
        now: datetime,
        result: InboundResult,
    ) -> None:
        """Queue the short confirmation text, only inside the customer-service window and never to an opted-out
        supplier; otherwise record why not on the decision."""
        skipped: str | None = None
        if not rules.window_open(item.sent_at, now):
            skipped = rules.OUTSIDE_WINDOW_REASON
            result.acks["outside_window"] += 1
        elif await repo.opted_out(session, [(message.tenant_id, message.recipient_phone)]):
            skipped = f"{rules.OPTED_OUT_REASON_CODE}: no reply to a supplier who opted out"
            result.acks["opted_out"] += 1
        if skipped is not None:
            log.info("message %s: no confirmation reply (%s)", message.id, skipped.split(":", 1)[0])
            await repo.update_decision(session, message.id, {"ack_skipped_reason": skipped})
            return
        ack = new_message_values(
            tenant_id=message.tenant_id,
            event_id=None,
            kind=rules.KIND_SUPPLIER_ACK,
            recipient=message.recipient_phone,
            template_name=SUPPLIER_ACK,
            template_values={"decision": decision, "po_number": po_number or message.template_values.get("po_number")},
            requested_language=message.language or message.requested_language,
            now=now,
        )
        await messages_repo.insert_message(session, ack)
        await repo.update_decision(session, message.id, {"ack_message_id": ack["id"]})
        await notify_in_transaction(session)
        metrics.count_transition(MessageStatus.QUEUED.value, "supplier_ack")
        result.acks["queued"] += 1
        result.queued = True

    # ------------------------------------------------------------------ texts: opt-out, opt-in, replies

    async def _text(
        self,
        session: AsyncSession,
        phone_number_id: str,
        tenant_id: uuid.UUID | None,
        item: rules.Inbound,
        now: datetime,
        result: InboundResult,
    ) -> dict[str, Any]:
        message = await self._answered(session, phone_number_id, item)
        values: dict[str, Any] = {}
        if message is not None:
            tenant_id = message.tenant_id
            values.update(tenant_id=tenant_id, message_id=message.id, supplier_phone=message.recipient_phone)
        phone = item.from_phone or (message.recipient_phone if message is not None else None)
        word = self.words.classify(item.text)
        if tenant_id is None:
            return {**values, "outcome": rules.OUTCOME_UNLINKED, "outcome_detail": "no bakery known for this number"}
        if word == rules.OUTCOME_OPTED_OUT and (phone or item.from_user_id):
            stored = await repo.opt_out(
                session,
                repo.OptOut(
                    tenant_id=tenant_id,
                    supplier_key=repo.supplier_key(phone, item.from_user_id),
                    supplier_phone=phone,
                    supplier_user_id=item.from_user_id,
                    word=(item.text or "").strip()[:64],
                    inbound_wamid=item.wamid,
                    opted_out_at=item.sent_at,
                ),
            )
            if stored:
                result.opt["opted_out"] += 1
                log.info("supplier %s opted out of tenant %s's messages", _masked(phone), tenant_id)
                await self._event(session, outbound_events.SUPPLIER_OPTED_OUT, None, item, now, tenant_id=tenant_id,
                                  phone=phone)  # fmt: skip
            detail = None if stored else "already opted out"
            return {**values, "tenant_id": tenant_id, "outcome": rules.OUTCOME_OPTED_OUT, "outcome_detail": detail}
        if word == rules.OUTCOME_OPTED_IN:
            lifted = await repo.opt_in(session, tenant_id, phone=phone, user_id=item.from_user_id)
            if lifted:
                result.opt["opted_in"] += 1
                log.info("supplier %s opted back in to tenant %s's messages", _masked(phone), tenant_id)
                await self._event(session, outbound_events.SUPPLIER_OPTED_IN, None, item, now, tenant_id=tenant_id,
                                  phone=phone)  # fmt: skip
            detail = None if lifted else "was not opted out"
            return {**values, "tenant_id": tenant_id, "outcome": rules.OUTCOME_OPTED_IN, "outcome_detail": detail}
        if message is None:
            return {**values, "tenant_id": tenant_id, "outcome": rules.OUTCOME_UNLINKED,
                    "outcome_detail": "no message of ours to this supplier from this number"}  # fmt: skip
        po_id, po_number = await repo.purchase_order_of(session, message.tenant_id, message.event_id)
        values.update(purchase_order_id=po_id, purchase_order_number=po_number)
        result.replies += 1
        if message.kind == KIND_PURCHASE_ORDER:
            await self._event(session, outbound_events.SUPPLIER_REPLIED, message, item, now, po_id=po_id,
                              po_number=po_number, phone=phone)  # fmt: skip
        return {**values, "outcome": rules.OUTCOME_REPLY}

    async def _answered(self, session: AsyncSession, phone_number_id: str, item: rules.Inbound) -> Message | None:
        """The message a text answers: the one ``context.id`` names (sent from this number), else the latest one to
        that supplier from that number (by phone, else by business-scoped user ID)."""
        if item.context_wamid is not None:
            quoted = await repo.message_by_wamid(session, item.context_wamid)
            if (
                quoted is not None
                and quoted.phone_number_id == phone_number_id
                and quoted.kind in _ANSWERABLE
                and _same_supplier(quoted, item)
            ):
                return quoted
        message = await repo.latest_message_to(
            session, phone_number_id, phone=item.from_phone, user_id=None, kinds=_ANSWERABLE
        )
        if message is None and item.from_user_id is not None:
            message = await repo.latest_message_to(
                session, phone_number_id, phone=None, user_id=item.from_user_id, kinds=_ANSWERABLE
            )
        return message

    async def _event(
        self,
        session: AsyncSession,
        name: str,
        message: Message | None,
        item: rules.Inbound,
        now: datetime,
        *,
        tenant_id: uuid.UUID | None = None,
        po_id: str | None = None,
        po_number: str | None = None,
        decision: str | None = None,
        phone: str | None = None,
    ) -> None:
        owner = message.tenant_id if message is not None else tenant_id
        assert owner is not None
        event = OutboundEvent(
            name=name,
            tenant_id=owner,
            occurred_at=item.sent_at,
            purchase_order_id=po_id,
            purchase_order_number=po_number,
            supplier_phone=phone or item.from_phone or (message.recipient_phone if message is not None else None),
            supplier_user_id=item.from_user_id,
            decision=decision,
            text=item.text if decision is None else item.button_text,
            message_id=message.id if message is not None else None,
        )
        await outbound.record(session, self.settings, event, now=now)


def _same_supplier(message: Message, item: rules.Inbound) -> bool:
    """Whether ``item`` comes from the supplier ``message`` went to: the same phone when Meta gives one, else the
    same business-scoped user ID when the message has one (a user without a phone in the webhook and no user ID on
    our side yet is given the benefit of the doubt: the payload is signed for that message)."""
    if item.from_phone is not None:
        return item.from_phone == message.recipient_phone
    if item.from_user_id is not None and message.recipient_user_id is not None:
        return item.from_user_id == message.recipient_user_id
    return True


# ---------------------------------------------------------------- the owner's and admin's view


async def list_opted_out(session: AsyncSession, tenant_id: uuid.UUID) -> OptedOutListOut:
    """The suppliers opted out of this bakery's messages. Owners never see a user ID: a supplier known only by one
    is listed without a phone."""
    rows = await repo.list_opted_out(session, tenant_id)
    return OptedOutListOut(
        tenant_id=tenant_id,
        suppliers=[
            OptedOutOut(supplier_phone=r.supplier_phone, word=r.word, opted_out_at=r.opted_out_at) for r in rows
        ],
    )


async def list_inbound(
    session: AsyncSession, principal: Principal, *, tenant_id: uuid.UUID | None, before: datetime | None, limit: int
) -> list[dict[str, Any]]:
    rows = await repo.list_inbound(session, tenant_id=tenant_id, before=before, limit=limit)
    return [inbound_shown_to(principal, row) for row in rows]
