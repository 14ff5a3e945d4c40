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
from typing import TYPE_CHECKING

from bakery_shared.graph import GraphClientError, GraphError, GraphNotConfigured, GraphTimeout
from notification_service.domain import transitions
from notification_service.domain.backoff import exponential_backoff, pair_backoff
from notification_service.domain.decisions import (
    ACCOUNT_SCOPE,
    MASTER_ACCOUNT_KEY,
    PHONE_NUMBER_SCOPE,
    UNREACHABLE_REASON_CODE,
    Reason,
    hold_key,
)
from notification_service.domain.message import ErrorInfo, Message, MessageUpdate
from notification_service.domain.rate_gate import number_key, pair_key
from notification_service.domain.whatsapp_state import (
    CATEGORY_HOLD,
    TEMPLATE_SCOPE,
    template_hold_reason,
    template_scope_key,
)

if TYPE_CHECKING:
    from notification_service.config import NotificationSettings


class ErrorClass(StrEnum):
    TRANSIENT = "transient"  # back off exponentially, then give up
    THROTTLED = "throttled"  # wait at the rate Meta asks, never fail for it
    PERMANENT = "permanent"  # fail this message now; retrying cannot help
    CREDENTIAL = "credential"  # token / permission problem: hold; a read (GET) tells when it is fixed
    RESTRICTED = "restricted"  # Meta refuses sends only (spam limit, locked account…): hold; only a send tells
    AMBIGUOUS = "ambiguous"  # no answer: the request may have reached Meta
    TEMPLATE = "template"  # the template is paused: hold its messages until Meta reports it approved again


# Sources: Meta's "Error codes" page of the Cloud API (developers.facebook.com/docs/whatsapp/cloud-api/support/
# error-codes, updated 2026-06-18) and "Messaging limits" (…/whatsapp/messaging-limits); docs/notification.md,
# "Errors and retries", has the table with what the product does for each code.
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
#: permanent for this message, named here so the table is complete (anything unknown is permanent as well)
PERMANENT_CODES = frozenset(
    {
        100,  # invalid parameter
        130472,  # the recipient is in one of Meta's marketing experiment groups: not sent, do not retry
        131008,  # required parameter missing
        131009,  # parameter value not valid
        131021,  # recipient is the sender
        131026,  # undeliverable (see UNREACHABLE_CODES)
        131047,  # more than 24 h since the user last wrote (free-form outside the window; never for templates)
        131050,  # the user stopped marketing messages from this business
        131062,  # business-scoped user ID recipients are not supported for this message
        132000,  # template parameter count mismatch
        132001,  # template does not exist in that language
        132005,  # hydrated text too long
        132007,  # template content violates a policy
        132012,  # parameter format mismatch
        132016,  # template disabled for good (see TEMPLATE_STATUS_CODES)
        132018,  # a template parameter Meta refuses (line break, tab, > 4 spaces…)
    }
)
#: the recipient cannot be reached on WhatsApp: the supplier is marked unreachable for that bakery
UNREACHABLE_CODES = frozenset({131026})
#: template problems: the status to record for the template (its other messages follow the template rules)
TEMPLATE_STATUS_CODES = {132015: "PAUSED", 132016: "DISABLED"}
#: the template is paused: its messages are held (class TEMPLATE) until Meta reports it approved again
TEMPLATE_HOLD_CODES = frozenset(code for code, status in TEMPLATE_STATUS_CODES.items() if status == "PAUSED")
#: codes that hold one template translation until an admin acts: 131063, marketing templates are off on the Cloud
#: API's /messages (Meta treats this template as MARKETING). Held like a re-categorised template (template_category)
CATEGORY_HOLD_CODES = {131063: CATEGORY_HOLD}


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
    if code in TEMPLATE_HOLD_CODES:
        return ErrorClass.TEMPLATE
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

    @classmethod
    def from_settings(cls, s: NotificationSettings) -> Policy:
        return cls(
            max_attempts=s.max_attempts,
            retry_base=s.retry_base_seconds,
            retry_max=s.retry_max_seconds,
            throttle_base=s.throttle_base_seconds,
            throttle_max=s.throttle_max_seconds,
            app_throttle=s.app_throttle_seconds,
            maintenance_retry=s.maintenance_retry_seconds,
            ambiguous_grace=s.ambiguous_grace_seconds,
            pair_interval=s.recipient_min_interval_seconds,
        )


@dataclass(frozen=True, slots=True)
class HoldRequest:
    scope: str
    scope_key: str
    kind: str  # ErrorClass.CREDENTIAL or ErrorClass.RESTRICTED (probed), or CATEGORY_HOLD (an admin releases it)
    reason: str
    error_code: str
    probe_phone_number_id: str
    #: the account of the number that failed (issue 18): its token probes the hold
    waba_id: str = ""


@dataclass(frozen=True, slots=True)
class FailurePlan:
    update: MessageUpdate
    attempt_outcome: str
    pace: tuple[str, datetime] | None = None  # rate-limit key → nothing before this instant
    hold: HoldRequest | None = None
    #: the recipient cannot be reached: mark (tenant, recipient) unreachable (131026)
    unreachable: bool = False
    #: (template name, language, status) to record for the template the message used (132015, 132016)
    template_status: tuple[str, str, str] | None = None
    #: the account key at which to record it (issue 18): the message's account (``master``: the environment's)
    template_account: str = MASTER_ACCOUNT_KEY


def plan_failure(
    message: Message,
    failure: Failure,
    *,
    owner: str,
    phone_number_id: str,
    now: datetime,
    policy: Policy,
    rng: random.Random,
    template: tuple[str, str] | None = None,
    account_key: str = MASTER_ACCOUNT_KEY,
    waba_id: str = "",
) -> FailurePlan:
    """The message's next state after ``failure`` (pure: the caller writes the update, pace and hold).

    ``template`` is the (name, Meta language code) the message was sent with: a template error records its status.
    ``account_key`` is the ``account`` hold key of the number's account (``master``: the environment's), so a
    token problem holds that account only (issue 18), and a template error holds and records the template at that
    account only (Meta keeps templates per WABA); ``waba_id`` the account itself.
    """
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
        delay, key = throttle_delay(failure.code, throttles, phone_number_id, message.recipient_phone, policy, rng)
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
    template_status = None
    if template is not None and failure.code in TEMPLATE_STATUS_CODES:
        template_status = (template[0], template[1], TEMPLATE_STATUS_CODES[failure.code])
    if failure.error_class is ErrorClass.TEMPLATE:
        if template_status is None:  # no template known: nothing to wait for; the message is refused
            update = transitions.failed(message, owner, now, reason=f"rejected: {failure.label}", error=error)
            return FailurePlan(update, ErrorClass.PERMANENT.value)
        name, language, status = template_status
        update = transitions.held(
            message,
            owner,
            now,
            reason=template_hold_reason(name, language, status),
            hold_key=hold_key(TEMPLATE_SCOPE, template_scope_key(name, language, account_key)),
            phone_number_id=phone_number_id,
            error=error,
        )
        return FailurePlan(update, outcome, template_status=template_status, template_account=account_key)
    if failure.error_class is ErrorClass.PERMANENT:
        unreachable = failure.code in UNREACHABLE_CODES
        reason = f"rejected: {failure.label}"
        if unreachable:
            reason = f"{UNREACHABLE_REASON_CODE}: ({failure.label}) {error.message}"
        update = transitions.failed(message, owner, now, reason=reason, error=error)
        return FailurePlan(
            update, outcome, unreachable=unreachable, template_status=template_status, template_account=account_key
        )
    # credential or restricted: keep the message, pause the template, the number or the whole account
    if failure.code in CATEGORY_HOLD_CODES and template is not None:
        template_key = template_scope_key(*template, account_key)
        reason = f"template_marketing_refused: ({failure.label}) {error.message}; held until an admin acts"
        kind = CATEGORY_HOLD_CODES[failure.code]
        hold = HoldRequest(TEMPLATE_SCOPE, template_key, kind, reason[:500], failure.label, phone_number_id, waba_id)
    else:
        hold = hold_request(failure, phone_number_id, account_key=account_key, waba_id=waba_id)
    reason = hold.reason
    update = transitions.held(
        message,
        owner,
        now,
        reason=reason,
        hold_key=hold_key(hold.scope, hold.scope_key),
        phone_number_id=phone_number_id,
        error=error,
    )
    return FailurePlan(update, outcome, hold=hold)


def hold_request(
    failure: Failure, phone_number_id: str, *, account_key: str = MASTER_ACCOUNT_KEY, waba_id: str = ""
) -> HoldRequest:
    """The hold a credential or restricted failure places: the number's whole account (``account_key``) for a
    shared problem (token, billing, WABA), else the number that sent."""
    if failure.code is None or failure.code in ACCOUNT_WIDE_CODES:
        scope, scope_key = ACCOUNT_SCOPE, account_key
    else:
        scope, scope_key = PHONE_NUMBER_SCOPE, phone_number_id
    reason = f"{failure.error_class.value}: ({failure.label}) {failure.error.message}"
    return HoldRequest(
        scope, scope_key, failure.error_class.value, reason[:500], failure.label, phone_number_id, waba_id
    )


def throttle_delay(
    code: int | None, throttles: int, phone_number_id: str, recipient: str, policy: Policy, rng: random.Random
) -> tuple[float, str]:
    """Seconds to wait after a throttle, and the rate-limit key the wait applies to: 131056 and 131049 delay
    only that (number, recipient) pair; 130429, 4 and 80007 the number."""
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
