"""What a Graph API answer means for a message: the Meta error policy, as pure functions.

:func:`classify` maps an answer (a :class:`SendResult` or the exception the Graph client raised) to a
:class:`Failure` with its :class:`ErrorClass`; :func:`plan_failure` turns a failure into the message's next state
(a :class:`MessageUpdate`), the pacing to apply and the hold to place. Every Meta error-code table lives here
(codes and their meaning: the error-code table of Meta's Cloud API documentation, summarised in
docs/notification.md, "Errors and retries").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bakery_shared.graph import GraphClientError, GraphError, GraphNotConfigured, GraphTimeout
from notification_service.domain import transitions
from notification_service.domain.backoff import exponential_backoff, pair_backoff
from notification_service.domain.decisions import ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY, PHONE_NUMBER_SCOPE, Reason
from notification_service.domain.message import ErrorInfo, Message, MessageUpdate
from notification_service.domain.rate_gate import number_key, pair_key
from notification_service.domain.whatsapp_state import CATEGORY_HOLD, TEMPLATE_SCOPE


class ErrorClass(StrEnum):
    TRANSIENT = "transient"  # back off exponentially, then give up
    THROTTLED = "throttled"  # wait at the rate Meta asks, never fail for it
    PERMANENT = "permanent"  # fail this message now; retrying cannot help
    CREDENTIAL = "credential"  # token / permission problem: hold; a read (GET) tells when it is fixed
    RESTRICTED = "restricted"  # Meta refuses sends only (spam limit, locked account…): hold; only a send tells
    AMBIGUOUS = "ambiguous"  # no answer: the request may have reached Meta


TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 131057, 133004})
MAINTENANCE_CODES = frozenset({131057})  # Meta's "business account in maintenance": wait longer
PAIR_THROTTLE_CODES = frozenset({131056})  # too many messages to one recipient from one number
APP_THROTTLE_CODES = frozenset({4, 80007})  # app / WABA call-rate limits
#: throttles that last long: code → seconds before the pair may be tried again
LONG_THROTTLES = {131049: 24 * 3600.0, 133015: 300.0, 133016: 72 * 3600.0}
THROTTLE_CODES = frozenset({130429}) | PAIR_THROTTLE_CODES | APP_THROTTLE_CODES | frozenset(LONG_THROTTLES)
#: token, permission and object problems: a read of the number or account fails as well. 2635: the configured
#: Graph API version has ended (bakery_shared.graph_versions; readiness says so): every call fails until it changes
CREDENTIAL_CODES = frozenset({0, 3, 10, 33, 190, 131005, 2635})
#: the number or account may not send although reads succeed (only a real send shows when it is lifted)
RESTRICTED_CODES = frozenset(
    {
        368,  # temporarily blocked for a policy violation
        130497,  # the account may not message users in this country
        131031,  # business account locked
        131037,  # no approved display name
        131042,  # payment / eligibility problem
        131045,  # number registration error (incorrect certificate)
        131048,  # spam rate limit: earlier messages were blocked or flagged
        131063,  # marketing templates disabled for Cloud API
        131064,  # messaging limit hit for template-classification violations
        133000,  # previous deregistration failed
        133005,
        133006,
        133008,
        133009,
        133010,  # number not registered
        134011,
        2388019,
    }
)
#: codes that hold the whole account (shared token, billing, WABA) rather than one number; 131064: Meta limits the
#: whole account for template-classification violations, templates and direct sends alike (error-code page)
ACCOUNT_WIDE_CODES = frozenset({0, 3, 10, 190, 131005, 131042, 368, 131064, 2635})
#: codes that hold one template translation, not a number: 131063, marketing templates are off on the Cloud API's
#: /messages (Meta treats this template as MARKETING). Held like a re-categorised template (kind template_category)
TEMPLATE_HOLD_CODES = {131063: CATEGORY_HOLD}


def classify_code(code: int | None, http_status: int | None = None) -> ErrorClass:
    """Error class of a Graph error code (the code decides, never the HTTP status alone)."""
    if code is None:
        if http_status == 429:
            return ErrorClass.THROTTLED
        if http_status is not None and http_status >= 500:
            return ErrorClass.TRANSIENT
        return ErrorClass.PERMANENT
    if code in TRANSIENT_CODES:
        return ErrorClass.TRANSIENT
    if code in THROTTLE_CODES:
        return ErrorClass.THROTTLED
    if code in CREDENTIAL_CODES or 200 <= code <= 299:
        return ErrorClass.CREDENTIAL
    if code in RESTRICTED_CODES:
        return ErrorClass.RESTRICTED
    return ErrorClass.PERMANENT


@dataclass(frozen=True, slots=True)
class Failure:
    """A send that did not get a wamid, classified."""

    error_class: ErrorClass
    code: int | None  # Meta's code, when there is one
    error: ErrorInfo
    http_status: int | None = None

    @property
    def label(self) -> str:
        """The code as stored and shown: Meta's number, ``http_<status>``, ``timeout``, ``transport``, …"""
        return self.error.code


def classify(exc: BaseException) -> Failure:
    """The failure an exception of a send stands for."""
    if isinstance(exc, GraphError):
        label = str(exc.code) if exc.code is not None else f"http_{exc.http_status}"
        text = exc.title + (f" ({exc.details})" if exc.details else "")
        return Failure(
            classify_code(exc.code, exc.http_status), exc.code, ErrorInfo(label, text, exc.details), exc.http_status
        )
    if isinstance(exc, GraphNotConfigured):
        return Failure(ErrorClass.CREDENTIAL, None, ErrorInfo("not_configured", str(exc)))
    if isinstance(exc, GraphTimeout):
        error_class = ErrorClass.AMBIGUOUS if exc.maybe_delivered else ErrorClass.TRANSIENT
        return Failure(error_class, None, ErrorInfo("timeout", str(exc)))
    if isinstance(exc, GraphClientError):
        return Failure(ErrorClass.TRANSIENT, None, ErrorInfo("transport", str(exc)))
    return Failure(ErrorClass.TRANSIENT, None, ErrorInfo("internal", f"{type(exc).__name__}: {exc}"))


@dataclass(frozen=True, slots=True)
class Policy:
    """The retry settings the plan needs (from NotificationSettings)."""

    max_attempts: int
    retry_base: float
    retry_max: float
    throttle_base: float
    throttle_max: float
    app_throttle: float
    maintenance_retry: float
    ambiguous_grace: float
    pair_interval: float


@dataclass(frozen=True, slots=True)
class HoldRequest:
    scope: str
    scope_key: str
    kind: str  # ErrorClass.CREDENTIAL or ErrorClass.RESTRICTED (probed), or CATEGORY_HOLD (an admin releases it)
    reason: str
    error_code: str
    probe_phone_number_id: str


@dataclass(frozen=True, slots=True)
class FailurePlan:
    update: MessageUpdate
    attempt_outcome: str
    pace: tuple[str, datetime] | None = None  # rate-limit key → nothing before this instant
    hold: HoldRequest | None = None


def plan_failure(
    message: Message,
    failure: Failure,
    *,
    owner: str,
    phone_number_id: str,
    now: datetime,
    policy: Policy,
    rng: random.Random,
    template_key: str | None = None,
) -> FailurePlan:
    """The message's next state after ``failure`` (pure: the caller writes the update, pace and hold).

    ``template_key`` (``<name>:<language>`` of the template sent) is where a template-scoped hold goes."""
    transient = message.transient_failures + 1
    error = failure.error
    outcome = failure.error_class.value
    if failure.error_class is ErrorClass.AMBIGUOUS:
        outcome = "timeout_ambiguous"
        if transient >= policy.max_attempts:
            reason = "attempts_exhausted: no answer from Meta"
            return FailurePlan(
                transitions.failed(message, owner, now, reason=reason, error=error, transient_failures=transient),
                outcome,
            )
        grace_end = now + timedelta(seconds=policy.ambiguous_grace)
        update = transitions.requeued(
            message,
            owner,
            now,
            due=grace_end,
            reason=Reason.AMBIGUOUS,
            error=error,
            transient_failures=transient,
            awaiting_webhook_until=grace_end,
        )
        return FailurePlan(update, outcome)
    if failure.error_class is ErrorClass.TRANSIENT:
        if transient >= policy.max_attempts:
            reason = f"attempts_exhausted: {transient} transient failures"
            return FailurePlan(
                transitions.failed(message, owner, now, reason=reason, error=error, transient_failures=transient),
                outcome,
            )
        delay = exponential_backoff(transient, base=policy.retry_base, cap=policy.retry_max, rng=rng)
        if failure.code in MAINTENANCE_CODES:
            delay = max(delay, policy.maintenance_retry)
        update = transitions.requeued(
            message,
            owner,
            now,
            due=now + timedelta(seconds=delay),
            reason=f"retrying: transient error {failure.label}",
            error=error,
            transient_failures=transient,
        )
        return FailurePlan(update, outcome)
    if failure.error_class is ErrorClass.THROTTLED:
        throttles = message.throttle_count + 1
        delay, key = _throttle(failure.code, throttles, phone_number_id, message.recipient_phone, policy, rng)
        not_before = now + timedelta(seconds=delay)
        update = transitions.requeued(
            message,
            owner,
            now,
            due=not_before,
            reason=f"throttled: Meta asked to slow down ({failure.label})",
            error=error,
            throttle_count=throttles,
        )
        return FailurePlan(update, outcome, pace=(key, not_before))
    if failure.error_class is ErrorClass.PERMANENT:
        update = transitions.failed(message, owner, now, reason=f"rejected: {failure.label}", error=error)
        return FailurePlan(update, outcome)
    # credential or restricted: keep the message, pause the template, the number or the whole account
    if failure.code in TEMPLATE_HOLD_CODES and template_key is not None:
        reason = f"template_marketing_refused: ({failure.label}) {error.message}; held until an admin acts"
        kind = TEMPLATE_HOLD_CODES[failure.code]
        hold = HoldRequest(TEMPLATE_SCOPE, template_key, kind, reason[:500], failure.label, phone_number_id)
        update = transitions.held(
            message,
            owner,
            now,
            reason=reason,
            hold_key=f"{TEMPLATE_SCOPE}:{template_key}",
            phone_number_id=phone_number_id,
            error=error,
        )
        return FailurePlan(update, outcome, hold=hold)
    if failure.code is None or failure.code in ACCOUNT_WIDE_CODES:
        scope, scope_key = ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY
    else:
        scope, scope_key = PHONE_NUMBER_SCOPE, phone_number_id
    reason = f"{failure.error_class.value}: ({failure.label}) {error.message}"
    hold = HoldRequest(scope, scope_key, failure.error_class.value, reason[:500], failure.label, phone_number_id)
    update = transitions.held(
        message,
        owner,
        now,
        reason=reason,
        hold_key=f"{scope}:{scope_key}",
        phone_number_id=phone_number_id,
        error=error,
    )
    return FailurePlan(update, outcome, hold=hold)


def _throttle(
    code: int | None, throttles: int, phone_number_id: str, recipient: str, policy: Policy, rng: random.Random
) -> tuple[float, str]:
    """Seconds to wait after a throttle, and the rate-limit key the wait applies to."""
    if code in PAIR_THROTTLE_CODES:
        delay = max(pair_backoff(throttles, cap=policy.throttle_max), policy.pair_interval)
        return delay, pair_key(phone_number_id, recipient)
    if code in APP_THROTTLE_CODES:
        return policy.app_throttle, number_key(phone_number_id)
    if code in LONG_THROTTLES:
        return LONG_THROTTLES[code], pair_key(phone_number_id, recipient)
    # 130429 and a bare HTTP 429
    delay = exponential_backoff(throttles, base=policy.throttle_base, cap=policy.throttle_max, rng=rng)
    return delay, number_key(phone_number_id)
