"""The message's transitions (domain/transitions.py): pure, guarded, and only the moves of the status table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notification_service.domain import transitions
from notification_service.domain.message import KEEP, ErrorInfo, Guard, InvalidTransition, Message, StatusReport
from notification_service.domain.statuses import MessageStatus as S

from ..helpers import message_row

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def message(status: S = S.SENDING, **overrides: object) -> Message:
    return Message.from_row(message_row(status.value, at=NOW, **overrides))


def test_leaving_sending_always_clears_the_lease_and_leaving_held_the_hold_key() -> None:
    for update in (
        transitions.accepted(message(), "d1", NOW, wamid="wamid.1", pacing=None),
        transitions.requeued(message(), "d1", NOW, due=NOW, reason="retrying"),
        transitions.skipped(message(), "d1", NOW, reason="no_phone_number"),
        transitions.failed(message(), "d1", NOW, reason="rejected", error=ErrorInfo("131026", "undeliverable")),
        transitions.released("phone_number:1", NOW),
    ):
        columns = update.columns()
        assert columns["lease_owner"] is None and columns["lease_expires_at"] is None
        assert columns["hold_key"] is None
    held = transitions.held(message(), "d1", NOW, reason="quality", hold_key="phone_number:1", phone_number_id="1")
    assert held.columns()["hold_key"] == "phone_number:1" and held.columns()["lease_owner"] is None


def test_dispatcher_updates_are_guarded_by_the_lease() -> None:
    update = transitions.accepted(message(), "d1", NOW, wamid="wamid.1", pacing="held_for_quality_assessment")
    assert update.guard == Guard.leased_by("d1")
    assert update.columns()["status_reason"] == "meta_pacing: held_for_quality_assessment"
    assert transitions.released("phone_number:1", NOW).guard == Guard.held_under("phone_number:1")


@pytest.mark.parametrize(
    "move",
    [
        lambda m: transitions.skipped(m, "d1", NOW, reason="x"),
        lambda m: transitions.held(m, "d1", NOW, reason="x", hold_key="k", phone_number_id=None),
        lambda m: transitions.requeued(m, "d1", NOW, due=NOW, reason="x"),
        lambda m: transitions.redriven(m, NOW, "admin"),
    ],
)
def test_an_impossible_transition_cannot_be_made(move) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidTransition):
        move(message(S.SENT, wamid="wamid.1"))


def test_redrive_gives_a_fresh_budget_and_forgets_the_old_wamid() -> None:
    failed = message(S.FAILED, wamid="wamid.1", transient_failures=5, failed_at=NOW)
    update = transitions.redriven(failed, NOW, "admin-1")
    columns = update.columns()
    assert update.guard == Guard.in_status(S.FAILED)
    assert (columns["status"], columns["wamid"], columns["transient_failures"], columns["failed_at"]) == (
        "queued",
        None,
        0,
        None,
    )


def test_a_duplicate_status_changes_nothing_and_a_late_failure_keeps_the_delivery() -> None:
    sent = message(S.SENT, wamid="wamid.1", sent_at=NOW)
    assert transitions.reported(sent, StatusReport(status=S.SENT, at=NOW, wamid="wamid.1"), NOW) is None
    delivered = message(S.DELIVERED, wamid="wamid.1", sent_at=NOW, delivered_at=NOW)
    failure = StatusReport(status=S.FAILED, at=NOW, wamid="wamid.1", error=ErrorInfo("131026", "undeliverable"))
    update = transitions.reported(delivered, failure, NOW)
    assert update is not None and update.status is S.DELIVERED and not update.changes_status
    assert update.guard == Guard.in_status(S.DELIVERED)


def test_a_webhook_for_a_message_still_sending_settles_it() -> None:
    report = StatusReport(status=S.DELIVERED, at=NOW, wamid="wamid.9")
    update = transitions.reported(message(S.SENDING), report, NOW)
    assert update is not None and update.status is S.DELIVERED
    columns = update.columns()
    assert columns["wamid"] == "wamid.9" and columns["lease_owner"] is None
    assert update.error is None and update.reason is None  # the earlier attempt's error no longer describes it
    assert update.pricing_category is KEEP


def test_reported_keeps_the_first_recipient_user_id() -> None:
    at = NOW
    unknown = message(S.SENT, wamid="wamid.A")
    update = transitions.reported(unknown, StatusReport(S.DELIVERED, at, "wamid.A", recipient_user_id="ES.1"), NOW)
    assert update is not None and update.columns()["recipient_user_id"] == "ES.1"
    known = message(S.DELIVERED, wamid="wamid.A", recipient_user_id="ES.1", delivered_at=at, sent_at=at)
    assert transitions.reported(known, StatusReport(S.DELIVERED, at, "wamid.A", recipient_user_id="ES.2"), NOW) is None
    # a failed status after a send to a phone number carries none: nothing is cleared
    failed = transitions.reported(message(S.SENT, wamid="wamid.A"), StatusReport(S.FAILED, at, "wamid.A"), NOW)
    assert failed is not None and failed.status is S.FAILED and "recipient_user_id" not in failed.columns()
