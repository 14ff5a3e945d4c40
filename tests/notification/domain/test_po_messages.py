"""A RabbitMQ message body read by the HTTP route's rules: the event, or a rejection with the route's status."""

from __future__ import annotations

import json
import uuid

import pytest

from notification_service.domain.events import PurchaseOrderEvent
from notification_service.domain.po_messages import MAX_REASON_CHARS, Rejection, read_event

from ..helpers import po_event

TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_a_valid_body_is_the_same_event_as_over_http() -> None:
    body = po_event(TENANT, supplier={"phone": "612 345 678"})
    event = read_event(json.dumps(body).encode(), max_bytes=10_000)
    assert isinstance(event, PurchaseOrderEvent)
    assert event.supplier.phone == "+34612345678"
    assert event.payload_hash() == PurchaseOrderEvent.model_validate(body).payload_hash()


@pytest.mark.parametrize(
    ("raw", "code", "status", "says"),
    [
        (b"", "validation_error", 422, "not valid JSON"),
        (b"{", "validation_error", 422, "not valid JSON"),
        (b"\xff\xfe{}", "validation_error", 422, "not UTF-8"),
        (b"[]", "validation_error", 422, "valid dictionary"),
        (json.dumps({"event_id": "x"}).encode(), "validation_error", 422, "event_id"),
        (json.dumps(po_event(TENANT, extra=1)).encode(), "validation_error", 422, "extra: unknown field, remove it"),
        (
            json.dumps(po_event(TENANT, purchase_order={"total_amount": "1e9"})).encode(),
            "validation_error",
            422,
            "purchase_order.total_amount",
        ),
        (b"x" * 101, "payload_too_large", 413, "101 bytes; at most 100"),
    ],
)
def test_refusals_name_what_to_fix(raw: bytes, code: str, status: int, says: str) -> None:
    rejection = read_event(raw, max_bytes=100 if code == "payload_too_large" else 10_000)
    assert isinstance(rejection, Rejection)
    assert (rejection.code, rejection.status) == (code, status)
    assert says in rejection.reason
    assert rejection.body() == {"detail": rejection.reason, "code": code}


def test_a_long_reason_is_shortened_for_the_header() -> None:
    rejection = Rejection("validation_error", "x" * 5000, 422)
    assert len(rejection.header_reason()) == MAX_REASON_CHARS
    assert rejection.header_reason().endswith("…")
