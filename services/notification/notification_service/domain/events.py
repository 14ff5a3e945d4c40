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
from bakery_shared.phone import InvalidPhoneNumber, normalize_e164

_NOT_REAL_CURRENCIES = {"XXX", "XTS"}  # ISO 4217 "no currency" and "testing" codes
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")


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
    id: str = Field(min_length=1, max_length=100)
    number: str = Field(min_length=1, max_length=64)
    total_amount: str = Field(description='non-negative decimal string, e.g. "1250.00"')
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
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"'{value}' is not a decimal number") from exc
        if not amount.is_finite():
            raise ValueError("must be a finite decimal number")
        if amount < 0:
            raise ValueError("must not be negative")
        if amount >= Decimal("1e15"):
            raise ValueError("is too large")
        return format(amount, "f")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 4217 currency code such as EUR")
        code = value.strip().upper()
        if code not in known_currencies():
            raise ValueError(f"'{value}' is not an ISO 4217 currency code")
        return code


class Supplier(StrictModel):
    name: str = Field(min_length=1, max_length=200)
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
        return normalize_phone(value)

    @field_validator("language", mode="after")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _LANGUAGE.match(value.strip()):
            raise ValueError(f"'{value}' is not a language code such as 'es' or 'en_US'")
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
        text = json.dumps(self.canonical_payload(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def template_values(self) -> dict[str, Any]:
        return {
            "supplier_name": self.supplier.name,
            "po_number": self.purchase_order.number,
            "total_amount": self.purchase_order.total_amount,
            "currency": self.purchase_order.currency,
        }


class WhatsAppTestMessageRequest(StrictModel):
    to: str = Field(max_length=40)

    @field_validator("to", mode="after")
    @classmethod
    def _to(cls, value: str) -> str:
        return normalize_phone(value)
