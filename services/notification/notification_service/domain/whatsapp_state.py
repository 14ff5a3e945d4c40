"""Rules for phone-number quality, account state and template status (what holds, what fails, what resumes)."""

from __future__ import annotations

import re
from enum import StrEnum

QUALITY_HOLD = "quality"  # sending_holds.kind for a RED / FLAGGED / RESTRICTED number
ACCOUNT_HOLD = "account_update"  # sending_holds.kind for an account restriction (account_update webhook)
TEMPLATE_HOLD = "template"  # sending_holds.kind for a paused / pending template
TEMPLATE_SCOPE = "template"  # sending_holds.scope for templates, scope_key "<name>:<language>"
#: sending_holds.kind for a template translation Meta re-categorised to MARKETING (or that Meta refused as marketing
#: on /messages, 131063): its messages wait until an admin accepts the category or Meta changes it back
CATEGORY_HOLD = "template_category"
MARKETING = "MARKETING"
#: the Graph API edges a template message is POSTed to (Meta: "Marketing Messages API for WhatsApp")
MESSAGES_ROUTE = "messages"
MARKETING_ROUTE = "marketing_messages"

#: Number statuses that pause sending (besides a RED quality rating).
BAD_NUMBER_STATUSES = frozenset({"FLAGGED", "RESTRICTED", "BANNED"})
BAD_QUALITY = frozenset({"RED"})


def number_hold_reason(quality_rating: str | None, status: str | None) -> str | None:
    """Why a number must not send (None when it may): RED quality, or status FLAGGED / RESTRICTED / BANNED."""
    quality = (quality_rating or "").upper()
    state = (status or "").upper()
    if quality in BAD_QUALITY:
        return f"quality: phone number quality rating is {quality}; sending paused until it recovers"
    if state in BAD_NUMBER_STATUSES:
        return f"quality: phone number status is {state}; sending paused until it is CONNECTED again"
    return None


#: ``account_update`` events that pause the whole account, and the ones that lift that pause.
ACCOUNT_PAUSE_EVENTS = frozenset({"ACCOUNT_RESTRICTION", "ACCOUNT_DELETED", "ACCOUNT_OFFBOARDED"})
ACCOUNT_RESUME_EVENTS = frozenset({"ACCOUNT_RECONNECTED"})
BAN_STATES_PAUSE = frozenset({"DISABLE", "SCHEDULE_FOR_DISABLE"})


class TemplateAction(StrEnum):
    SEND = "send"
    HOLD = "hold"
    FAIL = "fail"


#: Template statuses (REST ``status`` or webhook ``event``) → what the dispatcher does with its messages.
TEMPLATE_ACTIONS: dict[str, TemplateAction] = {
    "APPROVED": TemplateAction.SEND,
    "REINSTATED": TemplateAction.SEND,
    "UNARCHIVED": TemplateAction.SEND,
    "FLAGGED": TemplateAction.SEND,  # a quality warning; Meta still delivers until it pauses the template
    "LOCKED": TemplateAction.SEND,  # cannot be edited, still sendable
    "PAUSED": TemplateAction.HOLD,
    "PENDING": TemplateAction.HOLD,
    "IN_APPEAL": TemplateAction.HOLD,
    "LIMIT_EXCEEDED": TemplateAction.HOLD,
    "REJECTED": TemplateAction.FAIL,
    "DISABLED": TemplateAction.FAIL,
    "DELETED": TemplateAction.FAIL,
    "PENDING_DELETION": TemplateAction.FAIL,
    "ARCHIVED": TemplateAction.FAIL,
}


def template_action(status: str | None) -> TemplateAction:
    """Unknown or missing status → SEND (Meta is the judge; its error codes still apply)."""
    return TEMPLATE_ACTIONS.get((status or "").upper(), TemplateAction.SEND)


def stored_template_status(event_or_status: str) -> str:
    """Webhook events that mean "approved again" are stored as ``APPROVED``."""
    value = event_or_status.upper()
    return "APPROVED" if value in ("REINSTATED", "UNARCHIVED") else value


def normalize_language(code: str | None) -> str:
    """``en-US`` (webhook example) and ``en_US`` (REST) are the same translation."""
    return (code or "").strip().replace("-", "_")


#: the account key of the environment's account (``WHATSAPP_BUSINESS_ACCOUNT_ID``) in account holds and template
#: state (issue 18); another account's key is its WABA id (``domain/decisions.account_scope_key``)
MASTER_ACCOUNT_KEY = "master"


def template_scope_key(name: str, language: str, account_key: str = MASTER_ACCOUNT_KEY) -> str:
    """The ``template`` hold key of a translation at an account: ``<name>:<language>`` at the environment's account
    (the key it always had, so holds placed before accounts were data stay in force), ``<name>:<language>@<WABA
    id>`` at another (Meta keeps templates per WABA: a template paused at one account holds that account only)."""
    key = f"{name}:{normalize_language(language)}"
    return key if not account_key or account_key == MASTER_ACCOUNT_KEY else f"{key}@{account_key}"


def template_hold_reason(name: str, language: str, status: str) -> str:
    return f"template_not_approved: template {name} ({language}) is {status}; held until Meta approves it again"


def category_hold_reason(name: str, language: str, previous: str | None, category: str | None) -> str | None:
    """Why a template translation waits for an admin because of its category (None when it may send).

    Meta re-categorises templates on its own since April 2025 (``allow_category_change`` is gone). A purchase-order
    notice that Meta now calls MARKETING is held: marketing sends cost more, go to ``/marketing_messages`` and
    follow marketing rules (opt-outs, per-user limits). Only a *change* holds (``previous`` known and different):
    a template that was always MARKETING is none of this product's templates."""
    if (category or "").upper() != MARKETING or not previous or previous.upper() == MARKETING:
        return None
    return (
        f"template_recategorised: Meta changed template {name} ({language}) from {previous.upper()} to MARKETING; "
        "its messages wait until an admin accepts the new category (they are then sent through "
        "/marketing_messages) or Meta changes it back"
    )


def send_route(category: str | None, accepted_category: str | None) -> str:
    """``marketing_messages`` for a MARKETING translation an admin accepted, else ``messages``."""
    if (category or "").upper() == MARKETING and (accepted_category or "").upper() == MARKETING:
        return MARKETING_ROUTE
    return MESSAGES_ROUTE


def template_fail_reason(name: str, language: str, status: str, reason: str | None) -> str:
    extra = f" ({reason})" if reason and reason.upper() != "NONE" else ""
    return f"template_unusable: template {name} ({language}) is {status}{extra}; not sent"


TIER_LIMITS: dict[str, int | None] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1000,
    "TIER_2K": 2000,
    "TIER_10K": 10000,
    "TIER_100K": 100000,
    "TIER_UNLIMITED": None,
}


def tier_limit(tier: str | None) -> int | None:
    """Unique recipients per moving 24 h for a tier name; None for unlimited or unknown."""
    if not tier:
        return None
    return TIER_LIMITS.get(tier.upper())


def digits(phone: str | None) -> str:
    """``+34 612 345 678`` (list endpoint) and ``34612345678`` (webhooks) compare equal as digits."""
    return re.sub(r"\D", "", phone or "")
