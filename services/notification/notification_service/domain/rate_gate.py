"""Rate gates, as a pure function over the shared counters (the repository locks and writes them back).

* per phone number: GCRA at ``rate`` messages/s (Meta allows 80/s; default 20/s);
* per (number, recipient) pair: at least ``pair_interval`` seconds apart (Meta's pair limit, error 131056);
* per tenant and UTC day: at most the bakery's share of distinct new recipients (``caps``, from
  ``domain/shares.py``: the portfolio's messaging limit is shared by every bakery, so one bakery must not use it
  all). Over its share, a message waits for the next UTC day; it never fails for it.

A message whose slot is within ``horizon`` is allowed and waits for its slot in the dispatcher; later slots
make the message due later (it is not failed and no attempt is counted).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from notification_service.domain.decisions import Reason


@dataclass
class Counter:
    """One shared rate-limit row: GCRA theoretical arrival time and a counter (daily caps)."""

    key: str
    tat: datetime | None
    counter: int
    changed: bool = False


def number_key(phone_number_id: str) -> str:
    return f"num:{phone_number_id}"


def pair_key(phone_number_id: str, recipient: str) -> str:
    return f"pair:{phone_number_id}:{recipient}"


def cap_key(tenant_id: uuid.UUID, day: date) -> str:
    return f"cap:{tenant_id}:{day.isoformat()}"


@dataclass(frozen=True)
class GateRequest:
    message_id: uuid.UUID
    tenant_id: uuid.UUID
    phone_number_id: str
    recipient: str


@dataclass(frozen=True)
class GateResult:
    allowed: bool
    send_at: datetime | None = None  # allowed: not before this instant
    defer_until: datetime | None = None  # not allowed: due again at this instant
    reason: str | None = None
    new_recipient: bool = False


@dataclass(frozen=True)
class GateConfig:
    rate_per_second: float
    pair_interval: float
    horizon: float


#: tenant → its daily new-recipient share (None or missing: no cap)
Caps = Mapping[uuid.UUID, int | None]


def keys_for(requests: Sequence[GateRequest], config: GateConfig, day: date, caps: Caps | None = None) -> list[str]:
    keys: set[str] = set()
    for r in requests:
        keys.add(number_key(r.phone_number_id))
        # always: even without pacing of our own, Meta's pair throttles (131056, 131049) push the pair's row
        keys.add(pair_key(r.phone_number_id, r.recipient))
        if caps and caps.get(r.tenant_id) is not None:
            keys.add(cap_key(r.tenant_id, day))
    return sorted(keys)


def next_utc_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)


def plan(
    requests: Sequence[GateRequest],
    counters: Mapping[str, Counter],
    *,
    config: GateConfig,
    now: datetime,
    known_today: set[tuple[uuid.UUID, str]],
    caps: Caps | None = None,
) -> dict[uuid.UUID, GateResult]:
    """Decide every request in order, updating ``counters`` (marked ``changed``) for the allowed ones."""
    caps = caps or {}
    day = now.date()
    horizon = now + timedelta(seconds=config.horizon)
    number_step = timedelta(seconds=1.0 / config.rate_per_second)
    pair_step = timedelta(seconds=config.pair_interval)
    known = set(known_today)
    results: dict[uuid.UUID, GateResult] = {}
    for r in requests:
        new_recipient = False
        cap = caps.get(r.tenant_id)
        cap_counter = counters.get(cap_key(r.tenant_id, day)) if cap is not None else None
        if cap is not None and cap_counter is not None and (r.tenant_id, r.recipient) not in known:
            if cap_counter.counter >= cap:
                results[r.message_id] = GateResult(
                    False, defer_until=next_utc_midnight(now), reason=Reason.RATE_DAILY_CAP
                )
                continue
            new_recipient = True
        pair_counter = counters.get(pair_key(r.phone_number_id, r.recipient))
        pair_slot = now
        if pair_counter is not None and pair_counter.tat is not None and pair_counter.tat > now:
            pair_slot = pair_counter.tat
        if pair_slot > horizon:
            results[r.message_id] = GateResult(False, defer_until=pair_slot, reason=Reason.RATE_PAIR)
            continue
        num_counter = counters[number_key(r.phone_number_id)]
        num_slot = num_counter.tat if num_counter.tat is not None and num_counter.tat > now else now
        if num_slot > horizon:
            results[r.message_id] = GateResult(False, defer_until=num_slot, reason=Reason.RATE_NUMBER)
            continue
        send_at = max(pair_slot, num_slot)
        num_counter.tat = num_slot + number_step
        num_counter.changed = True
        if pair_counter is not None and config.pair_interval > 0:
            pair_counter.tat = send_at + pair_step
            pair_counter.changed = True
        if new_recipient and cap_counter is not None:
            cap_counter.counter += 1
            cap_counter.changed = True
            known.add((r.tenant_id, r.recipient))
        results[r.message_id] = GateResult(True, send_at=send_at, new_recipient=new_recipient)
    return results
