"""Reading a signed webhook body defensively: parse with a depth limit, never assume a type, fit every value.

Meta's envelope is ``{"object", "entry": [{"id", "changes": [{"field", "value": {...}}]}]}``; a ``messages``
value carries ``metadata.phone_number_id`` and ``statuses[]``. Nothing here touches the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Deepest nesting accepted (Meta's deepest payloads, inbound interactive messages, stay well under 20).
MAX_DEPTH = 64

#: ``field`` values that get their own metric label; anything else is counted as ``other``.
KNOWN_FIELDS = frozenset(
    {
        "messages",
        "phone_number_quality_update",
        "account_update",
        "message_template_status_update",
        "message_template_quality_update",
        "template_category_update",
        "phone_number_name_update",
        "business_capability_update",
        "account_review_update",
        "security",
    }
)

#: Column widths of the values taken from a status item (``whatsapp_messages`` / ``webhook_statuses``).
WAMID_LENGTH = 256
PHONE_NUMBER_ID_LENGTH = 64
PRICING_LENGTH = 48
ERROR_CODE_LENGTH = 32
ERROR_TEXT_LENGTH = 2000
#: A business-scoped user ID: ISO country code, ``.``, up to 128 alphanumerics; a parent BSUID adds ``ENT.``
#: (Meta page "Business-scoped user IDs"). Longer values are cut, like every other value.
USER_ID_LENGTH = 160


@dataclass(frozen=True)
class ParsedBody:
    payload: Any = None
    problem: str | None = None  # why the whole body is unusable (stored and marked invalid)


@dataclass(frozen=True)
class Change:
    path: str  # e.g. "entry[0].changes[1]", for logs and the event's note
    field: str
    value: dict[str, Any]
    #: the entry's ``id``: the WhatsApp Business Account the change is about (issue 18); None when absent
    waba_id: str | None = None


def clean_text(value: Any, max_length: int | None = None) -> str:
    """``value`` as text a database column takes: NUL and lone surrogates replaced, cut to ``max_length``."""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:max_length] if max_length is not None else text


def scalar_text(value: Any, max_length: int) -> str | None:
    """An identifier-like value (string or integer) as fitted text; None for anything else or empty."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = clean_text(value, max_length)
    return text or None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _too_deep(payload: Any, limit: int) -> bool:
    """Iterative, so a deep document cannot exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_body(raw: bytes, max_depth: int = MAX_DEPTH) -> ParsedBody:
    """Never raises: a body that is not JSON, nested too deep or not Meta's envelope comes back with a problem."""
    try:
        payload = json.loads(raw)
    except RecursionError:
        return ParsedBody(problem=f"the body is nested deeper than {max_depth} levels")
    except ValueError as exc:  # includes UnicodeDecodeError and over-long integers
        return ParsedBody(problem=f"the body is not JSON ({clean_text(exc, 200)})")
    # a document nests at most as deep as it has opening brackets (those inside strings only raise the count):
    # a status webhook has a dozen, so the walk below is only needed for bodies that could be too deep
    if raw.count(b"{") + raw.count(b"[") > max_depth and _too_deep(payload, max_depth):
        return ParsedBody(problem=f"the body is nested deeper than {max_depth} levels")
    if not isinstance(payload, dict):
        return ParsedBody(payload, problem="the body is not a JSON object")
    if not isinstance(payload.get("entry"), list):
        return ParsedBody(payload, problem="entry: expected a list of entries")
    return ParsedBody(payload)


def changes(payload: dict[str, Any], problems: list[str]) -> Iterator[Change]:
    """Every well-formed change of the envelope; each malformed part is named in ``problems`` and skipped."""
    for i, entry in enumerate(as_list(payload.get("entry"))):
        if not isinstance(entry, dict):
            problems.append(f"entry[{i}]: expected an object")
            continue
        entry_changes = entry.get("changes")
        if not isinstance(entry_changes, list):
            problems.append(f"entry[{i}].changes: expected a list")
            continue
        waba_id = scalar_text(entry.get("id"), 64)
        for j, change in enumerate(entry_changes):
            path = f"entry[{i}].changes[{j}]"
            if not isinstance(change, dict):
                problems.append(f"{path}: expected an object")
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                problems.append(f"{path}.value: expected an object")
                continue
            yield Change(path=path, field=scalar_text(change.get("field"), 64) or "", value=value, waba_id=waba_id)


def change_fields(parsed: ParsedBody) -> list[str]:
    """The ``field`` of every change :func:`changes` yields, for ``webhook_events.fields`` and the received metric.
    On the request path: the same checks as :func:`changes` without building its changes, their paths and their
    account ids, which nothing here uses."""
    if parsed.problem is not None:
        return []
    fields: list[str] = []
    for entry in as_list(parsed.payload.get("entry")):
        entry_changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(entry_changes, list):
            continue
        for change in entry_changes:
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                fields.append(scalar_text(change.get("field"), 64) or "unknown")
    return fields


def metric_field(field: str) -> str:
    return field if field in KNOWN_FIELDS else "other"


def fit_status_item(item: dict[str, Any]) -> dict[str, Any]:
    """A ``statuses[]`` item with every value of the type the merge expects and fitted to its column."""
    fitted: dict[str, Any] = {
        "id": scalar_text(item.get("id"), WAMID_LENGTH),
        "status": scalar_text(item.get("status"), 32) or "",
        "timestamp": item.get("timestamp") if isinstance(item.get("timestamp"), str | int) else None,
    }
    callback = item.get("biz_opaque_callback_data")
    if isinstance(callback, str):
        fitted["biz_opaque_callback_data"] = callback
    # business-scoped user ID (2026): absent from a ``failed`` status of a send to a phone number
    user_id = scalar_text(item.get("recipient_user_id"), USER_ID_LENGTH)
    if user_id is not None:
        fitted["recipient_user_id"] = user_id
    pricing = item.get("pricing")
    if isinstance(pricing, dict):
        billable = pricing.get("billable")
        fitted["pricing"] = {
            "category": scalar_text(pricing.get("category"), PRICING_LENGTH),
            "type": scalar_text(pricing.get("type"), PRICING_LENGTH),
            "billable": billable if isinstance(billable, bool) else None,
        }
    errors = as_list(item.get("errors"))
    if errors and isinstance(errors[0], dict):
        error = errors[0]
        fitted_error: dict[str, Any] = {"code": scalar_text(error.get("code"), ERROR_CODE_LENGTH)}
        for key in ("title", "message"):
            if error.get(key):
                fitted_error[key] = clean_text(error[key], ERROR_TEXT_LENGTH)
        details = as_dict(error.get("error_data")).get("details")
        if details:
            fitted_error["error_data"] = {"details": clean_text(details, ERROR_TEXT_LENGTH)}
        fitted["errors"] = [fitted_error]
    return fitted


def inbound_sender(message: Any) -> tuple[str | None, str | None]:
    """An inbound ``messages[]`` item's sender: (phone number ``from``, business-scoped user ID ``from_user_id``).
    Either may be missing: a user who set a username can write without Meta sharing the phone number."""
    item = as_dict(message)
    return scalar_text(item.get("from"), 32), scalar_text(item.get("from_user_id"), USER_ID_LENGTH)
