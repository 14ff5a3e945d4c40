"""Control API under ``/_sandbox`` (development only): inspect what was sent and delivered,
inject faults, set webhook knobs, change numbers/templates/tokens, simulate inbound messages, reset.

No auth on 127.0.0.1; with ``SANDBOX_CONTROL_TOKEN`` set (required off loopback) every route needs
``Authorization: Bearer <token>``."""

from __future__ import annotations

import secrets
import time
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from .state import (
    PHONE_STATUSES,
    QUALITY_RATINGS,
    TEMPLATE_CATEGORIES,
    TEMPLATE_STATUSES,
    Account,
    FaultRule,
    Knobs,
    OneShotKnobs,
    SandboxState,
    Template,
    WebhookDelivery,
    digits_only,
)
from .webhooks import WebhookDispatcher


def require_control_token(request: Request) -> None:
    expected: str = request.app.state.settings.control_token
    if not expected:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="the sandbox control API needs Authorization: Bearer <SANDBOX_CONTROL_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(prefix="/_sandbox", tags=["sandbox control"], dependencies=[Depends(require_control_token)])

QUALITY_RANK = {"GREEN": 0, "YELLOW": 1, "RED": 2}
TIER_RANK = {
    "TIER_50": 0, "TIER_250": 1, "TIER_1K": 2, "TIER_2K": 3, "TIER_10K": 4, "TIER_100K": 5, "TIER_UNLIMITED": 6,
}  # fmt: skip


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _dispatcher(request: Request) -> WebhookDispatcher:
    disp: WebhookDispatcher = request.app.state.dispatcher
    return disp


def _account(state: SandboxState, waba_id: str | None) -> Account:
    """The account a control request names (``None``: the first account); 404 for an unknown one."""
    account = state.resolve_account(waba_id)
    if account is None:
        raise HTTPException(404, f"unknown waba_id {waba_id} (GET /_sandbox/accounts lists them)")
    return account


# ------------------------------------------------------------------------------------------ request models
class KnobsRequest(BaseModel):
    phone_number_id: str | None = None
    to: str | None = None
    next: int | None = Field(default=None, ge=1)
    knobs: Knobs


class FaultRequest(FaultRule):
    seed: int | None = None


class PhoneNumberUpdate(BaseModel):
    quality_rating: str | None = None
    status: str | None = None
    messaging_limit_tier: str | None = None
    throughput_level: Literal["STANDARD", "HIGH", "NOT_APPLICABLE"] | None = None
    throughput_per_second: float | None = Field(default=None, gt=0)
    verified_name: str | None = None
    name_status: str | None = None
    event: str | None = None
    notify: bool = True


class TemplateStatusRequest(BaseModel):
    id: str | None = None
    name: str | None = None
    language: str | None = None
    #: whose template ``name`` means (default: the first account's); ``id`` needs none
    waba_id: str | None = None
    status: str
    reason: str | None = None


#: The review results Meta gives a new template (the sandbox's knob picks one).
REVIEW_STATUSES = ("APPROVED", "REJECTED")


class TemplateReviewRequest(BaseModel):
    """How the sandbox's review (after ``template_auto_approve_seconds``) ends for new templates."""

    #: ``APPROVED`` or ``REJECTED``; null removes the knob for ``name`` (back to approving)
    status: str | None = "REJECTED"
    #: one template name, or ``*`` for every new template without its own knob
    name: str = "*"
    #: the ``rejected_reason`` and webhook ``reason`` of a rejection (Meta's enum, e.g. INVALID_FORMAT)
    reason: str | None = None


class TemplateUpsert(BaseModel):
    #: the account (default: the first)
    waba_id: str | None = None
    name: str
    language: str
    category: str = "UTILITY"
    status: str = "APPROVED"
    parameter_format: Literal["POSITIONAL", "NAMED"] = "POSITIONAL"
    components: list[dict[str, Any]]


class TemplateCategoryRequest(BaseModel):
    id: str | None = None
    name: str | None = None
    language: str | None = None
    waba_id: str | None = None
    category: Literal["AUTHENTICATION", "MARKETING", "UTILITY"]


class ClockRequest(BaseModel):
    today: date | None = None  # None: back to the real date


class AccountPolicyUpdate(BaseModel):
    marketing_via_cloud_api: bool | None = None
    classification_limit: bool | None = None


class TokenRequest(BaseModel):
    token: str | None = None
    #: the account whose token this is (default: the first account)
    waba_id: str | None = None


class ExpireRequest(BaseModel):
    token: str | None = None
    waba_id: str | None = None


class ButtonReply(BaseModel):
    payload: str
    text: str


class InboundRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    phone_number_id: str | None = None
    from_: str = Field(alias="from")
    name: str = "Cliente Sandbox"
    text: str | None = None
    button: ButtonReply | None = None
    context_message_id: str | None = None
    #: the wamid of a message the business sent, that this reply quotes (``context.id``); alias of
    #: ``context_message_id``
    context_wamid: str | None = None
    #: The user came from a click-to-WhatsApp ad / Page call to action: a 72-hour free entry point window opens.
    entry_point: bool = False


class TapRequest(BaseModel):
    """The recipient of a template message taps one of its quick-reply buttons."""

    #: ``"confirm"`` / ``"reject"`` (the purchase-order template's buttons 0 and 1) or the button's index
    button: Literal["confirm", "reject"] | int = Field(default="confirm")
    omit_context: bool = False  # Meta sometimes leaves ``context`` out of a button message
    interactive: bool = False  # deliver it as an interactive ``button_reply`` instead of a ``button`` message
    name: str = "Proveedor Sandbox"


class UserRequest(BaseModel):
    """A simulated WhatsApp user: its phone number (the sandbox's key for it), a username, and whether Meta withholds
    the phone number from webhooks wherever it may (Meta page "Business-scoped user IDs", 2026)."""

    phone: str
    username: str | None = Field(default=None, min_length=1, max_length=64)
    hide_phone: bool = False
    parent_user_id: bool = False  # parent BSUIDs enabled for this user's portfolio


class WebhookConfigUpdate(BaseModel):
    url: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    max_attempts: int | None = Field(default=None, ge=1)
    retry_base_seconds: float | None = Field(default=None, ge=0)
    retry_max_seconds: float | None = Field(default=None, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0)
    #: status webhooks per POST (1: one each; Meta aggregates up to 1,000) and how long a batch gathers
    batch_max: int | None = Field(default=None, ge=1, le=1000)
    batch_window_seconds: float | None = Field(default=None, ge=0, le=5)


class PricingUpdate(BaseModel):
    #: The UTC day the pricing rules see for the next sends (null: today): both sides of 2026-10-01 in tests.
    send_date: date | None = None
    #: The sandbox's rate card ``{"ES" or "*": {"utility": 0.0172, ...}}`` for ``pricing_analytics`` costs.
    rates: dict[str, dict[str, Decimal]] | None = None


class LimitsUpdate(BaseModel):
    throughput_per_second: float | None = Field(default=None, gt=0)
    pair_limit: int | None = Field(default=None, ge=1)
    pair_refill_seconds: float | None = Field(default=None, ge=0)
    throttle_http_status: int | None = Field(default=None, ge=400, le=599)
    template_auto_approve_seconds: float | None = None


# ------------------------------------------------------------------------------------------ state
@router.get("/state")
async def get_state(request: Request) -> dict[str, Any]:
    snapshot = _state(request).snapshot()
    snapshot["pending_tasks"] = _dispatcher(request).pending
    return snapshot


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    await _dispatcher(request).cancel_all()
    _state(request).reset()
    return {"reset": True}


# ------------------------------------------------------------------------------------------ sends and webhooks
@router.get("/messages")
async def list_messages(
    request: Request,
    phone_number_id: str | None = None,
    to: str | None = None,
    wamid: str | None = None,
    waba_id: str | None = None,
) -> list[dict[str, Any]]:
    state = _state(request)
    records = state.messages
    wa_id = digits_only(to) if to else None
    return [
        r.as_dict()
        for r in records
        if (phone_number_id is None or r.phone_number_id == phone_number_id)
        and (waba_id is None or state.numbers[r.phone_number_id].waba_id == waba_id)
        and (wa_id is None or r.wa_id == wa_id)
        and (wamid is None or r.wamid == wamid)
    ]


@router.delete("/messages")
async def clear_messages(request: Request) -> dict[str, Any]:
    state = _state(request)
    count = len(state.messages)
    state.messages.clear()
    return {"deleted": count}


@router.get("/webhooks")
async def list_webhooks(
    request: Request,
    field: str | None = None,
    wamid: str | None = None,
    status: str | None = None,
    delivered: bool | None = None,
    waba_id: str | None = None,
) -> list[dict[str, Any]]:
    return [
        d.as_dict()
        for d in _state(request).deliveries
        if (field is None or d.field == field)
        and (waba_id is None or _entry_id(d.body) == waba_id)
        and _carries(d, wamid, status)
        and (delivered is None or d.delivered == delivered)
    ]


def _carries(delivery: WebhookDelivery, wamid: str | None, status: str | None) -> bool:
    """A webhook about ``wamid`` and/or ``status``: a single one, or a batched POST with such a status in it."""
    items = delivery.statuses or [{"wamid": delivery.wamid or "", "status": delivery.status or ""}]
    return any((wamid is None or i["wamid"] == wamid) and (status is None or i["status"] == status) for i in items)


def _entry_id(body: dict[str, Any]) -> str | None:
    entries = body.get("entry")
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        return str(entries[0].get("id"))
    return None


@router.delete("/webhooks")
async def clear_webhooks(request: Request) -> dict[str, Any]:
    state = _state(request)
    count = len(state.deliveries)
    state.deliveries.clear()
    return {"deleted": count}


@router.get("/webhook")
async def get_webhook_config(request: Request) -> dict[str, Any]:
    webhook: dict[str, Any] = _state(request).snapshot()["webhook"]
    return webhook


@router.post("/webhook")
async def set_webhook_config(update: WebhookConfigUpdate, request: Request) -> dict[str, Any]:
    config = _state(request).webhook
    for name in update.model_fields_set:
        setattr(config, name, getattr(update, name))
    webhook: dict[str, Any] = _state(request).snapshot()["webhook"]
    return webhook


@router.post("/webhook/verify")
async def verify_webhook(request: Request) -> dict[str, Any]:
    return await _dispatcher(request).verify_callback()


# ------------------------------------------------------------------------------------------ knobs
@router.get("/knobs")
async def get_knobs(request: Request) -> dict[str, Any]:
    return _state(request).knobs_view()


@router.post("/knobs")
async def set_knobs(body: KnobsRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    if body.phone_number_id is not None and body.phone_number_id not in state.numbers:
        raise HTTPException(404, f"unknown phone_number_id {body.phone_number_id}")
    if body.next is not None:
        state.next_knobs.append(OneShotKnobs(body.knobs, body.next, body.phone_number_id))
    elif body.to is not None:
        key = digits_only(body.to)
        state.recipient_knobs[key] = _merge(state.recipient_knobs.get(key), body.knobs)
    elif body.phone_number_id is not None:
        state.number_knobs[body.phone_number_id] = _merge(state.number_knobs.get(body.phone_number_id), body.knobs)
    else:
        state.global_knobs = _merge(state.global_knobs, body.knobs)
    return state.knobs_view()


@router.delete("/knobs")
async def clear_knobs(request: Request) -> dict[str, Any]:
    state = _state(request)
    state.global_knobs = Knobs()
    state.number_knobs.clear()
    state.recipient_knobs.clear()
    state.next_knobs.clear()
    return state.knobs_view()


def _merge(old: Knobs | None, new: Knobs) -> Knobs:
    if old is None:
        return new.model_copy()
    data = old.model_dump(exclude_unset=True)
    data.update(new.model_dump(exclude_unset=True))
    return Knobs(**data)


# ------------------------------------------------------------------------------------------ faults and limits
@router.get("/faults")
async def list_faults(request: Request) -> list[dict[str, Any]]:
    return [f.model_dump() for f in _state(request).faults]


@router.post("/faults")
async def add_fault(body: FaultRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    if body.seed is not None:
        state.rng.seed(body.seed)
    rule = state.add_fault(FaultRule(**body.model_dump(exclude={"seed", "id", "fired"})))
    return rule.model_dump()


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    state = _state(request)
    count = len(state.faults)
    state.faults.clear()
    return {"deleted": count}


@router.get("/limits")
async def get_limits(request: Request) -> dict[str, Any]:
    return _state(request).limits_view()


@router.post("/limits")
async def set_limits(body: LimitsUpdate, request: Request) -> dict[str, Any]:
    state = _state(request)
    if body.throughput_per_second is not None:
        state.throughput.default_rate = body.throughput_per_second
        state.throughput.reset()
    if body.pair_limit is not None or body.pair_refill_seconds is not None:
        state.pairs.configure(body.pair_limit, body.pair_refill_seconds)
    if body.throttle_http_status is not None:
        state.throttle_http_status = body.throttle_http_status
    if body.template_auto_approve_seconds is not None:
        state.template_auto_approve_seconds = body.template_auto_approve_seconds
    view = state.limits_view()
    view["template_auto_approve_seconds"] = state.template_auto_approve_seconds
    return view


# ------------------------------------------------------------------------------------------ phone numbers
@router.post("/phone_numbers/{phone_number_id}")
async def update_phone_number(phone_number_id: str, body: PhoneNumberUpdate, request: Request) -> dict[str, Any]:
    state = _state(request)
    number = state.numbers.get(phone_number_id)
    if number is None:
        raise HTTPException(404, f"unknown phone_number_id {phone_number_id}")
    if body.quality_rating is not None and body.quality_rating not in QUALITY_RATINGS:
        raise HTTPException(422, f"quality_rating must be one of {QUALITY_RATINGS}")
    if body.status is not None and body.status not in PHONE_STATUSES:
        raise HTTPException(422, f"status must be one of {PHONE_STATUSES}")
    if body.messaging_limit_tier is not None and body.messaging_limit_tier not in TIER_RANK:
        raise HTTPException(422, f"messaging_limit_tier must be one of {tuple(TIER_RANK)}")

    event: str | None = None
    if body.quality_rating is not None and body.quality_rating != number.quality_rating:
        old, new = QUALITY_RANK.get(number.quality_rating, 0), QUALITY_RANK.get(body.quality_rating, 0)
        if new > old:
            event = "FLAGGED" if body.quality_rating == "YELLOW" else "DOWNGRADE"
        else:
            event = "UNFLAGGED" if number.quality_rating == "YELLOW" else "UPGRADE"
        number.quality_rating = body.quality_rating
    if body.messaging_limit_tier is not None and body.messaging_limit_tier != number.messaging_limit_tier:
        up = TIER_RANK[body.messaging_limit_tier] > TIER_RANK.get(number.messaging_limit_tier, 0)
        event = event or ("UPGRADE" if up else "DOWNGRADE")
        # one limit for every number of the portfolio (the number's account)
        state.set_portfolio_messaging_limit(body.messaging_limit_tier, state.account_of_number(number.id))
    if body.throughput_level is not None and body.throughput_level != number.throughput_level:
        if body.throughput_level == "HIGH":
            event = event or "THROUGHPUT_UPGRADE"
            state.throughput.set_rate(number.id, body.throughput_per_second or 1000.0)
        number.throughput_level = body.throughput_level
    if body.throughput_per_second is not None:
        state.throughput.set_rate(number.id, body.throughput_per_second)
    if body.status is not None:
        number.status = body.status
    if body.verified_name is not None:
        number.verified_name = body.verified_name
    if body.name_status is not None:
        number.name_status = body.name_status

    delivery = None
    event = body.event or event
    if event is not None and body.notify:
        delivery = _dispatcher(request).phone_quality(number, event)
    return {
        "phone_number": number.graph_fields(listing=True),
        "throughput_per_second": state.throughput.rate_for(number.id),
        "webhook_event": event,
        "webhook_id": delivery.id if delivery else None,
    }


class PortfolioUpdate(BaseModel):
    messaging_limit: str
    #: the number whose ``phone_number_quality_update`` carries the change (default: the account's first)
    phone_number_id: str | None = None
    #: the account (default: the number's, else the first account)
    waba_id: str | None = None
    notify: bool = True


@router.post("/portfolio")
async def update_portfolio(body: PortfolioUpdate, request: Request) -> dict[str, Any]:
    """Set the business portfolio's messaging limit, which every number shares (Meta, since 2025-10-07)."""
    state = _state(request)
    if body.messaging_limit not in TIER_RANK:
        raise HTTPException(422, f"messaging_limit must be one of {tuple(TIER_RANK)}")
    if body.phone_number_id is not None:
        account = state.account_of_number(body.phone_number_id)
        if account is None or (body.waba_id is not None and account.id != body.waba_id):
            raise HTTPException(404, f"unknown phone_number_id {body.phone_number_id} (of that account)")
    else:
        account = _account(state, body.waba_id)
    numbers = state.account_numbers(account)
    number = state.numbers.get(body.phone_number_id) if body.phone_number_id else (numbers[0] if numbers else None)
    old = account.messaging_limit_tier
    state.set_portfolio_messaging_limit(body.messaging_limit, account)
    delivery = None
    if body.notify and old != body.messaging_limit and number is not None:
        up = TIER_RANK[body.messaging_limit] > TIER_RANK.get(old, 0)
        delivery = _dispatcher(request).phone_quality(number, "UPGRADE" if up else "DOWNGRADE")
    return {
        "messaging_limit": account.messaging_limit_tier,
        "unique_recipients_24h": state.portfolio_recipients_24h(account),
        "webhook_id": delivery.id if delivery else None,
    }


# ------------------------------------------------------------------------------------------ templates
def _template_targets(
    state: SandboxState, template_id: str | None, name: str | None, language: str | None, waba_id: str | None
) -> list[Template]:
    """The templates a control request names: by id (any account), or by name (and language) in one account."""
    if template_id is not None:
        targets = [t for t in state.templates.values() if t.id == template_id]
    elif name is not None:
        account = _account(state, waba_id)
        targets = [
            t
            for t in state.account_templates(account)
            if t.name == name and (language is None or t.language == language)
        ]
    else:
        raise HTTPException(422, "give the template's id, or its name (and optionally language)")
    if not targets:
        raise HTTPException(404, "no such template")
    return targets


@router.post("/templates/status")
async def set_template_status(body: TemplateStatusRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    if body.status not in TEMPLATE_STATUSES:
        raise HTTPException(422, f"status must be one of {TEMPLATE_STATUSES}")
    targets = _template_targets(state, body.id, body.name, body.language, body.waba_id)
    disp = _dispatcher(request)
    changed = []
    for template in targets:
        delivery = disp.set_template_status(template, body.status, body.reason)
        changed.append(
            {"id": template.id, "language": template.language, "webhook_id": delivery.id if delivery else None}
        )
    return {"status": body.status, "templates": changed}


@router.post("/templates/review")
async def set_template_review(body: TemplateReviewRequest, request: Request) -> dict[str, Any]:
    """Decide how Meta's review of newly created templates ends (after ``template_auto_approve_seconds``):
    ``{"status": "REJECTED", "reason": "INVALID_FORMAT", "name": "po_notification"}``; ``status: null`` removes
    the knob. The change of status sends ``message_template_status_update`` as for any other change."""
    state = _state(request)
    if body.status is None:
        state.template_review.pop(body.name, None)
    else:
        status = body.status.upper()
        if status not in REVIEW_STATUSES:
            raise HTTPException(422, f"status must be one of {REVIEW_STATUSES} (or null to remove the knob)")
        reason = (body.reason or "INVALID_FORMAT") if status == "REJECTED" else None
        state.template_review[body.name] = (status, reason)
    return {k: {"status": v[0], "reason": v[1]} for k, v in state.template_review.items()}


@router.post("/templates/category")
async def set_template_category(body: TemplateCategoryRequest, request: Request) -> dict[str, Any]:
    """Meta re-categorises a template (it may, since April 2025): ``template_category_update`` for each changed one."""
    state = _state(request)
    targets = _template_targets(state, body.id, body.name, body.language, body.waba_id)
    disp = _dispatcher(request)
    changed = []
    for template in targets:
        delivery = disp.set_template_category(template, body.category)
        changed.append(
            {"id": template.id, "language": template.language, "webhook_id": delivery.id if delivery else None}
        )
    return {"category": body.category, "templates": changed}


@router.post("/templates")
async def upsert_template(body: TemplateUpsert, request: Request) -> dict[str, Any]:
    state = _state(request)
    if body.category.upper() not in TEMPLATE_CATEGORIES or body.status not in TEMPLATE_STATUSES:
        raise HTTPException(422, "invalid category or status")
    account = _account(state, body.waba_id)
    existing = state.find_template(body.name, body.language, account.id)
    template = Template(
        id=existing.id if existing else state.new_template_id(),
        name=body.name,
        language=body.language,
        status=body.status,
        category=body.category.upper(),
        components=[{**c, "type": str(c.get("type", "")).upper()} for c in body.components],
        parameter_format=body.parameter_format,
        waba_id=account.id,
    )
    state.templates[template.id] = template
    return template.graph_fields()


# ------------------------------------------------------------------------------------------ tokens
@router.post("/token")
async def rotate_token(body: TokenRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    account = _account(state, body.waba_id)
    token = body.token or "sandbox-" + secrets.token_urlsafe(24)
    state.rotate_token(token, account)
    return {"token": token}


def _end_token(request: Request, body: ExpireRequest | None, how: Literal["expire", "revoke"]) -> bool:
    """Expire or revoke the named account's token (default: the first account's current one)."""
    state = _state(request)
    account = _account(state, body.waba_id if body else None)
    given = body.token if body else None
    ended = state.expire_token(given, account) if how == "expire" else state.revoke_token(given, account)
    return ended is not None


@router.post("/token/expire")
async def expire_token(request: Request, body: ExpireRequest | None = None) -> dict[str, Any]:
    """The account's token (or the one given) now answers 190 / subcode 463."""
    return {"expired": _end_token(request, body, "expire")}


@router.post("/token/revoke")
async def revoke_token(request: Request, body: ExpireRequest | None = None) -> dict[str, Any]:
    """Meta invalidates the account's token (or the one given): it now answers 190 / subcode 460."""
    return {"revoked": _end_token(request, body, "revoke")}


# ------------------------------------------------------------------------------------------ users (BSUIDs)
@router.post("/users")
async def set_user(body: UserRequest, request: Request) -> dict[str, Any]:
    """Give a user a username and/or withhold its phone number: its webhooks then follow Meta's 2026 rules."""
    wa_id = digits_only(body.phone)
    if not 8 <= len(wa_id) <= 15:
        raise HTTPException(422, "'phone' must be a phone number in international format")
    user = _state(request).set_user(
        wa_id, username=body.username, hide_phone=body.hide_phone, parent=body.parent_user_id
    )
    return user.as_dict()


@router.get("/users")
async def list_users(request: Request) -> list[dict[str, Any]]:
    return [user.as_dict() for user in _state(request).users.values()]


@router.delete("/users")
async def clear_users(request: Request) -> dict[str, Any]:
    state = _state(request)
    count = len(state.users)
    state.users.clear()
    return {"deleted": count}


# ------------------------------------------------------------------------------------------ inbound
def _pricing_view(state: SandboxState) -> dict[str, Any]:
    return {
        "send_date": state.pricing_send_date.isoformat() if state.pricing_send_date else None,
        "effective_send_date": state.send_date().isoformat(),
        "rates": {m: {c: str(v) for c, v in r.items()} for m, r in state.rates.items()},
    }


@router.get("/pricing")
async def get_pricing(request: Request) -> dict[str, Any]:
    return _pricing_view(_state(request))


@router.put("/pricing")
async def set_pricing(body: PricingUpdate, request: Request) -> dict[str, Any]:
    """Set the send date the pricing rules see (``null`` = today) and, if given, replace the sandbox's rates."""
    state = _state(request)
    state.pricing_send_date = body.send_date
    if body.rates is not None:
        state.rates = {
            ("*" if m == "*" else m.upper()): {c.lower(): v for c, v in r.items()} for m, r in body.rates.items()
        }
    return _pricing_view(state)


@router.post("/inbound")
async def simulate_inbound(body: InboundRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    phone_number_id = body.phone_number_id or next(iter(state.numbers))
    number = state.numbers.get(phone_number_id)
    if number is None:
        raise HTTPException(404, f"unknown phone_number_id {phone_number_id}")
    wa_id = digits_only(body.from_)
    if not wa_id:
        raise HTTPException(422, "'from' must be a phone number")
    user = state.user(wa_id, number.waba_id)
    message: dict[str, Any] = {}
    if not user.hide_phone:  # a user with a username whose number Meta withholds writes without ``from``
        message["from"] = wa_id
    message.update(from_user_id=user.user_id, id=state.new_wamid(wa_id), timestamp=str(int(time.time())))
    if user.parent_user_id is not None:
        message["from_parent_user_id"] = user.parent_user_id
    if body.button is not None:
        message["type"] = "button"
        message["button"] = {"payload": body.button.payload, "text": body.button.text}
    elif body.text is not None:
        message["type"] = "text"
        message["text"] = {"body": body.text}
    else:
        raise HTTPException(422, "give 'text' or 'button'")
    context_id = body.context_wamid or body.context_message_id
    if context_id is not None:
        message["context"] = {"from": number.digits, "id": context_id}
    state.open_window(number.id, wa_id)
    if body.entry_point:
        state.open_entry_point(number.id, wa_id)
    delivery = _dispatcher(request).inbound(number, wa_id, message, body.name)
    return {"message": message, "webhook_id": delivery.id if delivery else None}


#: what a button name means on the purchase-order template (its buttons, in order)
BUTTON_NAMES = {"confirm": 0, "reject": 1}


@router.post("/messages/{wamid}/tap")
async def tap_button(wamid: str, body: TapRequest, request: Request) -> dict[str, Any]:
    """Play the recipient of a sent template message: tap one of its quick-reply buttons. The inbound webhook
    carries the payload the send gave that button (Meta: ``type: "button"`` with ``button.payload``/``button.text``,
    or ``type: "interactive"`` with ``interactive.button_reply``), ``context`` unless ``omit_context``, and no
    ``from`` when the user's phone number is withheld (``/_sandbox/users`` ``hide_phone``). The tap opens the
    24-hour customer-service window, like any message from the user."""
    state = _state(request)
    record = next((r for r in state.messages if r.wamid == wamid), None)
    if record is None:
        raise HTTPException(404, f"no message {wamid} was sent")
    if record.type != "template":
        raise HTTPException(409, "only a template message has quick-reply buttons")
    index = BUTTON_NAMES[body.button] if isinstance(body.button, str) else body.button
    number = state.numbers[record.phone_number_id]
    template = state.find_template(record.template_name or "", record.template_language or "", number.waba_id)
    buttons: list[dict[str, Any]] = []
    for component in template.components if template is not None else []:
        if str(component.get("type", "")).upper() == "BUTTONS":
            buttons = [b for b in component.get("buttons", []) if isinstance(b, dict)]
    if not 0 <= index < len(buttons) or str(buttons[index].get("type", "")).upper() != "QUICK_REPLY":
        raise HTTPException(422, f"the template of {wamid} has no quick-reply button {body.button!r}")
    label = str(buttons[index].get("text", ""))
    payload = label  # Meta returns the button's text when the send gave the button no payload
    template_body = record.request.get("template") if isinstance(record.request.get("template"), dict) else {}
    for component in template_body.get("components", []) if isinstance(template_body, dict) else []:
        if (
            isinstance(component, dict)
            and component.get("type") == "button"
            and str(component.get("index")) == str(index)
        ):
            for parameter in component.get("parameters", []):
                if isinstance(parameter, dict) and parameter.get("type") == "payload":
                    payload = str(parameter.get("payload"))
    user = state.user(record.wa_id, number.waba_id)
    message: dict[str, Any] = {}
    if not user.hide_phone:
        message["from"] = record.wa_id
    message.update(from_user_id=user.user_id, id=state.new_wamid(record.wa_id), timestamp=str(int(time.time())))
    if not body.omit_context:
        message["context"] = {"from": number.digits, "id": record.wamid}
    if body.interactive:
        message["type"] = "interactive"
        message["interactive"] = {"type": "button_reply", "button_reply": {"id": payload, "title": label}}
    else:
        message["type"] = "button"
        message["button"] = {"payload": payload, "text": label}
    state.open_window(number.id, record.wa_id)
    delivery = _dispatcher(request).inbound(number, record.wa_id, message, body.name)
    return {"message": message, "webhook_id": delivery.id if delivery else None}


# ------------------------------------------------------------------------------------------ clock and account policy
@router.get("/clock")
async def get_clock(request: Request) -> dict[str, Any]:
    return _state(request).clock_view()


@router.post("/clock")
async def set_clock(body: ClockRequest, request: Request) -> dict[str, Any]:
    """The day Graph versions' end dates are checked against (``{"today": null}``: the real date again)."""
    state = _state(request)
    state.today_override = body.today
    return state.clock_view()


@router.get("/account")
async def get_account_policy(request: Request) -> dict[str, Any]:
    return _state(request).account_view()


@router.post("/account")
async def set_account_policy(body: AccountPolicyUpdate, request: Request) -> dict[str, Any]:
    """Meta's account-wide send refusals: marketing templates off on ``/messages`` (131063), the
    classification-violation limit (131064)."""
    state = _state(request)
    if body.marketing_via_cloud_api is not None:
        state.marketing_via_cloud_api = body.marketing_via_cloud_api
    if body.classification_limit is not None:
        state.classification_limit = body.classification_limit
    return state.account_view()
