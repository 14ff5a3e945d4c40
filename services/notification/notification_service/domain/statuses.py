"""Message statuses (the exact words of DESIGN.md), the moves between them, and how status webhooks merge."""

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

S = MessageStatus

#: Every move a message can make (docs/architecture.md draws this table). The dispatcher moves a message out of
#: queued/sending/held; status webhooks move it along sent → delivered → read (or to failed) by :func:`join_status`;
#: an admin re-drive moves failed → queued. ``read`` and ``skipped`` are final.
TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    S.QUEUED: frozenset({S.SENDING, S.SENT, S.DELIVERED, S.READ, S.FAILED}),
    S.SENDING: frozenset({S.SENDING, S.QUEUED, S.HELD, S.SENT, S.DELIVERED, S.READ, S.FAILED, S.SKIPPED}),
    S.HELD: frozenset({S.QUEUED, S.SENT, S.DELIVERED, S.READ, S.FAILED}),
    S.SENT: frozenset({S.DELIVERED, S.READ, S.FAILED}),
    S.FAILED: frozenset({S.QUEUED, S.DELIVERED, S.READ}),
    S.DELIVERED: frozenset({S.READ}),
    S.READ: frozenset(),
    S.SKIPPED: frozenset(),
}


def may_move(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether ``current`` → ``new`` is a transition of :data:`TRANSITIONS`."""
    return new in TRANSITIONS[current]


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
