"""The purchase-order event contract and its validation rules (clear 422s that name the field)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel.numbers import list_currencies
from pydantic import Field, field_validator, model_validator

from bakery_shared.contracts import StrictModel
from bakery_shared.errors import printable
from bakery_shared.phone import InvalidPhoneNumber, normalize_e164
from bakery_shared.text import CleanText, refuse_control_characters

_NOT_REAL_CURRENCIES = {"XXX", "XTS"}  # ISO 4217 "no currency" and "testing" codes
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
#: Plain decimal notation only: no sign, no exponent (``"1e-20000000"`` would expand to 20 MB), no thousands
#: separators, at most 4 decimals, below a trillion.
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,4})?$")
MAX_AMOUNT_TEXT = 32
AMOUNT_RULE = 'a non-negative decimal such as "1250.00": digits, optionally "." and at most 4 decimals, no exponent'
MAX_TOTAL_AMOUNT = Decimal("999999999999.9999")


def _shown(value: Any, limit: int = 40) -> str:
    """A caller's value quoted in an error message, shortened."""
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return printable(text if len(text) <= limit else text[: limit - 4] + "…'")


@lru_cache(maxsize=1)
def known_currencies() -> frozenset[str]:
    return frozenset(code for code in list_currencies() if code not in _NOT_REAL_CURRENCIES)


def normalize_phone(value: str) -> str:
    """E.164. Numbers without a country code are read as Spanish (+34); "00" is read as "+"."""
    try:
        return normalize_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(str(exc)) from exc


def parse_amount(value: Any) -> str:
    """An amount by the money rules (:data:`AMOUNT_RULE`), as a plain decimal string; ValueError says what to fix."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError('must be a decimal string such as "1250.00"')
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        if value > MAX_TOTAL_AMOUNT:
            raise ValueError(f"is too large (at most {MAX_TOTAL_AMOUNT})")
        return str(value)
    text = refuse_control_characters(str(value)).strip()  # a Decimal "1E+3" is refused like the string
    if len(text) > MAX_AMOUNT_TEXT:
        raise ValueError(f"is too long ({len(text)} characters): write {AMOUNT_RULE}")
    if text.startswith("-") and _AMOUNT.match(text[1:]):
        raise ValueError("must not be negative")
    if not _AMOUNT.match(text):
        if text.lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
            raise ValueError(f"must be a finite decimal number: write {AMOUNT_RULE}")
        if "e" in text.lower() and text.lower().lstrip("+-")[:1].isdigit():
            raise ValueError(f"{_shown(value)} uses an exponent: write {AMOUNT_RULE}")
        plain = re.fullmatch(r"[0-9]+(?:\.([0-9]+))?", text)
        if plain and plain.group(1) and len(plain.group(1)) > 4:
            raise ValueError(f"{_shown(value)} has more than 4 decimals: write {AMOUNT_RULE}")
        if plain:
            raise ValueError(f"{_shown(value)} is too large (at most {MAX_TOTAL_AMOUNT})")
        raise ValueError(f"{_shown(value)} is not a decimal number: write {AMOUNT_RULE}")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError(f"{_shown(value)} is not a decimal number") from exc
    return format(amount, "f")


#: at most this many lines in one purchase order (10 pages of the PDF)
MAX_PO_LINES = 200
MAX_ADDRESS = 300


def not_blank(value: str) -> str:
    """A text field's value without surrounding spaces; a blank one is refused (a field validator)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class PurchaseOrderLine(StrictModel):
    """One line of a purchase order: ``line_total`` must be ``quantity`` × ``unit_price`` (rounded to cents)."""

    product: CleanText = Field(min_length=1, max_length=200)
    quantity: str = Field(description='a positive decimal such as "12" or "2.5" (money rules)', max_length=32)
    unit: CleanText = Field(min_length=1, max_length=16, description='e.g. "kg", "ud", "l"')
    unit_price: str = Field(description='decimal string such as "1.25" (money rules)', max_length=MAX_AMOUNT_TEXT)
    line_total: str = Field(description='decimal string such as "15.00" (money rules)', max_length=MAX_AMOUNT_TEXT)

    _blank = field_validator("product", "unit", mode="after")(not_blank)

    @field_validator("quantity", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> str:
        text = parse_amount(value)
        if Decimal(text) == 0:
            raise ValueError("must be more than 0")
        return text

    @field_validator("unit_price", "line_total", mode="before")
    @classmethod
    def _money(cls, value: Any) -> str:
        return parse_amount(value)


class Bakery(StrictModel):
    """The bakery that orders, as printed on the purchase order's PDF."""

    name: CleanText = Field(min_length=1, max_length=200)
    address: CleanText | None = Field(default=None, max_length=MAX_ADDRESS)

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class PurchaseOrder(StrictModel):
    id: CleanText = Field(min_length=1, max_length=100)
    number: CleanText = Field(min_length=1, max_length=64)
    total_amount: str = Field(
        description='non-negative decimal string with at most 4 decimals and no exponent, e.g. "1250.00" '
        "(below 1,000,000,000,000)",
        max_length=MAX_AMOUNT_TEXT,
    )
    currency: str = Field(description="ISO 4217 code, e.g. EUR")
    delivery_date: date | None = None
    delivery_address: CleanText | None = Field(default=None, max_length=MAX_ADDRESS)
    #: the lines: when present, the supplier gets the purchase order as a PDF (docs/notification.md)
    lines: list[PurchaseOrderLine] | None = Field(default=None, min_length=1, max_length=MAX_PO_LINES)

    @model_validator(mode="after")
    def _totals_add_up(self) -> PurchaseOrder:
        """Each line's total is its quantity × unit price (to the cent); the lines add up to ``total_amount``."""
        if not self.lines:
            return self
        total = Decimal(0)
        for index, line in enumerate(self.lines):
            expected = Decimal(line.quantity) * Decimal(line.unit_price)
            given = Decimal(line.line_total)
            if given != expected and given != _cents(expected):
                raise ValueError(
                    f"lines[{index}] ({_shown(line.product)}): line_total {line.line_total} is not quantity "
                    f"{line.quantity} × unit_price {line.unit_price} = {_cents(expected)}"
                )
            total += given
        if total != Decimal(self.total_amount):
            raise ValueError(f"the lines add up to {total}, not total_amount {self.total_amount}")
        return self

    _blank = field_validator("id", "number", mode="after")(not_blank)

    @field_validator("total_amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> str:
        return parse_amount(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 4217 currency code such as EUR")
        code = refuse_control_characters(value).strip().upper()
        if code not in known_currencies():
            raise ValueError(f"{_shown(value)} is not an ISO 4217 currency code")
        return code


class Supplier(StrictModel):
    name: CleanText = Field(min_length=1, max_length=200)
    phone: str = Field(max_length=40)
    language: str | None = Field(default=None, max_length=16)

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("phone", mode="after")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalize_phone(refuse_control_characters(value))

    @field_validator("language", mode="after")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        refuse_control_characters(value)
        if not value.strip():
            return None
        if not _LANGUAGE.match(value.strip()):
            raise ValueError(f"{_shown(value)} is not a language code such as 'es' or 'en_US'")
        return value.strip()


class PurchaseOrderEvent(StrictModel):
    event_id: uuid.UUID
    tenant_id: uuid.UUID
    occurred_at: datetime
    purchase_order: PurchaseOrder
    supplier: Supplier
    #: the ordering bakery (name, address) as the PDF prints it; optional
    bakery: Bakery | None = None

    @field_validator("occurred_at", mode="after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        """A datetime without a zone is read as UTC."""
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def canonical_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def payload_hash(self) -> str:
        """Fingerprint of the normalised body: the same event sent twice hashes the same."""
        return fingerprint(self.canonical_payload())

    def template_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "supplier_name": self.supplier.name,
            "po_number": self.purchase_order.number,
            "total_amount": self.purchase_order.total_amount,
            "currency": self.purchase_order.currency,
        }
        document = self.document_values()
        if document is not None:
            values["document"] = document
        return values

    def document_values(self) -> dict[str, Any] | None:
        """What the purchase order's PDF prints (domain/po_document.py), or None for an event without lines."""
        po = self.purchase_order
        if not po.lines:
            return None
        return {
            "bakery_name": self.bakery.name if self.bakery else None,
            "bakery_address": self.bakery.address if self.bakery else None,
            "order_date": self.occurred_at.date().isoformat(),
            "delivery_date": po.delivery_date.isoformat() if po.delivery_date else None,
            "delivery_address": po.delivery_address,
            "lines": [line.model_dump(mode="json") for line in po.lines],
        }


def fingerprint(payload: dict[str, Any]) -> str:
    """SHA-256 of a canonical payload (:meth:`PurchaseOrderEvent.canonical_payload`), key order and spacing fixed."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class WhatsAppTestMessageRequest(StrictModel):
    to: str = Field(max_length=40)

    @field_validator("to", mode="after")
    @classmethod
    def _to(cls, value: str) -> str:
        return normalize_phone(refuse_control_characters(value))
