"""Message statuses (the exact words of DESIGN.md) and the forward-only rules webhooks must follow."""

from __future__ import annotations

import uuid
from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    HELD = "held"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"


TERMINAL = frozenset({MessageStatus.READ, MessageStatus.FAILED, MessageStatus.SKIPPED})
#: Statuses the dispatcher still owns (not yet accepted by Meta).
PENDING = frozenset({MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD})

#: Progress rank for delivery statuses; a webhook may only move a message to a higher rank.
_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.HELD: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}


def can_advance(current: MessageStatus | str, new: MessageStatus | str) -> bool:
    """Whether a status update (typically from a webhook) may move ``current`` to ``new``.

    * queued → sending → sent → delivered → read, never backwards (duplicates and late arrivals are ignored);
    * ``failed`` may end any non-terminal status; a later ``delivered``/``read`` still wins over ``failed``
      (multi-device: Meta can report delivery after a failure);
    * ``skipped`` is final.
    """
    cur = MessageStatus(current)
    nxt = MessageStatus(new)
    if cur == nxt:
        return False
    if cur is MessageStatus.SKIPPED:
        return False
    if nxt is MessageStatus.FAILED:
        return cur not in TERMINAL
    if nxt in (MessageStatus.SKIPPED, MessageStatus.HELD, MessageStatus.QUEUED):
        return False  # decided by the dispatcher, never by a webhook
    if cur is MessageStatus.FAILED:
        return nxt in (MessageStatus.DELIVERED, MessageStatus.READ)
    return _RANK[nxt] > _RANK[cur]


CALLBACK_PREFIX = "notification:"


def callback_data_for(notification_id: uuid.UUID) -> str:
    """What goes into ``biz_opaque_callback_data``: our notification id (Meta echoes it in status webhooks)."""
    return f"{CALLBACK_PREFIX}{notification_id}"


def notification_id_from_callback(data: str | None) -> uuid.UUID | None:
    """Inverse of :func:`callback_data_for`; None for anything we did not write."""
    if not data or not data.startswith(CALLBACK_PREFIX):
        return None
    try:
        return uuid.UUID(data.removeprefix(CALLBACK_PREFIX))
    except ValueError:
        return None


#: Total order used to merge status webhooks (a join, so any order and any duplication give the same result):
#: queued/held < sending < sent < failed < delivered < read. ``failed`` beats ``sent`` (a late ``sent`` never
#: resurrects a failed message) but loses to ``delivered``/``read`` (multi-device: the message did reach a
#: device). ``skipped`` is never changed by a webhook.
_WEBHOOK_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.HELD: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.FAILED: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.READ: 5,
}

#: Statuses a webhook may report.
WEBHOOK_STATUSES = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED})


def join_status(current: MessageStatus | str, reported: MessageStatus | str) -> MessageStatus:
    """The status after a webhook reports ``reported`` for a message that is ``current`` (commutative, idempotent)."""
    cur = MessageStatus(current)
    new = MessageStatus(reported)
    if cur is MessageStatus.SKIPPED or new not in WEBHOOK_STATUSES:
        return cur
    return new if _WEBHOOK_RANK[new] > _WEBHOOK_RANK[cur] else cur
