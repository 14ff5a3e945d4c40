"""What suppliers write back (issue 16): the only SQL on ``inbound_messages``, ``supplier_decisions`` and
``supplier_opt_outs`` (and the look-ups of ``whatsapp_messages`` / ``purchase_order_events`` they need)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.message import Message
from notification_service.models import (
    inbound_messages,
    purchase_order_events,
    supplier_decisions,
    supplier_opt_outs,
    whatsapp_messages,
)
from notification_service.repositories.common import fit_to_columns, in_values, insert_ignore

I = inbound_messages  # noqa: E741 - the table, as the other repositories name theirs
D = supplier_decisions
O = supplier_opt_outs  # noqa: E741
M = whatsapp_messages
E = purchase_order_events


# ---------------------------------------------------------------- inbound rows


async def insert_inbound(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Store an inbound item once per wamid: False when that wamid is stored already (a duplicate)."""
    result = await session.execute(insert_ignore(session, I, ["wamid"]).values(**fit_to_columns(I, row)))
    return bool(getattr(result, "rowcount", 0))


async def update_inbound(session: AsyncSession, inbound_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(sa.update(I).where(I.c.id == inbound_id).values(**fit_to_columns(I, values)))


async def tenant_of_number(session: AsyncSession, phone_number_id: str) -> uuid.UUID | None:
    """The bakery a business number belongs to, as this service knows it: the tenant of the latest message sent
    from it (numbers belong to one bakery at a time; the tenant service is not asked on this path)."""
    query = (
        sa.select(M.c.tenant_id).where(M.c.phone_number_id == phone_number_id).order_by(M.c.created_at.desc()).limit(1)
    )
    value = (await session.execute(query)).scalar_one_or_none()
    return uuid.UUID(str(value)) if value is not None else None


async def message_by_wamid(session: AsyncSession, wamid: str) -> Message | None:
    row = (await session.execute(sa.select(M).where(M.c.wamid == wamid))).mappings().first()
    return Message.from_row(dict(row)) if row is not None else None


async def latest_message_to(
    session: AsyncSession, phone_number_id: str, *, phone: str | None, user_id: str | None, kinds: Iterable[str]
) -> Message | None:
    """The latest message of ``kinds`` sent from this number to this supplier (by phone, else by user ID)."""
    if phone is not None:
        who: sa.ColumnElement[bool] = M.c.recipient_phone == phone
    elif user_id is not None:
        who = M.c.recipient_user_id == user_id
    else:
        return None
    query = (
        sa.select(M)
        .where(M.c.phone_number_id == phone_number_id, who, M.c.wamid.is_not(None), M.c.kind.in_(list(kinds)))
        .order_by(M.c.created_at.desc())
        .limit(1)
    )
    row = (await session.execute(query)).mappings().first()
    return Message.from_row(dict(row)) if row is not None else None


async def purchase_order_of(
    session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID | None
) -> tuple[str | None, str | None]:
    """(purchase order id, number) of a message's event; (None, None) for a message without one (a test)."""
    if event_id is None:
        return None, None
    query = sa.select(E.c.payload).where(E.c.tenant_id == tenant_id, E.c.event_id == event_id)
    payload = (await session.execute(query)).scalar_one_or_none()
    order = payload.get("purchase_order") if isinstance(payload, dict) else None
    if not isinstance(order, dict):
        return None, None
    return (str(order["id"]) if order.get("id") else None), (str(order["number"]) if order.get("number") else None)


async def last_inbound_at(session: AsyncSession, phone_number_id: str, supplier_phone: str) -> datetime | None:
    query = sa.select(sa.func.max(I.c.sent_at)).where(
        I.c.phone_number_id == phone_number_id, I.c.supplier_phone == supplier_phone
    )
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def last_inbound_by_supplier(session: AsyncSession, phones: Iterable[str]) -> dict[tuple[str, str], datetime]:
    """(business number, supplier phone) → when that supplier last wrote to that number, for these suppliers."""
    phones = set(phones)
    if not phones:
        return {}
    query = (
        sa.select(I.c.phone_number_id, I.c.supplier_phone, sa.func.max(I.c.sent_at))
        .where(in_values(session, I.c.supplier_phone, phones))
        .group_by(I.c.phone_number_id, I.c.supplier_phone)
    )
    return {(r[0], r[1]): r[2] for r in (await session.execute(query)).all()}


@dataclass(frozen=True, slots=True)
class InboundRow:
    id: uuid.UUID
    wamid: str
    tenant_id: uuid.UUID | None
    phone_number_id: str
    from_phone: str | None
    from_user_id: str | None
    supplier_phone: str | None
    type: str
    text: str | None
    button_text: str | None
    message_id: uuid.UUID | None
    purchase_order_id: str | None
    purchase_order_number: str | None
    outcome: str
    outcome_detail: str | None
    sent_at: datetime
    received_at: datetime


def _inbound(r: sa.RowMapping) -> InboundRow:
    return InboundRow(**{name: r[name] for name in InboundRow.__slots__})


async def replies_for(session: AsyncSession, message_ids: Iterable[uuid.UUID]) -> list[InboundRow]:
    """The inbound rows linked to these messages, oldest first."""
    ids = set(message_ids)
    if not ids:
        return []
    query = sa.select(I).where(in_values(session, I.c.message_id, ids)).order_by(I.c.sent_at, I.c.received_at)
    return [_inbound(r) for r in (await session.execute(query)).mappings()]


async def list_inbound(
    session: AsyncSession, *, tenant_id: uuid.UUID | None, before: datetime | None, limit: int
) -> list[InboundRow]:
    """Inbound rows, newest first (``before``: received before that time)."""
    query = sa.select(I).order_by(I.c.received_at.desc(), I.c.sent_at.desc(), I.c.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(I.c.tenant_id == tenant_id)
    if before is not None:
        query = query.where(I.c.received_at < before)
    return [_inbound(r) for r in (await session.execute(query)).mappings()]


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Decision:
    message_id: uuid.UUID
    tenant_id: uuid.UUID
    decision: str
    decided_at: datetime
    inbound_wamid: str
    ack_message_id: uuid.UUID | None
    ack_skipped_reason: str | None


def _decision(r: sa.RowMapping) -> Decision:
    return Decision(**{name: r[name] for name in Decision.__slots__})


async def insert_decision(session: AsyncSession, row: dict[str, Any]) -> bool:
    """The first decision on a message: False when the message has one already (it stands)."""
    result = await session.execute(insert_ignore(session, D, ["message_id"]).values(**fit_to_columns(D, row)))
    return bool(getattr(result, "rowcount", 0))


async def update_decision(session: AsyncSession, message_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(sa.update(D).where(D.c.message_id == message_id).values(**fit_to_columns(D, values)))


async def get_decision(session: AsyncSession, message_id: uuid.UUID) -> Decision | None:
    row = (await session.execute(sa.select(D).where(D.c.message_id == message_id))).mappings().first()
    return _decision(row) if row is not None else None


async def decisions_for(session: AsyncSession, message_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Decision]:
    ids = set(message_ids)
    if not ids:
        return {}
    rows = (await session.execute(sa.select(D).where(in_values(session, D.c.message_id, ids)))).mappings()
    return {uuid.UUID(str(r["message_id"])): _decision(r) for r in rows}


# ---------------------------------------------------------------- opt-outs


@dataclass(frozen=True, slots=True)
class OptOut:
    tenant_id: uuid.UUID
    supplier_key: str
    supplier_phone: str | None
    supplier_user_id: str | None
    word: str
    inbound_wamid: str
    opted_out_at: datetime


def supplier_key(phone: str | None, user_id: str | None) -> str:
    if phone:
        return phone
    if user_id:
        return "user:" + user_id
    raise ValueError("an opt-out needs the supplier's phone or user ID")


async def opt_out(session: AsyncSession, row: OptOut) -> bool:
    """Record an opt-out; False when that supplier was opted out already (the first one is kept)."""
    values = {name: getattr(row, name) for name in OptOut.__slots__}
    stmt = insert_ignore(session, O, ["tenant_id", "supplier_key"]).values(**fit_to_columns(O, values))
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def opt_in(session: AsyncSession, tenant_id: uuid.UUID, *, phone: str | None, user_id: str | None) -> int:
    """Lift this supplier's opt-out at this bakery (by phone and by user ID); how many rows were removed."""
    who: list[sa.ColumnElement[bool]] = []
    if phone:
        who += [O.c.supplier_key == phone, O.c.supplier_phone == phone]
    if user_id:
        who += [O.c.supplier_key == "user:" + user_id, O.c.supplier_user_id == user_id]
    if not who:
        return 0
    result = await session.execute(sa.delete(O).where(O.c.tenant_id == tenant_id, sa.or_(*who)))
    return int(getattr(result, "rowcount", 0) or 0)


async def opted_out(session: AsyncSession, pairs: Iterable[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], str]:
    """(tenant, supplier phone) → the opt-out word, for the pairs opted out."""
    pairs = set(pairs)
    if not pairs:
        return {}
    query = sa.select(O.c.tenant_id, O.c.supplier_phone, O.c.word).where(
        in_values(session, O.c.tenant_id, {t for t, _ in pairs}),
        in_values(session, O.c.supplier_phone, {p for _, p in pairs}),
    )
    found: dict[tuple[uuid.UUID, str], str] = {}
    for tenant, phone, word in (await session.execute(query)).all():
        key = (uuid.UUID(str(tenant)), phone)
        if key in pairs:
            found[key] = word
    return found


async def list_opted_out(session: AsyncSession, tenant_id: uuid.UUID) -> list[OptOut]:
    query = sa.select(O).where(O.c.tenant_id == tenant_id).order_by(O.c.opted_out_at.desc(), O.c.supplier_key)
    return [OptOut(**{name: r[name] for name in OptOut.__slots__}) for r in (await session.execute(query)).mappings()]
