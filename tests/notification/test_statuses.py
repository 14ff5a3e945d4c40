"""The one status table: webhook merges (join_status) only ever make moves of TRANSITIONS; callback data."""

from __future__ import annotations

import itertools
import uuid

import pytest

from notification_service.domain.statuses import (
    TRANSITIONS,
    WEBHOOK_STATUSES,
    callback_data_for,
    join_status,
    may_move,
    notification_id_from_callback,
)
from notification_service.domain.statuses import MessageStatus as S


@pytest.mark.parametrize(
    ("current", "reported", "result"),
    [
        (S.QUEUED, S.SENT, S.SENT),
        (S.SENDING, S.SENT, S.SENT),
        (S.SENT, S.DELIVERED, S.DELIVERED),
        (S.SENT, S.READ, S.READ),
        (S.DELIVERED, S.READ, S.READ),
        (S.DELIVERED, S.SENT, S.DELIVERED),
        (S.READ, S.DELIVERED, S.READ),
        (S.SENT, S.FAILED, S.FAILED),
        (S.DELIVERED, S.FAILED, S.DELIVERED),  # the documented rule: a delivered message stays delivered
        (S.READ, S.FAILED, S.READ),
        (S.FAILED, S.DELIVERED, S.DELIVERED),  # multi-device: delivery after a failure wins
        (S.FAILED, S.SENT, S.FAILED),
        (S.SKIPPED, S.SENT, S.SKIPPED),
        (S.HELD, S.SENT, S.SENT),
    ],
)
def test_join_status(current: S, reported: S, result: S) -> None:
    assert join_status(current, reported) is result


def test_every_webhook_merge_is_a_transition_of_the_table() -> None:
    for current, reported in itertools.product(S, WEBHOOK_STATUSES):
        new = join_status(current, reported)
        assert new is current or may_move(current, new), (current, reported, new)


def test_join_is_commutative_and_idempotent() -> None:
    for start, a, b in itertools.product(S, WEBHOOK_STATUSES, WEBHOOK_STATUSES):
        assert join_status(join_status(start, a), b) is join_status(join_status(start, b), a)
        assert join_status(join_status(start, a), a) is join_status(start, a)


def test_final_statuses_have_no_way_out() -> None:
    assert TRANSITIONS[S.READ] == frozenset() and TRANSITIONS[S.SKIPPED] == frozenset()
    assert not may_move(S.DELIVERED, S.FAILED)
    assert may_move(S.FAILED, S.QUEUED)  # the admin's re-drive


def test_callback_data_round_trip() -> None:
    nid = uuid.uuid4()
    assert notification_id_from_callback(callback_data_for(nid)) == nid
    assert notification_id_from_callback("tenant=42;notif=x") is None
    assert notification_id_from_callback(None) is None
    assert notification_id_from_callback("notification:nope") is None
    assert len(callback_data_for(nid)) <= 512
