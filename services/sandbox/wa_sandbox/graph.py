"""The Graph API routes the sandbox fakes: send messages, read phone numbers, list/create/delete templates.

Every route is versioned (``/v25.0/...``): the versions of the product's table (``bakery_shared.graph_versions``)
that have not ended on the sandbox's day (:meth:`SandboxState.today`). Errors use Meta's shape (see
:mod:`wa_sandbox.errors`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bakery_shared.graph_versions import LATEST_GRAPH_API_VERSION, VersionState, version_status

from .errors import GraphError, unsupported_request
from .pricing import (
    ANALYTICS_DIMENSIONS,
    ANALYTICS_GRANULARITY,
    analytics,
    analytics_list,
    parse_analytics_field,
    pricing_for,
)
from .state import (
    Account,
    PhoneNumber,
    SandboxState,
    SentRecord,
    Template,
    digits_only,
    region_of,
    utc_now_iso,
)
from .templates import check_create, check_send
from .webhooks import WebhookDispatcher

router = APIRouter()

VERSION_RE = re.compile(r"^v(\d+)\.(\d+)$")
TO_RE = re.compile(r"^\+?[\d\s\-().]+$")
PHONE_DEFAULT_LIST_FIELDS = ("verified_name", "display_phone_number", "id", "quality_rating")
PHONE_DEFAULT_FIELDS = (
    "verified_name", "code_verification_status", "display_phone_number", "quality_rating", "platform_type",
    "throughput", "id",
)  # fmt: skip
TEMPLATE_DEFAULT_FIELDS = ("name", "parameter_format", "components", "language", "status", "category", "id")
WABA_FIELDS = ("id", "name", "currency", "timezone_id", "message_template_namespace")
MAX_CALLBACK_DATA = 512
MESSAGES_ENDPOINT = "messages"
MARKETING_ENDPOINT = "marketing_messages"
MAX_TEXT_BODY = 4096


# ------------------------------------------------------------------------------------------ helpers
def sandbox(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def dispatcher(request: Request) -> WebhookDispatcher:
    disp: WebhookDispatcher = request.app.state.dispatcher
    return disp


def check_version(request: Request, version: str) -> None:
    """Serve the versions the product supports and that have not ended on the sandbox's day; refuse the others
    as Meta does: an ended version with code 2635, anything else as an unknown path (2500)."""
    status = version_status(version, sandbox(request).today())
    if VERSION_RE.match(version) is None or status.state is VersionState.UNKNOWN:
        raise GraphError(
            code=2500,
            message=f"Unknown path components: {request.url.path}",
            http_status=400,
            messaging_product=False,
        )
    if status.state is VersionState.EXPIRED:
        raise GraphError(
            code=2635,
            message=(
                f"(#2635) You are calling a deprecated version of the Graph API ({version}). "
                f"Please update to the latest version: {LATEST_GRAPH_API_VERSION}."
            ),
            http_status=400,
        )


def access_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or None


def authenticate(request: Request, owner: Account | None = None, method: str = "get", object_id: str = "") -> None:
    """Check the request's token. With ``owner`` (the account of the object the request names) the token must be
    that account's: a valid token of another account gets Meta's answer for an object the token cannot see
    (100 / subcode 33). Without one, any account's valid token passes (the caller then answers 100 / 33 for an
    object it does not know)."""
    state = sandbox(request)
    token = access_token(request)
    problem = state.token_problem(token, owner)
    if problem is None:
        return
    if problem == "foreign":
        raise unsupported_request(method, object_id)
    if problem == "missing":
        raise GraphError(code=190, message="An access token is required to request this resource.", http_status=401)
    expired = state.expired_at(token) if token is not None else None
    if problem == "expired" and expired is not None:
        expired_at = datetime.fromtimestamp(expired, UTC)
        now = datetime.now(UTC)
        raise GraphError(
            code=190,
            subcode=463,
            http_status=401,
            message=(
                f"Error validating access token: Session has expired on "
                f"{expired_at.strftime('%A, %d-%b-%y %H:%M:%S')} UTC. "
                f"The current time is {now.strftime('%A, %d-%b-%y %H:%M:%S')} UTC."
            ),
        )
    if problem == "revoked":
        raise GraphError(
            code=190,
            subcode=460,
            http_status=401,
            message=(
                "Error validating access token: The session has been invalidated because the user changed "
                "their password or Facebook has changed the session for security reasons."
            ),
        )
    raise GraphError(code=190, message="Invalid OAuth access token - Cannot parse access token", http_status=401)


def waba_account(request: Request, version: str, node_id: str, method: str) -> Account:
    """A route on ``/<WABA_ID>/...``: the version, the token (it must be that account's), the account."""
    check_version(request, version)
    account = sandbox(request).accounts.get(node_id)
    authenticate(request, account, method, node_id)
    if account is None:
        raise unsupported_request(method, node_id)
    return account


def number_account(request: Request, version: str, node_id: str, method: str) -> tuple[PhoneNumber, Account]:
    """A route on ``/<PHONE_NUMBER_ID>/...``: the version, the token (it must be the number's account's), the
    number and its account."""
    check_version(request, version)
    state = sandbox(request)
    account = state.account_of_number(node_id)
    authenticate(request, account, method, node_id)
    number = state.numbers.get(node_id)
    if number is None or account is None:
        raise unsupported_request(method, node_id)
    return number, account


def check_messaging_product(product: Any) -> None:
    """Every WhatsApp request names its product: missing or not ``whatsapp`` is Meta's code 100."""
    if product is None:
        raise GraphError(code=100, message="(#100) The parameter messaging_product is required.")
    if product != "whatsapp":
        raise GraphError(
            code=100, message=f'(#100) Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
        )


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GraphError(
            code=100, message="(#100) Invalid parameter", details="The request body is not valid JSON"
        ) from exc
    if not isinstance(body, dict):
        raise GraphError(code=100, message="(#100) Invalid parameter", details="The request body must be an object")
    return body


def requested_fields(
    request: Request, default: tuple[str, ...], available: dict[str, Any], node_type: str
) -> list[str]:
    raw = request.query_params.get("fields")
    if not raw:
        return list(default)
    names: list[str] = []
    depth = 0
    current = ""
    for ch in raw:  # drop sub-selections such as throughput{level}
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            if ch == ",":
                names.append(current.strip())
                current = ""
            else:
                current += ch
    names.append(current.strip())
    names = [n for n in names if n]
    for name in names:
        if name not in available:
            raise GraphError(
                code=100,
                message=f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})",
                messaging_product=False,
            )
    if "id" not in names:
        names.append("id")
    return names


def _encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{item_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise GraphError(code=100, message="(#100) Invalid cursor", details=f"cursor {cursor!r}") from exc
    if not text.startswith("sandbox:"):
        raise GraphError(code=100, message="(#100) Invalid cursor", details=f"cursor {cursor!r}")
    return text.removeprefix("sandbox:")


def paginate(request: Request, items: list[dict[str, Any]], default_limit: int = 25) -> dict[str, Any]:
    """Graph cursor paging: ``limit``, ``after``, ``before``; ``paging.cursors`` plus ``next``/``previous``."""
    raw_limit = request.query_params.get("limit")
    try:
        limit = int(raw_limit) if raw_limit is not None else default_limit
    except ValueError as exc:
        raise GraphError(code=100, message="(#100) Param limit must be an integer", messaging_product=False) from exc
    if limit < 1:
        raise GraphError(code=100, message="(#100) Param limit must be a positive integer", messaging_product=False)
    ids = [str(item["id"]) for item in items]
    start = 0
    after = request.query_params.get("after")
    before = request.query_params.get("before")
    if after:
        cursor_id = _decode_cursor(after)
        start = ids.index(cursor_id) + 1 if cursor_id in ids else len(ids)
    elif before:
        cursor_id = _decode_cursor(before)
        end = ids.index(cursor_id) if cursor_id in ids else 0
        start = max(0, end - limit)
        limit = end - start
    page = items[start : start + limit]
    result: dict[str, Any] = {"data": page}
    if not page:
        return result
    paging: dict[str, Any] = {
        "cursors": {"before": _encode_cursor(str(page[0]["id"])), "after": _encode_cursor(str(page[-1]["id"]))}
    }
    params = {k: v for k, v in request.query_params.items() if k not in ("after", "before", "access_token")}
    if start + len(page) < len(items):
        paging["next"] = str(request.url.replace_query_params(**params, after=paging["cursors"]["after"]))
    if start > 0:
        paging["previous"] = str(request.url.replace_query_params(**params, before=paging["cursors"]["before"]))
    result["paging"] = paging
    return result


def normalize_recipient(to: str, number: PhoneNumber) -> str:
    """``to`` → ``wa_id`` (digits). Without a ``+``, a short national number gets the sender's country code."""
    if not TO_RE.match(to) or not any(ch.isdigit() for ch in to):
        raise GraphError(code=131009, details=f"Recipient phone number {to!r} is not a valid phone number")
    digits = digits_only(to)
    if not to.strip().startswith("+") and len(digits) <= 10:
        digits = number.country_calling_code + digits
    try:
        parsed = phonenumbers.parse("+" + digits, None)
        possible = phonenumbers.is_possible_number(parsed)
    except phonenumbers.NumberParseException:
        possible = False
    if not possible or not 8 <= len(digits) <= 15:
        raise GraphError(code=131009, details=f"Recipient phone number {to!r} is not a valid phone number")
    return digits


def recipient_wa_id(state: SandboxState, user_id: Any, waba_id: str) -> str:
    """The user behind a ``recipient`` (a BSUID or parent BSUID this sandbox handed out in a webhook of that WABA:
    BSUIDs are per WABA)."""
    if not isinstance(user_id, str) or not user_id.strip():
        raise GraphError(code=100, message="(#100) Invalid parameter", details="recipient must be a non-empty string")
    wa_id = state.user_ids.get(user_id.strip())
    if wa_id is None or state.user_id_wabas.get(user_id.strip(), waba_id) != waba_id:
        raise GraphError(
            code=131009, details=f"Recipient {user_id!r} is not a business-scoped user ID of this business"
        )
    return wa_id


def check_number_can_send(number: PhoneNumber) -> None:
    if not number.registered:
        raise GraphError(
            code=133010,
            details=f"Account not registered: register phone number {number.id} (POST /{number.id}/register) first.",
        )
    if number.status == "CONNECTED" or number.status == "FLAGGED":
        return
    if number.status == "DELETED":
        raise GraphError(code=33, details=f"The business phone number {number.id} has been deleted.")
    if number.status in ("BANNED", "RESTRICTED"):
        raise GraphError(
            code=131031, details=f"The business account of number {number.id} is locked ({number.status})."
        )
    if number.status == "RATE_LIMITED":
        raise GraphError(code=130429, details="Cloud API message throughput has been reached.")
    raise GraphError(
        code=133010,
        details=f"Phone number {number.id} is not registered on the Cloud API (status {number.status}).",
    )


# ------------------------------------------------------------------------------------------ messages
@router.post("/{version}/{node_id}/messages")
async def send_message(version: str, node_id: str, request: Request) -> JSONResponse:
    return await _send(version, node_id, request, MESSAGES_ENDPOINT)


@router.post("/{version}/{node_id}/marketing_messages")
async def send_marketing_message(version: str, node_id: str, request: Request) -> JSONResponse:
    """Meta's Marketing Messages API: the same body as ``/messages``, templates only, and no 131063 (it is where
    marketing templates go when Meta has turned them off on ``/messages``)."""
    return await _send(version, node_id, request, MARKETING_ENDPOINT)


def check_account_policy(state: SandboxState, endpoint: str, category: str) -> None:
    """Account-wide refusals of a send: the classification-violation limit (every send, 131064), and marketing
    templates on ``/messages`` once Meta has turned them off for the Cloud API (131063). Codes and wording: Meta's
    "WhatsApp error codes" page (updated 2026-06-18)."""
    if state.classification_limit:
        raise GraphError(
            code=131064,
            details=(
                "Message failed to send because this account has reached its messaging limit due to template "
                "classification violations. This applies to both template messages and direct send messages."
            ),
        )
    if endpoint == MESSAGES_ENDPOINT and category == "marketing" and not state.marketing_via_cloud_api:
        raise GraphError(
            code=131063,
            details="Marketing template messages are disabled for the Cloud API: send them to /marketing_messages.",
        )


async def _send(version: str, node_id: str, request: Request, endpoint: str) -> JSONResponse:
    number, account = number_account(request, version, node_id, "post")
    state = sandbox(request)
    check_number_can_send(number)
    body = await json_body(request)

    check_messaging_product(body.get("messaging_product"))
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type not in ("individual", "group"):
        raise GraphError(code=100, message="(#100) Invalid parameter", details=f"recipient_type {recipient_type!r}")
    to = body.get("to")
    # Meta page "Business-scoped user IDs" (2026): ``recipient`` addresses a (parent) BSUID; ``to`` wins if both
    user_id = None if to is not None else body.get("recipient")
    if user_id is not None:
        wa_id = recipient_wa_id(state, user_id, account.id)
    elif not isinstance(to, str) or not to.strip():
        raise GraphError(code=100, message="(#100) The parameter to is required.")
    else:
        wa_id = normalize_recipient(to, number)
    if wa_id == number.digits:
        raise GraphError(code=131021, details="The recipient is the sending business number.")

    message_type = body.get("type", "text")
    template_name: str | None = None
    template_language: str | None = None
    rendered: str | None = None
    category = "service"
    if message_type == "template":
        checked = check_send(state, body.get("template"), account.id)
        template_name = checked.template.name
        template_language = checked.template.language
        rendered = checked.rendered_body
        category = checked.template.category.lower()
        if user_id is not None and category == "authentication":
            # one-tap, zero-tap and copy-code authentication templates still need a phone number
            raise GraphError(
                code=131062, details="Business-scoped user ID recipients are not supported for this message."
            )
    elif message_type == "text":
        text = body.get("text")
        text_body = text.get("body") if isinstance(text, dict) else None
        if not isinstance(text_body, str) or not text_body:
            raise GraphError(code=100, message="(#100) The parameter text['body'] is required.")
        if len(text_body) > MAX_TEXT_BODY:
            raise GraphError(code=100, message="(#100) Invalid parameter", details="text['body'] is too long")
        rendered = text_body
    else:
        raise GraphError(code=131051, details=f"Message type {message_type!r} is not supported by the sandbox.")
    if endpoint == MARKETING_ENDPOINT and message_type != "template":
        raise GraphError(
            code=100, message="(#100) Invalid parameter", details="marketing_messages sends templates only"
        )
    check_account_policy(state, endpoint, category)

    callback_data = body.get("biz_opaque_callback_data")
    if callback_data is not None and (not isinstance(callback_data, str) or len(callback_data) > MAX_CALLBACK_DATA):
        raise GraphError(
            code=100,
            message="(#100) Invalid parameter",
            details=f"biz_opaque_callback_data must be a string of at most {MAX_CALLBACK_DATA} characters",
        )

    if not state.throughput.try_acquire(number.id):
        raise GraphError(code=130429, http_status=state.throttle_http_status)
    if not state.pairs.try_acquire(number.id, wa_id):
        raise GraphError(code=131056, http_status=state.throttle_http_status)

    record = SentRecord(
        wamid=state.new_wamid(wa_id),
        phone_number_id=number.id,
        to=to,
        wa_id=wa_id,
        type=message_type,
        request=body,
        api_version=version,
        time=utc_now_iso(),
        timestamp=time.time(),
        template_name=template_name,
        template_language=template_language,
        category=category,
        biz_opaque_callback_data=callback_data,
        rendered_body=rendered,
        recipient_user_id=user_id,
        endpoint=endpoint,
        pricing=pricing_for(
            category,
            in_window=state.window_open(number.id, wa_id),
            entry_point=state.entry_point_open(number.id, wa_id),
            sent_on=state.send_date(),
        ),
    )
    state.messages.append(record)
    knobs = state.effective_knobs(number.id, wa_id)
    if message_type == "text" and knobs.fail_code is None and not state.window_open(number.id, wa_id):
        knobs.fail_code = 131047
    await dispatcher(request).start_statuses(record, knobs)
    # a send by user ID answers with ``user_id`` and no ``wa_id`` (Meta's page)
    contact = {"input": to, "wa_id": wa_id} if user_id is None else {"input": user_id, "user_id": user_id}
    sent: dict[str, Any] = {"id": record.wamid}
    if endpoint == MARKETING_ENDPOINT:
        sent["message_status"] = "accepted"
    return JSONResponse({"messaging_product": "whatsapp", "contacts": [contact], "messages": [sent]})


# ------------------------------------------------------------------------------------------ phone numbers
@router.get("/{version}/{node_id}/phone_numbers")
async def list_phone_numbers(version: str, node_id: str, request: Request) -> JSONResponse:
    account = waba_account(request, version, node_id, "get")
    state = sandbox(request)
    numbers = state.account_numbers(account)
    available = numbers[0].graph_fields(listing=True) if numbers else {}
    names = requested_fields(request, PHONE_DEFAULT_LIST_FIELDS, available, "WhatsAppBusinessPhoneNumber")
    items = []
    for number in numbers:
        values = number.graph_fields(listing=True)
        items.append({name: values[name] for name in names})
    return JSONResponse(paginate(request, items))


# ------------------------------------------------------------------------------------------ templates
EMPTY_TEMPLATE = Template(id="0", name="", language="", status="", category="", components=[])


@router.get("/{version}/{node_id}/message_templates")
async def list_templates(version: str, node_id: str, request: Request) -> JSONResponse:
    account = waba_account(request, version, node_id, "get")
    state = sandbox(request)
    templates = [t for t in state.account_templates(account) if t.status != "DELETED"]
    query = request.query_params
    if name := query.get("name"):
        templates = [t for t in templates if name.lower() in t.name.lower()]
    if status := query.get("status"):
        wanted = {s.strip().upper() for s in status.split(",")}
        templates = [t for t in templates if t.status in wanted]
    if language := query.get("language"):
        templates = [t for t in templates if t.language == language]
    if category := query.get("category"):
        templates = [t for t in templates if t.category == category.upper()]
    # the fields a template has (to check ``fields=``), also for a WABA without any template
    sample = (templates or state.account_templates(account) or [EMPTY_TEMPLATE])[0].graph_fields()
    names = requested_fields(request, TEMPLATE_DEFAULT_FIELDS, sample, "WhatsAppBusinessHSM")
    items = [{n: t.graph_fields()[n] for n in names} for t in templates]
    return JSONResponse(paginate(request, items))


@router.post("/{version}/{node_id}/message_templates")
async def create_template(version: str, node_id: str, request: Request) -> JSONResponse:
    account = waba_account(request, version, node_id, "post")
    state = sandbox(request)
    template = check_create(state, await json_body(request), account.id)
    state.templates[template.id] = template
    delay = state.template_auto_approve_seconds
    if delay >= 0:
        disp = dispatcher(request)

        async def approve_later() -> None:
            await asyncio.sleep(delay)
            if template.status == "PENDING":
                status, reason = state.review_outcome(template.name)
                disp.set_template_status(template, status, reason)

        disp.spawn(approve_later())
    return JSONResponse({"id": template.id, "status": template.status, "category": template.category})


@router.delete("/{version}/{node_id}/message_templates")
async def delete_templates(version: str, node_id: str, request: Request) -> JSONResponse:
    account = waba_account(request, version, node_id, "delete")
    state = sandbox(request)
    name = request.query_params.get("name")
    hsm_id = request.query_params.get("hsm_id")
    if not name:
        raise GraphError(code=100, message="(#100) The parameter name is required.")
    matches = [
        t
        for t in state.account_templates(account)
        if t.name == name and t.status != "DELETED" and (not hsm_id or t.id == hsm_id)
    ]
    if not matches:
        raise GraphError(code=100, message="(#100) Invalid parameter", details=f"Message template {name!r} not found")
    for template in matches:
        dispatcher(request).set_template_status(template, "DELETED")
    return JSONResponse({"success": True})


# ------------------------------------------------------------------------------------------ nodes
@router.get("/{version}/{node_id}")
async def read_node(version: str, node_id: str, request: Request) -> JSONResponse:
    check_version(request, version)
    state = sandbox(request)
    from .media import known_media, media_node  # the media routes import this module

    template = state.templates.get(node_id)
    if template is not None and template.status == "DELETED":
        template = None
    media = known_media(state, node_id)
    owner: Account | None = state.accounts.get(node_id) or state.account_of_number(node_id)
    if owner is None and template is not None:
        owner = state.accounts.get(template.waba_id)
    if owner is None and media is not None:
        owner = state.account_of_number(media.phone_number_id)
    authenticate(request, owner, "get", node_id)
    if node_id in state.numbers:
        values = state.numbers[node_id].graph_fields(listing=False)
        names = requested_fields(request, PHONE_DEFAULT_FIELDS, values, "WhatsAppBusinessPhoneNumber")
        return JSONResponse({n: values[n] for n in names})
    if template is not None:
        tvalues = template.graph_fields()
        names = requested_fields(request, TEMPLATE_DEFAULT_FIELDS, tvalues, "WhatsAppBusinessHSM")
        return JSONResponse({n: tvalues[n] for n in names})
    found = media_node(request, node_id)
    if found is not None:
        return found
    account = state.accounts.get(node_id)
    if account is not None:
        analytics_params = parse_analytics_field(request.query_params.get("fields") or "")
        if analytics_params is not None:
            return JSONResponse(pricing_analytics(state, account, analytics_params))
        wvalues = {k: account.waba.get(k) for k in WABA_FIELDS}
        names = requested_fields(request, WABA_FIELDS, wvalues, "WhatsAppBusinessAccount")
        return JSONResponse({n: wvalues[n] for n in names})
    raise unsupported_request("get", node_id)


def pricing_analytics(state: SandboxState, account: Account, params: dict[str, str]) -> dict[str, Any]:
    """``GET /<WABA_ID>?fields=pricing_analytics.start(..).end(..).granularity(..)[.dimensions([..])]
    [.phone_numbers([..])]`` from what the sandbox delivered, in Meta's shape
    (``pricing_analytics.data[].data_points``)."""
    try:
        start, end = int(params["start"]), int(params["end"])
    except (KeyError, ValueError) as exc:
        raise GraphError(
            code=100, message="(#100) pricing_analytics needs start and end (UNIX timestamps)", messaging_product=False
        ) from exc
    granularity = params.get("granularity", "").upper()
    if granularity not in ANALYTICS_GRANULARITY:
        raise GraphError(
            code=100,
            message=f"(#100) granularity must be one of {', '.join(ANALYTICS_GRANULARITY)}",
            messaging_product=False,
        )
    if end <= start:
        raise GraphError(code=100, message="(#100) end must be after start", messaging_product=False)
    dimensions = [d.upper() for d in analytics_list(params.get("dimensions"))]
    unknown = [d for d in dimensions if d not in ANALYTICS_DIMENSIONS]
    if unknown:
        raise GraphError(code=100, message=f"(#100) unknown dimension(s) {', '.join(unknown)}", messaging_product=False)
    own = {n.id for n in state.account_numbers(account)}
    points = analytics(
        [r for r in state.messages if r.phone_number_id in own],
        start=start,
        end=end,
        granularity=granularity,
        dimensions=dimensions,
        phone_numbers=analytics_list(params.get("phone_numbers")),
        display_of={n.id: n.digits for n in state.numbers.values()},
        country_of=region_of,
        rates=state.rates,
    )
    return {"pricing_analytics": {"data": [{"data_points": points}]}, "id": account.id}


@router.api_route("/{version}/{rest:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
async def unknown_path(version: str, rest: str, request: Request) -> JSONResponse:
    check_version(request, version)
    raise GraphError(code=2500, message=f"Unknown path components: /{rest}", http_status=400, messaging_product=False)
