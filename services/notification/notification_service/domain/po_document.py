"""The purchase order as a PDF: one page per 20 lines, in the message's language (issue 17).

Rendered with reportlab's Platypus (a table per page). The output is deterministic (reportlab's ``invariant``
mode: no creation time, fixed document id), so the same stored event always gives the same bytes: the owner's
download renders it again instead of storing it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from notification_service.domain.templates import format_amount

LINES_PER_PAGE = 20
MIME_TYPE = "application/pdf"
#: Meta keeps an uploaded media id 30 days (page "Media"); a retry reuses it for a day less, so that a send never
#: names a media id about to expire
MEDIA_REUSE = timedelta(days=29)


#: Meta's "media upload error": the media named by the send was not usable; the next attempt uploads again
MEDIA_ERROR_CODE = "131053"


def reusable_media_id(
    media_id: str | None,
    uploaded_at: datetime | None,
    uploaded_from: str | None,
    phone_number_id: str,
    now: datetime,
    last_error_code: str | None = None,
) -> str | None:
    """The stored media id a send may name again: uploaded from the same number, within :data:`MEDIA_REUSE`, and
    not refused by Meta on the last attempt (131053)."""
    if media_id is None or uploaded_at is None or uploaded_from != phone_number_id:
        return None
    if last_error_code == MEDIA_ERROR_CODE:
        return None
    return media_id if now - uploaded_at < MEDIA_REUSE else None


#: the labels of each language the purchase-order templates have
LABELS: dict[str, dict[str, str]] = {
    "es": {
        "title": "Pedido de compra",
        "number": "Número",
        "date": "Fecha",
        "supplier": "Proveedor",
        "delivery_date": "Fecha de entrega",
        "delivery_address": "Dirección de entrega",
        "product": "Producto",
        "quantity": "Cantidad",
        "unit": "Unidad",
        "unit_price": "Precio unitario",
        "line_total": "Importe",
        "total": "Total",
        "page": "Página {page} de {pages}",
    },
    "en": {
        "title": "Purchase order",
        "number": "Number",
        "date": "Date",
        "supplier": "Supplier",
        "delivery_date": "Delivery date",
        "delivery_address": "Delivery address",
        "product": "Product",
        "quantity": "Quantity",
        "unit": "Unit",
        "unit_price": "Unit price",
        "line_total": "Amount",
        "total": "Total",
        "page": "Page {page} of {pages}",
    },
}


def sample_pdf(values: Mapping[str, Any], language: str) -> bytes:
    """A purchase order as Meta's template review sees it (the DOCUMENT header's example file): ``values`` are the
    template's sample values, printed with two sample lines that add up to their total."""
    total = Decimal(str(values["total_amount"]))
    first = (total * Decimal("0.6")).quantize(Decimal("0.01"))
    document = {
        "bakery_name": "Panadería de ejemplo" if language == "es" else "Sample bakery",
        "bakery_address": None,
        "order_date": "2026-01-15",
        "delivery_date": None,
        "delivery_address": None,
        "lines": [
            {
                "product": "Harina T65",
                "quantity": "1",
                "unit": "kg",
                "unit_price": str(first),
                "line_total": str(first),
            },
            {
                "product": "Levadura",
                "quantity": "1",
                "unit": "ud",
                "unit_price": str(total - first),
                "line_total": str(total - first),
            },
        ],
    }
    return render_pdf({**values, "document": document}, language)


def filename(po_number: str) -> str:
    """``PO-<number>.pdf``, with characters a file name cannot hold replaced."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in po_number).strip(".") or "order"
    return f"PO-{safe}.pdf"


def _escape(text: str) -> str:
    """Platypus paragraphs read a little markup: the caller's text is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chunks(lines: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [lines[i : i + size] for i in range(0, len(lines), size)] or [[]]


def render_pdf(values: Mapping[str, Any], language: str) -> bytes:
    """The PDF of a purchase order from a message's ``template_values`` (with their ``document`` part, see
    ``PurchaseOrderEvent.document_values``), labels and money in ``language`` ("es" or "en")."""
    document: Mapping[str, Any] = values["document"]
    labels = LABELS.get(language, LABELS["es"])
    currency = str(values["currency"])
    styles = getSampleStyleSheet()
    normal = styles["Normal"]
    right = ParagraphStyle("right", parent=normal, alignment=TA_RIGHT)
    lines: list[Mapping[str, Any]] = list(document["lines"])
    pages = _chunks(lines, LINES_PER_PAGE)

    def money(amount: str) -> str:
        return format_amount(amount, currency, language)

    def day(text: str) -> str:
        return str(format_date(date.fromisoformat(text), format="long", locale=language))

    head: list[Flowable] = []
    if document.get("bakery_name"):
        head.append(Paragraph(_escape(str(document["bakery_name"])), styles["Heading2"]))
    if document.get("bakery_address"):
        head.append(Paragraph(_escape(str(document["bakery_address"])), normal))
    head.append(Paragraph(f"{labels['title']} {_escape(str(values['po_number']))}", styles["Title"]))
    facts = [
        (labels["number"], str(values["po_number"])),
        (labels["date"], day(str(document["order_date"]))),
        (labels["supplier"], str(values["supplier_name"])),
    ]
    if document.get("delivery_date"):
        facts.append((labels["delivery_date"], day(str(document["delivery_date"]))))
    if document.get("delivery_address"):
        facts.append((labels["delivery_address"], str(document["delivery_address"])))
    head.append(
        Table(
            [[Paragraph(f"<b>{_escape(k)}</b>", normal), Paragraph(_escape(v), normal)] for k, v in facts],
            colWidths=[45 * mm, 125 * mm],
            hAlign="LEFT",
        )
    )
    head.append(Spacer(1, 6 * mm))

    header_row = [
        labels["product"],
        labels["quantity"],
        labels["unit"],
        labels["unit_price"],
        labels["line_total"],
    ]
    story: list[Flowable] = []
    for index, page in enumerate(pages):
        if index:
            story.append(PageBreak())
        story.extend(head)
        rows: list[list[Any]] = [header_row]
        for line in page:
            rows.append(
                [
                    Paragraph(_escape(str(line["product"])), normal),
                    Paragraph(str(format_decimal(Decimal(str(line["quantity"])), locale=language)), right),
                    Paragraph(_escape(str(line["unit"])), normal),
                    Paragraph(money(str(line["unit_price"])), right),
                    Paragraph(money(str(line["line_total"])), right),
                ]
            )
        last = index == len(pages) - 1
        if last:
            rows.append(["", "", "", labels["total"], Paragraph(f"<b>{money(str(values['total_amount']))}</b>", right)])
        table = Table(rows, colWidths=[70 * mm, 22 * mm, 18 * mm, 30 * mm, 30 * mm], repeatRows=1)
        style = [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ALIGN", (1, 0), (1, 0), "RIGHT"),
            ("ALIGN", (3, 0), (-1, 0), "RIGHT"),
        ]
        if last:
            style += [("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black), ("ALIGN", (3, -1), (3, -1), "RIGHT")]
        table.setStyle(TableStyle(style))
        story.append(table)
        story.append(Spacer(1, 4 * mm))
        story.append(Paragraph(labels["page"].format(page=index + 1, pages=len(pages)), right))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        invariant=1,
        title=f"{labels['title']} {values['po_number']}",
        author=str(document.get("bakery_name") or ""),
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    doc.build(story)
    return buffer.getvalue()
