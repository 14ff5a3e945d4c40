"""The purchase-order event contract and its validation rules (clear 422s that name the field)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel.numbers import list_currencies
from pydantic import Field, field_validator

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

    @field_validator("id", "number", mode="after")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("total_amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> str:
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
        return {
            "supplier_name": self.supplier.name,
            "po_number": self.purchase_order.number,
            "total_amount": self.purchase_order.total_amount,
            "currency": self.purchase_order.currency,
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
