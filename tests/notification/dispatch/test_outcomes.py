"""The Meta error policy (dispatch/outcomes.py): classes of codes, and what each class does to a message."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bakery_shared.graph import GraphError, GraphNotConfigured, GraphTimeout, GraphTransportError
from notification_service.dispatch.outcomes import ErrorClass, Policy, classify, classify_code, plan_failure
from notification_service.domain.message import Message
from notification_service.domain.statuses import MessageStatus

from ..helpers import message_row

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
POLICY = Policy(
    max_attempts=3,
    retry_base=2,
    retry_max=300,
    throttle_base=1,
    throttle_max=120,
    app_throttle=60,
    maintenance_retry=60,
    ambiguous_grace=30,
    pair_interval=6,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (131000, ErrorClass.TRANSIENT),
        (2, ErrorClass.TRANSIENT),
        (131057, ErrorClass.TRANSIENT),
        (130429, ErrorClass.THROTTLED),
        (131056, ErrorClass.THROTTLED),
        (4, ErrorClass.THROTTLED),
        (80007, ErrorClass.THROTTLED),
        (132000, ErrorClass.PERMANENT),
        (132001, ErrorClass.PERMANENT),
        (131026, ErrorClass.PERMANENT),
        (100, ErrorClass.PERMANENT),
        (131009, ErrorClass.PERMANENT),
        (190, ErrorClass.CREDENTIAL),
        (0, ErrorClass.CREDENTIAL),
        (200, ErrorClass.CREDENTIAL),
        (131005, ErrorClass.CREDENTIAL),
        # send-only restrictions: a read of the number still succeeds, so only a send can tell they are lifted
        (131042, ErrorClass.RESTRICTED),
        (368, ErrorClass.RESTRICTED),
        (131048, ErrorClass.RESTRICTED),
        (130497, ErrorClass.RESTRICTED),
        (131031, ErrorClass.RESTRICTED),
    ],
)
def test_error_classes(code: int, expected: ErrorClass) -> None:
    assert classify_code(code) is expected


def test_codeless_http_statuses() -> None:
    assert classify_code(None, 503) is ErrorClass.TRANSIENT
    assert classify_code(None, 429) is ErrorClass.THROTTLED
    assert classify_code(None, 400) is ErrorClass.PERMANENT


def test_exceptions_are_classified() -> None:
    assert classify(GraphTimeout("slow", maybe_delivered=True)).error_class is ErrorClass.AMBIGUOUS
    assert classify(GraphTimeout("slow", maybe_delivered=False)).error_class is ErrorClass.TRANSIENT
    assert classify(GraphTransportError("refused")).error.code == "transport"
    assert classify(GraphNotConfigured("no token")).error_class is ErrorClass.CREDENTIAL
    failure = classify(GraphError(http_status=400, code=131048, message="(#131048) Spam rate limit hit"))
    assert (failure.error_class, failure.label, failure.error.message) == (
        ErrorClass.RESTRICTED,
        "131048",
        "Spam rate limit hit",
    )
    assert classify(ValueError("bug")).error.code == "internal"


def _message(**overrides: object) -> Message:
    return Message.from_row(message_row(at=NOW, **overrides))


def _plan(message: Message, exc: BaseException):  # type: ignore[no-untyped-def]
    return plan_failure(
        message, classify(exc), owner="d1", phone_number_id="555", now=NOW, policy=POLICY, rng=random.Random(1)
    )


def test_transient_requeues_with_backoff_then_fails_at_the_budget() -> None:
    plan = _plan(_message(), GraphError(http_status=500, code=131000, message="Something went wrong"))
    assert plan.update.status is MessageStatus.QUEUED and plan.update.transient_failures == 1
    assert NOW + timedelta(seconds=1) <= plan.update.due_at <= NOW + timedelta(seconds=2)  # type: ignore[operator]
    last = _plan(_message(transient_failures=2), GraphError(http_status=500, code=131000, message="x"))
    assert last.update.status is MessageStatus.FAILED
    assert str(last.update.columns()["status_reason"]).startswith("attempts_exhausted")


def test_pair_throttle_paces_the_pair_and_never_fails() -> None:
    plan = _plan(_message(throttle_count=9), GraphError(http_status=400, code=131056, message="pair"))
    assert plan.update.status is MessageStatus.QUEUED
    assert plan.pace is not None and plan.pace[0] == "pair:555:+34612345678"


def test_restriction_holds_the_number_and_account_codes_the_account() -> None:
    plan = _plan(_message(), GraphError(http_status=400, code=131048, message="spam"))
    assert plan.update.status is MessageStatus.HELD and plan.update.hold_key == "phone_number:555"
    assert plan.hold is not None and plan.hold.kind == "restricted"
    account = _plan(_message(), GraphError(http_status=401, code=190, message="expired"))
    assert account.hold is not None and (account.hold.scope, account.hold.kind) == ("account", "credential")
    columns = plan.update.columns()
    assert columns["lease_owner"] is None and columns["lease_expires_at"] is None  # the lease is always cleared


def test_ambiguous_timeout_waits_for_a_webhook() -> None:
    plan = _plan(_message(), GraphTimeout("slow", maybe_delivered=True))
    assert plan.update.status is MessageStatus.QUEUED and plan.attempt_outcome == "timeout_ambiguous"
    assert plan.update.awaiting_webhook_until == NOW + timedelta(seconds=30)


# ---------------------------------------------------------------- issue 15: every send code Meta documents

H = 3600.0
PAIR = "pair:555:+34612345678"
NUM = "num:555"
ACCOUNT_HOLD = ("account", "master")
NUMBER_HOLD = ("phone_number", "555")
TEMPLATE = ("po_notification", "es")


@pytest.mark.parametrize(
    ("code", "error_class", "status", "pace", "hold", "unreachable", "template_status"),
    [
        # throttles: the message waits, never fails; only the key Meta names waits with it
        (130429, ErrorClass.THROTTLED, MessageStatus.QUEUED, (NUM, None), None, False, None),  # throughput
        (131056, ErrorClass.THROTTLED, MessageStatus.QUEUED, (PAIR, None), None, False, None),  # that pair only
        (80007, ErrorClass.THROTTLED, MessageStatus.QUEUED, (NUM, 60.0), None, False, None),  # WABA rate limit
        (4, ErrorClass.THROTTLED, MessageStatus.QUEUED, (NUM, 60.0), None, False, None),  # app rate limit
        (131049, ErrorClass.THROTTLED, MessageStatus.QUEUED, (PAIR, 24 * H), None, False, None),  # per-user marketing
        # the number (or the account) may not send: held, a probe tells when it may again
        (131048, ErrorClass.RESTRICTED, MessageStatus.HELD, None, NUMBER_HOLD, False, None),  # spam limit
        (368, ErrorClass.RESTRICTED, MessageStatus.HELD, None, ACCOUNT_HOLD, False, None),  # restricted
        (131031, ErrorClass.RESTRICTED, MessageStatus.HELD, None, NUMBER_HOLD, False, None),  # locked
        (130497, ErrorClass.RESTRICTED, MessageStatus.HELD, None, NUMBER_HOLD, False, None),  # country restricted
        (190, ErrorClass.CREDENTIAL, MessageStatus.HELD, None, ACCOUNT_HOLD, False, None),  # token
        # this message cannot go: failed at once, never retried as it is
        (131050, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, None),  # user stopped marketing
        (131047, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, None),  # window closed
        (131026, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, True, None),  # undeliverable
        (130472, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, None),  # experiment group
        (131062, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, None),  # user-ID recipient
        (132000, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, None),  # parameter count
        (132012, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, None),  # parameter format
        (132018, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, None),  # parameter refused
        # the template: paused → held until Meta approves it again; disabled → failed, template recorded
        (132015, ErrorClass.TEMPLATE, MessageStatus.HELD, None, None, False, "PAUSED"),
        (132016, ErrorClass.PERMANENT, MessageStatus.FAILED, None, None, False, "DISABLED"),
    ],
)
def test_every_documented_send_code_has_its_class_and_plan(
    code: int,
    error_class: ErrorClass,
    status: MessageStatus,
    pace: tuple[str, float | None] | None,
    hold: tuple[str, str] | None,
    unreachable: bool,
    template_status: str | None,
) -> None:
    assert classify_code(code) is error_class
    exc = GraphError(http_status=400, code=code, message=f"(#{code}) title", details="details")
    plan = plan_failure(
        _message(),
        classify(exc),
        owner="d1",
        phone_number_id="555",
        now=NOW,
        policy=POLICY,
        rng=random.Random(1),
        template=TEMPLATE,
    )
    assert plan.update.status is status
    assert plan.update.columns()["error_code"] == str(code)
    if pace is None:
        assert plan.pace is None
    else:
        assert plan.pace is not None and plan.pace[0] == pace[0]
        assert plan.pace[1] > NOW
        if pace[1] is not None:
            assert plan.pace[1] == NOW + timedelta(seconds=pace[1])
        assert plan.update.due_at == plan.pace[1]  # the message itself waits exactly as long
    if hold is None:
        assert plan.hold is None
    else:
        assert plan.hold is not None and (plan.hold.scope, plan.hold.scope_key) == hold
        assert plan.update.hold_key == f"{hold[0]}:{hold[1]}"
    assert plan.unreachable is unreachable
    if unreachable:
        assert str(plan.update.columns()["status_reason"]).startswith("supplier_unreachable: (131026)")
    assert plan.template_status == ((*TEMPLATE, template_status) if template_status else None)
    if status is MessageStatus.HELD and template_status:
        assert plan.update.hold_key == "template:po_notification:es"


def test_a_paused_template_without_a_known_template_fails_the_message() -> None:
    plan = _plan(_message(), GraphError(http_status=400, code=132015, message="paused"))
    assert plan.update.status is MessageStatus.FAILED and plan.template_status is None
