"""What to do with one claimed message, given the global switch, the tenant's settings and active holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bakery_shared.contracts import InternalNotificationSettings

KIND_PURCHASE_ORDER = "purchase_order"
KIND_TEST = "test"

ACCOUNT_SCOPE = "account"
PHONE_NUMBER_SCOPE = "phone_number"
MASTER_ACCOUNT_KEY = "master"


def hold_key(scope: str, key: str) -> str:
    return f"{scope}:{key}"


ACCOUNT_HOLD_KEY = hold_key(ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY)


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
) -> Decision:
    """``active_holds`` maps hold keys (``account:master``, ``phone_number:<id>``) to their reasons.

    Never falls back to the platform's default number (``WHATSAPP_PHONE_NUMBER_ID``): no tenant number, no send.
    A test message (sent by an admin/owner to check the set-up) ignores the tenant's on/off switches but still
    needs an assigned number.
    """
    if not globally_enabled:
        return Decision(Action.SKIP, Reason.DISABLED_GLOBALLY)
    if kind != KIND_TEST:
        if not tenant.whatsapp_enabled:
            return Decision(Action.SKIP, Reason.TENANT_WHATSAPP_OFF)
        if kind == KIND_PURCHASE_ORDER and not tenant.enable_po_notifications:
            return Decision(Action.SKIP, Reason.PO_NOTIFICATIONS_OFF)
    number = (tenant.whatsapp_phone_number_id or "").strip()
    if not number:
        return Decision(Action.SKIP, Reason.NO_NUMBER)
    for key in (ACCOUNT_HOLD_KEY, hold_key(PHONE_NUMBER_SCOPE, number)):
        if key in active_holds:
            return Decision(Action.HOLD, active_holds[key], hold_key=key, phone_number_id=number)
    return Decision(Action.SEND, phone_number_id=number)
