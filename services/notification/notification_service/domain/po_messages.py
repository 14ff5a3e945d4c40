"""Purchase-order events arriving as RabbitMQ messages: the body is ``POST /api/v1/events/purchase-orders``'s body,
read by the same rules, and every outcome has the status the HTTP route would answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from bakery_shared.errors import printable, validation_message
from notification_service.domain.events import PurchaseOrderEvent

#: what a rejection reason may take in a message header (the broker's frame has room; a person reads it)
MAX_REASON_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message cannot be accepted, ever: it goes to the dead-letter queue, never back to the queue."""

    code: str  # the HTTP route's error code: validation_error, event_conflict, payload_too_large, ...
    reason: str  # what to fix, as the HTTP route's ``detail`` says it
    status: int  # the HTTP status the same body gets from the route (413, 422, 409, ...)

    def header_reason(self) -> str:
        text = printable(self.reason)
        return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"

    def body(self) -> dict[str, str]:
        """The HTTP route's error body."""
        return {"detail": printable(self.reason), "code": self.code}


def read_event(body: bytes, *, max_bytes: int, model: type[BaseModel] = PurchaseOrderEvent) -> Any:
    """The event in ``body`` (UTF-8 JSON) read as ``model`` (a purchase order, or a staff alert kind's contract), or
    a :class:`Rejection` saying why it is refused. Bigger than ``max_bytes`` (the HTTP route's ``MAX_BODY_BYTES``)
    is refused before it is parsed."""
    if len(body) > max_bytes:
        return Rejection(
            "payload_too_large", f"the message body has {len(body)} bytes; at most {max_bytes} are accepted", 413
        )
    try:
        text = body.decode("utf-8")  # JSON's encoding (RFC 8259); json.loads would also guess UTF-16/32
    except UnicodeDecodeError as exc:
        return Rejection("validation_error", f"the message body is not UTF-8 text ({exc.reason})", 422)
    try:
        data = json.loads(text)
    except ValueError as exc:
        return Rejection("validation_error", f"the message body is not valid JSON ({exc})", 422)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return Rejection("validation_error", validation_message([dict(e) for e in exc.errors(include_url=False)]), 422)
