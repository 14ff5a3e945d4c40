"""Forward-only statuses (the rule issue 5's webhooks rely on) and callback data."""

from __future__ import annotations

import uuid

import pytest

from notification_service.domain.statuses import (
    MessageStatus as S,
)
from notification_service.domain.statuses import (
    callback_data_for,
    can_advance,
    notification_id_from_callback,
)


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (S.QUEUED, S.SENT, True),
        (S.SENDING, S.SENT, True),
        (S.SENT, S.DELIVERED, True),
        (S.SENT, S.READ, True),
        (S.DELIVERED, S.READ, True),
        (S.DELIVERED, S.SENT, False),
        (S.READ, S.DELIVERED, False),
        (S.SENT, S.SENT, False),
        (S.SENT, S.FAILED, True),
        (S.READ, S.FAILED, False),
        (S.FAILED, S.DELIVERED, True),
        (S.FAILED, S.SENT, False),
        (S.SKIPPED, S.SENT, False),
        (S.SENT, S.QUEUED, False),
        (S.HELD, S.SENT, True),
    ],
)
def test_can_advance(current: S, new: S, allowed: bool) -> None:
    assert can_advance(current, new) is allowed


def test_callback_data_round_trip() -> None:
    nid = uuid.uuid4()
    assert notification_id_from_callback(callback_data_for(nid)) == nid
    assert notification_id_from_callback("tenant=42;notif=x") is None
    assert notification_id_from_callback(None) is None
    assert notification_id_from_callback("notification:nope") is None
    assert len(callback_data_for(nid)) <= 512
