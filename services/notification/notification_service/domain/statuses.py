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
