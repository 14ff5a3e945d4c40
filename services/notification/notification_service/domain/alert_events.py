"""The staff alert event contracts (issue 17): an inventory alert and a production alert, validated like purchase
orders (bounded texts, plain decimals, clear 422s that name the field)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator

from bakery_shared.contracts import StrictModel
from bakery_shared.text import CleanText, refuse_control_characters
from notification_service.domain.events import fingerprint, not_blank

#: a stock quantity: plain decimal, no sign or exponent, at most 4 decimals, below a billion
_QUANTITY = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,4})?$")
QUANTITY_RULE = 'a non-negative decimal such as "12.5": digits, optionally "." and at most 4 decimals'


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"must be {QUANTITY_RULE}")
    text = refuse_control_characters(str(value)).strip()
    if not _QUANTITY.match(text):
        raise ValueError(f"'{text[:20]}' is not {QUANTITY_RULE} (below 1,000,000,000)")
    return format(Decimal(text), "f")


class _AlertEvent(StrictModel):
    event_id: uuid.UUID
    tenant_id: uuid.UUID
    occurred_at: datetime

    @field_validator("occurred_at", mode="after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        """A datetime without a zone is read as UTC."""
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def canonical_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def payload_hash(self) -> str:
        return fingerprint(self.canonical_payload())


class Product(StrictModel):
    id: CleanText = Field(min_length=1, max_length=100)
    name: CleanText = Field(min_length=1, max_length=200)
    unit: CleanText = Field(default="", max_length=16, description='e.g. "kg", "l", "units"')
    current_stock: str = Field(max_length=32, description=QUANTITY_RULE)
    minimum_stock: str = Field(max_length=32, description=QUANTITY_RULE)

    _blank = field_validator("id", "name", mode="after")(not_blank)
    _qty = field_validator("current_stock", "minimum_stock", mode="before")(_quantity)

    @field_validator("minimum_stock", mode="after")
    @classmethod
    def _under(cls, value: str, info: Any) -> str:
        current = info.data.get("current_stock")
        if current is not None and Decimal(current) >= Decimal(value):
            raise ValueError(f"an inventory alert needs current_stock ({current}) below minimum_stock ({value})")
        return value


class InventoryAlertEvent(_AlertEvent):
    """A product is under its minimum stock."""

    product: Product


class Batch(StrictModel):
    id: CleanText = Field(min_length=1, max_length=100)
    number: CleanText = Field(min_length=1, max_length=64)
    product_name: CleanText = Field(min_length=1, max_length=200)

    _blank = field_validator("id", "number", "product_name", mode="after")(not_blank)


class ProductionAlertEvent(_AlertEvent):
    """A production batch is late or failed."""

    batch: Batch
    problem: Literal["late", "failed"]
