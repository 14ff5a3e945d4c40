"""What to do with one claimed message, given the global switch, the tenant's settings, holds and templates."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bakery_shared.contracts import InternalNotificationSettings
from notification_service.domain import kinds, supplier_replies, templates, transitions
from notification_service.domain.message import ErrorInfo, Message, MessageUpdate
from notification_service.domain.templates import RenderedTemplate
from notification_service.domain.whatsapp_state import (
    MARKETING_ROUTE,
    MESSAGES_ROUTE,
    TEMPLATE_SCOPE,
    TemplateAction,
    normalize_language,
    template_action,
    template_fail_reason,
    template_hold_reason,
    template_scope_key,
)
from notification_service.domain.whatsapp_state import (
    MASTER_ACCOUNT_KEY as MASTER_ACCOUNT_KEY,  # re-exported: the account holds' key of the environment
)

KIND_PURCHASE_ORDER = kinds.KIND_PURCHASE_ORDER
KIND_TEST = "test"

ACCOUNT_SCOPE = "account"
PHONE_NUMBER_SCOPE = "phone_number"


def hold_key(scope: str, key: str) -> str:
    return f"{scope}:{key}"


ACCOUNT_HOLD_KEY = hold_key(ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY)


def account_scope_key(waba_id: str, environment_waba: str) -> str:
    """The ``account`` hold's key of an account (issue 18): its WABA id; the environment's account (and a tenant
    whose settings name no account) keeps ``master``, the key of every account hold placed before accounts were
    data, so an installation upgraded while held keeps its hold."""
    return MASTER_ACCOUNT_KEY if not waba_id or waba_id == environment_waba else waba_id


def account_waba_of_key(key: str, environment_waba: str) -> str:
    """The WABA id an ``account`` hold key stands for (``master``: the environment's account)."""
    return environment_waba if key == MASTER_ACCOUNT_KEY else key


#: ``status_reason`` code of a message not sent (or failed) because its supplier's number is unreachable (131026)
UNREACHABLE_REASON_CODE = "supplier_unreachable"


def unreachable_reason(error_code: str, until: datetime | None) -> str:
    """Why a message to a supplier marked unreachable is skipped (``until`` None: until someone clears it)."""
    when = f"until {until.date().isoformat()}" if until is not None else "until the owner or an admin clears it"
    return (
        f"{UNREACHABLE_REASON_CODE}: Meta could not deliver to this supplier's number (error {error_code}); "
        f"messages to it from this bakery are not sent {when}"
    )


class Action(StrEnum):
    SEND = "send"
    SKIP = "skip"
    HOLD = "hold"


class Reason:
    """``status_reason`` values: a stable code, a colon, and words for people."""

    DISABLED_GLOBALLY = "disabled_globally: ENABLE_WHATSAPP_NOTIFICATIONS is false"
    TENANT_WHATSAPP_OFF = "tenant_whatsapp_disabled: WhatsApp notifications are off for this bakery"
    PO_NOTIFICATIONS_OFF = "po_notifications_disabled: purchase-order notifications are off for this bakery"
    NO_NUMBER = "no_phone_number: no WhatsApp phone number is assigned to this bakery"
    TENANT_UNAVAILABLE = "tenant_service_unavailable: tenant settings could not be fetched; will retry"
    TENANT_NOT_FOUND = "tenant_not_found: the tenant service does not know this tenant"
    RATE_NUMBER = "rate_limited: phone number throughput"
    RATE_PAIR = "rate_limited: pacing messages to this recipient"
    RATE_DAILY_CAP = "rate_limited: daily cap on new recipients for this bakery reached"
    AMBIGUOUS = "ambiguous_timeout: the request may have reached Meta; waiting for a status webhook before resending"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str | None = None
    hold_key: str | None = None
    phone_number_id: str | None = None


def decide(
    *,
    kind: str,
    globally_enabled: bool,
    tenant: InternalNotificationSettings,
    active_holds: Mapping[str, str],
    environment_waba: str = "",
) -> Decision:
    """``active_holds`` maps hold keys (``account:master``, ``account:<waba id>``, ``phone_number:<id>``) to their
    reasons; the tenant's account (``tenant.waba_id``) decides which account hold applies (issue 18).

    Never falls back to the platform's default number (``WHATSAPP_PHONE_NUMBER_ID``): no tenant number, no send.
    A test message (sent by an admin/owner to check the set-up) ignores the tenant's on/off switches but still
    needs an assigned number.
    """
    if not globally_enabled:
        return Decision(Action.SKIP, Reason.DISABLED_GLOBALLY)
    if kind != KIND_TEST:
        if not tenant.whatsapp_enabled:
            return Decision(Action.SKIP, Reason.TENANT_WHATSAPP_OFF)
        spec = kinds.get_kind(kind)  # the registry's switch (purchase orders, staff alerts); others have none
        if spec is not None and not spec.enabled(tenant):
            return Decision(Action.SKIP, spec.off_reason)
    number = (tenant.whatsapp_phone_number_id or "").strip()
    if not number:
        return Decision(Action.SKIP, Reason.NO_NUMBER)
    account_key = hold_key(ACCOUNT_SCOPE, account_scope_key(tenant.waba_id, environment_waba))
    for key in (account_key, hold_key(PHONE_NUMBER_SCOPE, number)):
        if key in active_holds:
            return Decision(Action.HOLD, active_holds[key], hold_key=key, phone_number_id=number)
    return Decision(Action.SEND, phone_number_id=number)


class TenantProblem(StrEnum):
    """Why a tenant's settings are not at hand."""

    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Send:
    """The message goes out: from ``phone_number_id``, as ``rendered``."""

    message: Message
    phone_number_id: str
    rendered: RenderedTemplate
    possible_duplicate: bool
    route: str = MESSAGES_ROUTE  # the Graph edge: messages, or marketing_messages (an accepted MARKETING template)
    #: the account of the number (issue 18): its WABA id (the environment's when the settings name none) and the
    #: reference to its token
    waba_id: str = ""
    token_ref: str = ""
    #: the portfolio whose daily budget the send draws on (its account's)
    portfolio_id: str = ""


@dataclass(frozen=True)
class Context:
    """What the dispatcher knows when it decides a batch."""

    owner: str
    now: datetime
    globally_enabled: bool
    ambiguous_grace: float
    tenant_retry: float
    #: hold key → (reason, id of the message sent as that hold's probe, if any)
    holds: Mapping[str, tuple[str, uuid.UUID | None]]
    #: (account key, template name, normalised language) → (status, reason) of the translations that must not be
    #: sent now, at every account (Meta keeps templates per WABA; the account key is the account holds' one:
    #: ``master`` for the environment's account, else its WABA id)
    template_states: Mapping[tuple[str, str, str], tuple[str, str | None]]
    #: (tenant, recipient phone) → ``status_reason`` of the suppliers marked unreachable for that bakery (131026)
    unreachable: Mapping[tuple[uuid.UUID, str], str] = field(default_factory=dict)
    #: (account key, template name, normalised language) of MARKETING templates an admin accepted at that account:
    #: sent to /marketing_messages
    marketing_templates: AbstractSet[tuple[str, str, str]] = frozenset()
    #: (tenant, recipient phone) → the word with which a supplier opted out of that bakery's messages (issue 16)
    opted_out: Mapping[tuple[uuid.UUID, str], str] = field(default_factory=dict)
    #: (business number, supplier phone) → when the supplier last wrote to that number (free-form sends' window)
    last_inbound: Mapping[tuple[str, str], datetime] = field(default_factory=dict)
    #: ``WHATSAPP_BUSINESS_ACCOUNT_ID``: the account of tenants whose settings name none (issue 18)
    environment_waba: str = ""


def prepare(
    message: Message,
    ctx: Context,
    *,
    unfinished_since: datetime | None,
    tenant: InternalNotificationSettings | TenantProblem,
) -> Send | MessageUpdate:
    """Decide one claimed message: a :class:`Send`, or the update that settles it for now (pure)."""
    owner, now = ctx.owner, ctx.now
    if message.wamid is not None:
        return transitions.already_accepted(message, owner, now)
    possible_duplicate = message.awaiting_webhook_until is not None
    if unfinished_since is not None:
        # we crashed (or were killed) during the HTTP call: Meta may have the message; wait for a webhook
        if message.awaiting_webhook_until is None:
            grace_end = unfinished_since + timedelta(seconds=ctx.ambiguous_grace)
            if grace_end <= now:  # the lease outlived the grace: give a webhook on its way a full grace from now
                grace_end = now + timedelta(seconds=ctx.ambiguous_grace)
            return transitions.requeued(
                message, owner, now, due=grace_end, reason=Reason.AMBIGUOUS, awaiting_webhook_until=grace_end
            )
        possible_duplicate = True
    if tenant is TenantProblem.NOT_FOUND:
        error = ErrorInfo("tenant_not_found", "The tenant service does not know this tenant")
        return transitions.failed(message, owner, now, reason=Reason.TENANT_NOT_FOUND, error=error)
    if tenant is TenantProblem.UNAVAILABLE:
        due = now + timedelta(seconds=ctx.tenant_retry)
        return transitions.requeued(message, owner, now, due=due, reason=Reason.TENANT_UNAVAILABLE)
    assert isinstance(tenant, InternalNotificationSettings)
    blocking = {key: reason for key, (reason, probe) in ctx.holds.items() if probe != message.id}
    decision = decide(
        kind=message.kind,
        globally_enabled=ctx.globally_enabled,
        tenant=tenant,
        active_holds=blocking,
        environment_waba=ctx.environment_waba,
    )
    if decision.action is Action.SKIP:
        return transitions.skipped(message, owner, now, reason=decision.reason or "skipped")
    unreachable = ctx.unreachable.get((message.tenant_id, message.recipient_phone))
    if unreachable is not None and message.kind != KIND_TEST:
        # Meta said it cannot deliver to this number (131026): not retried blindly (a test message still goes:
        # it is how an owner checks the number again)
        return transitions.skipped(message, owner, now, reason=unreachable)
    opted_out = ctx.opted_out.get((message.tenant_id, message.recipient_phone))
    if opted_out is not None:
        # the supplier wrote an opt-out word to this bakery: nothing goes to them until they opt in again
        return transitions.skipped(message, owner, now, reason=supplier_replies.opted_out_reason(opted_out))
    if decision.action is Action.HOLD:
        assert decision.hold_key is not None
        return transitions.held(
            message,
            owner,
            now,
            reason=decision.reason or "held",
            hold_key=decision.hold_key,
            phone_number_id=decision.phone_number_id,
        )
    assert decision.phone_number_id is not None
    try:
        rendered = templates.render(
            message.template_name, message.template_values, message.requested_language, tenant.whatsapp_default_language
        )
    except (KeyError, ValueError, ArithmeticError) as exc:
        error = ErrorInfo("template_error", f"{type(exc).__name__}: {exc}")
        reason = "template_error: the message could not be rendered"
        return transitions.failed(message, owner, now, reason=reason, error=error)
    if rendered.free_form:
        # a free-form text (our reply to a supplier's tap): only inside the 24-hour customer-service window of the
        # number it goes from; outside it Meta refuses it (131047), so it is never sent
        last = ctx.last_inbound.get((decision.phone_number_id, message.recipient_phone))
        if not supplier_replies.window_open(last, now):
            return transitions.skipped(message, owner, now, reason=supplier_replies.OUTSIDE_WINDOW_REASON)
        return Send(
            message, decision.phone_number_id, rendered, possible_duplicate, MESSAGES_ROUTE, *_account(tenant, ctx)
        )
    # the template's state at the account of the message's number (issue 18): a translation paused or pending at
    # one account holds that account's messages only; one never synced at an account is sent (Meta is the judge)
    account = account_scope_key(tenant.waba_id, ctx.environment_waba)
    translation = (account, rendered.name, normalize_language(rendered.meta_language))
    state = ctx.template_states.get(translation)
    if state is not None:
        status, why = state
        action = template_action(status)
        if action is TemplateAction.HOLD:
            return transitions.held(
                message,
                owner,
                now,
                reason=template_hold_reason(rendered.name, rendered.meta_language, status),
                hold_key=hold_key(TEMPLATE_SCOPE, template_scope_key(rendered.name, rendered.meta_language, account)),
                phone_number_id=decision.phone_number_id,
            )
        if action is TemplateAction.FAIL:
            error = ErrorInfo(
                f"template_{status.lower()}", f"Template {rendered.name} ({rendered.meta_language}) is {status}", why
            )
            return transitions.failed(
                message,
                owner,
                now,
                reason=template_fail_reason(rendered.name, rendered.meta_language, status, why),
                error=error,
                phone_number_id=decision.phone_number_id,
                language=rendered.language,
            )
    template_key = hold_key(TEMPLATE_SCOPE, template_scope_key(rendered.name, rendered.meta_language, account))
    template_hold = blocking.get(template_key)
    if template_hold is not None:  # e.g. re-categorised to MARKETING: waits for an admin (never fails)
        return transitions.held(
            message,
            owner,
            now,
            reason=template_hold,
            hold_key=template_key,
            phone_number_id=decision.phone_number_id,
        )
    marketing = translation in ctx.marketing_templates
    route = MARKETING_ROUTE if marketing else MESSAGES_ROUTE
    return Send(message, decision.phone_number_id, rendered, possible_duplicate, route, *_account(tenant, ctx))


def _account(tenant: InternalNotificationSettings, ctx: Context) -> tuple[str, str, str]:
    """The (WABA id, token reference, portfolio) a tenant's message goes out with: the account of its number, or
    the environment's account when the settings name none (a tenant service from before issue 18)."""
    if tenant.waba_id:
        return tenant.waba_id, tenant.token_ref, tenant.portfolio_id or tenant.waba_id
    return ctx.environment_waba, "", ""
