"""The purchase order's lines (validation) and its PDF, read back with pypdf (issue 17)."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from pypdf import PdfReader

from notification_service.domain import po_document
from notification_service.domain.events import MAX_PO_LINES, PurchaseOrderEvent
from notification_service.domain.po_messages import Rejection, read_event
from tests.notification.helpers import po_event


def lines(count: int, price: str = "2.50", quantity: str = "4") -> list[dict[str, Any]]:
    total = f"{float(price) * float(quantity):.2f}"
    return [
        {"product": f"Harina T{i:03d}", "quantity": quantity, "unit": "kg", "unit_price": price, "line_total": total}
        for i in range(count)
    ]


def event_with_lines(count: int = 3, **po: Any) -> dict[str, Any]:
    items = lines(count)
    total = f"{sum(float(i['line_total']) for i in items):.2f}"
    return po_event(
        uuid.uuid4(),
        purchase_order={"lines": items, "total_amount": total, "delivery_address": "Calle Mayor 1, Sevilla", **po},
        bakery={"name": "Panadería Lucía", "address": "Calle del Horno 3, Sevilla"},
    )


def text_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_an_event_with_lines_is_valid_and_carries_its_document() -> None:
    event = PurchaseOrderEvent.model_validate(event_with_lines(3))
    values = event.template_values()
    assert values["document"]["bakery_name"] == "Panadería Lucía"
    assert [line["product"] for line in values["document"]["lines"]] == ["Harina T000", "Harina T001", "Harina T002"]
    assert values["document"]["order_date"] == "2026-03-01"


def test_an_event_without_lines_has_no_document() -> None:
    event = PurchaseOrderEvent.model_validate(po_event(uuid.uuid4()))
    assert "document" not in event.template_values()


def test_a_line_whose_total_is_wrong_is_named() -> None:
    body = event_with_lines(3)
    body["purchase_order"]["lines"][1]["line_total"] = "11.00"
    body["purchase_order"]["total_amount"] = "31.00"
    with pytest.raises(ValidationError) as info:
        PurchaseOrderEvent.model_validate(body)
    assert "lines[1] ('Harina T001'): line_total 11.00 is not quantity 4 × unit_price 2.50 = 10.00" in str(info.value)


def test_lines_that_do_not_add_up_to_the_total_are_refused() -> None:
    body = event_with_lines(3)
    body["purchase_order"]["total_amount"] = "31.00"
    with pytest.raises(ValidationError, match="the lines add up to 30.00, not total_amount 31.00"):
        PurchaseOrderEvent.model_validate(body)


def test_a_line_total_rounded_to_the_cent_is_accepted() -> None:
    body = event_with_lines(1)
    body["purchase_order"]["lines"][0].update(quantity="3", unit_price="0.333", line_total="1.00")
    body["purchase_order"]["total_amount"] = "1.00"
    PurchaseOrderEvent.model_validate(body)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("quantity", "0", "must be more than 0"),
        ("quantity", "-1", "must not be negative"),
        ("unit_price", "1e3", "uses an exponent"),
        ("line_total", "1.123456", "more than 4 decimals"),
        ("unit", "x" * 17, "at most 16 characters"),
        ("product", "", "at least 1 character"),
    ],
)
def test_each_line_field_follows_the_rules(field: str, value: str, says: str) -> None:
    body = event_with_lines(1)
    body["purchase_order"]["lines"][0][field] = value
    with pytest.raises(ValidationError, match=says):
        PurchaseOrderEvent.model_validate(body)


def test_too_many_lines_and_empty_lines_are_refused() -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_PO_LINES} items"):
        PurchaseOrderEvent.model_validate(event_with_lines(MAX_PO_LINES + 1))
    with pytest.raises(ValidationError, match="at least 1 item"):
        PurchaseOrderEvent.model_validate(po_event(uuid.uuid4(), purchase_order={"lines": []}))


def test_the_rabbitmq_reader_refuses_a_wrong_line_like_the_route() -> None:
    import json

    body = event_with_lines(2)
    body["purchase_order"]["lines"][0]["line_total"] = "9.99"
    result = read_event(json.dumps(body).encode(), max_bytes=1_000_000)
    assert isinstance(result, Rejection) and result.status == 422
    assert "lines[0]" in result.reason


def test_the_pdf_has_the_lines_totals_and_labels_in_spanish() -> None:
    values = PurchaseOrderEvent.model_validate(event_with_lines(3)).template_values()
    pages = text_of(po_document.render_pdf(values, "es"))
    assert len(pages) == 1
    text = pages[0]
    for expected in ("Panadería Lucía", "Pedido de compra PO-2026-0042", "Harina T002", "Precio unitario"):
        assert expected in text
    assert "2,50 €" in text and "10,00 €" in text and "30,00 €" in text  # es money: "30,00 €"
    assert "1 de marzo de 2026" in text and "Calle Mayor 1, Sevilla" in text


def test_the_pdf_in_english_formats_money_the_english_way() -> None:
    values = PurchaseOrderEvent.model_validate(event_with_lines(2)).template_values()
    text = text_of(po_document.render_pdf(values, "en"))[0]
    assert "Purchase order PO-2026-0042" in text and "Unit price" in text
    assert "€20.00" in text and "March 1, 2026" in text
    assert "Pedido" not in text


def test_one_page_per_twenty_lines_and_the_total_on_the_last() -> None:
    values = PurchaseOrderEvent.model_validate(event_with_lines(45)).template_values()
    pages = text_of(po_document.render_pdf(values, "es"))
    assert len(pages) == 3
    assert "Harina T019" in pages[0] and "Harina T020" not in pages[0]
    assert "Harina T044" in pages[2] and "Página 3 de 3" in pages[2]
    assert "450,00 €" in pages[2] and "450,00 €" not in pages[0]


def test_rendering_is_deterministic_and_escapes_markup() -> None:
    body = event_with_lines(1)
    body["purchase_order"]["lines"][0]["product"] = "Pan <b>& miel"
    values = PurchaseOrderEvent.model_validate(body).template_values()
    first = po_document.render_pdf(values, "es")
    assert first == po_document.render_pdf(values, "es")
    assert "Pan <b>& miel" in text_of(first)[0]


def test_the_file_name() -> None:
    assert po_document.filename("PO-2026-0042") == "PO-PO-2026-0042.pdf"
    assert po_document.filename("A/B 7") == "PO-A_B_7.pdf"


def test_a_stored_media_id_is_reused_only_from_the_same_number_within_29_days() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 3, tzinfo=UTC)
    reuse = po_document.reusable_media_id
    assert reuse("m1", now - timedelta(days=28), "pn1", "pn1", now) == "m1"
    assert reuse("m1", now - timedelta(days=29), "pn1", "pn1", now) is None  # a day before Meta's 30 days end
    assert reuse("m1", now, "pn2", "pn1", now) is None  # uploaded from another number
    assert reuse(None, None, "pn1", "pn1", now) is None
    assert reuse("m1", now, "pn1", "pn1", now, last_error_code="131053") is None  # Meta refused the media
    assert reuse("m1", now, "pn1", "pn1", now, last_error_code="131000") == "m1"


@pytest.mark.parametrize(
    ("language", "total", "title"), [("es", "125,50 €", "Pedido de compra"), ("en", "€125.50", "Purchase order")]
)
def test_the_template_review_sample_is_a_purchase_order_whose_lines_add_up(
    language: str, total: str, title: str
) -> None:
    """The DOCUMENT header's example file (uploaded when the template is submitted): the template's sample values
    with two lines that add up to the sample total, in the template's language."""
    from notification_service.domain import templates as definitions

    sample = definitions.TEMPLATES[definitions.PO_NOTIFICATION_DOCUMENT].sample_values
    text = text_of(po_document.sample_pdf(sample, language))[0]
    assert f"{title} PO-TEST-0001" in text and "Harina T65" in text and total in text
