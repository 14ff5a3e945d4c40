"""Message kinds as data (issue 17): what each kind sends, to whom, and whether it may be sent.

A kind names its template (whose translations live in :mod:`notification_service.domain.templates`), the
template's Meta category, how the template's values are built from the event, who receives it, and the tenant
switch that allows it. Ingestion, the dispatcher's decisions and the pages read this table: adding a kind is an
entry here (plus its template, its event contract and a test), not new pipeline code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bakery_shared.contracts import NotificationSettings
from notification_service.domain import templates
from notification_service.domain.alert_events import InventoryAlertEvent, ProductionAlertEvent
from notification_service.domain.events import PurchaseOrderEvent

KIND_PURCHASE_ORDER = "purchase_order"
KIND_INVENTORY_ALERT = "inventory_alert"
KIND_PRODUCTION_ALERT = "production_alert"


@dataclass(frozen=True, slots=True)
class Recipient:
    phone: str  # E.164
    language: str | None  # None: the bakery's default language


@dataclass(frozen=True)
class KindSpec:
    name: str  # stored in whatsapp_messages.kind
    label: str  # what the pages call it
    template: str  # a key of templates.TEMPLATES
    category: str  # the template's category at Meta (UTILITY, MARKETING, AUTHENTICATION)
    #: the settings key of the tenant's on/off switch for this kind
    switch: str
    #: why a message of this kind is skipped when the switch is off (``status_reason``)
    off_reason: str
    #: the event contract of ``POST /api/v1/events/<event_path>``
    event_model: type[BaseModel]
    event_path: str
    #: the template's values, built from the event
    values: Callable[[Any], dict[str, Any]]
    #: who receives a message for this event, given the tenant's settings (an empty list: nobody)
    recipients: Callable[[Any, NotificationSettings], list[Recipient]]

    def languages(self) -> Mapping[str, str]:
        """Our language → the template translation's code at Meta."""
        return templates.get_template(self.template).languages

    def enabled(self, settings: NotificationSettings) -> bool:
        return bool(getattr(settings, self.switch))


def _po_values(event: PurchaseOrderEvent) -> dict[str, Any]:
    return event.template_values()


def _po_recipients(event: PurchaseOrderEvent, _: NotificationSettings) -> list[Recipient]:
    return [Recipient(event.supplier.phone, event.supplier.language)]


def staff_for(kind: str) -> Callable[[Any, NotificationSettings], list[Recipient]]:
    """The bakery's staff numbers that receive ``kind`` (each number lists its kinds), in the bakery's language."""

    def recipients(_: Any, settings: NotificationSettings) -> list[Recipient]:
        seen: dict[str, Recipient] = {}
        for staff in settings.staff_numbers:
            if kind in staff.kinds:
                seen.setdefault(staff.phone, Recipient(staff.phone, None))
        return list(seen.values())

    return recipients


def _inventory_values(event: InventoryAlertEvent) -> dict[str, Any]:
    return {
        "product_name": event.product.name,
        "current_stock": event.product.current_stock,
        "minimum_stock": event.product.minimum_stock,
        "unit": event.product.unit,
    }


def _production_values(event: ProductionAlertEvent) -> dict[str, Any]:
    return {"batch_number": event.batch.number, "product_name": event.batch.product_name, "problem": event.problem}


KINDS: dict[str, KindSpec] = {
    KIND_PURCHASE_ORDER: KindSpec(
        name=KIND_PURCHASE_ORDER,
        label="Purchase orders",
        template=templates.PO_NOTIFICATION,
        category="UTILITY",
        switch="enable_po_notifications",
        off_reason="po_notifications_disabled: purchase-order notifications are off for this bakery",
        event_model=PurchaseOrderEvent,
        event_path="purchase-orders",
        values=_po_values,
        recipients=_po_recipients,
    ),
    KIND_INVENTORY_ALERT: KindSpec(
        name=KIND_INVENTORY_ALERT,
        label="Inventory alerts",
        template=templates.INVENTORY_ALERT,
        category="UTILITY",
        switch="enable_inventory_alerts",
        off_reason="inventory_alerts_disabled: inventory alerts are off for this bakery",
        event_model=InventoryAlertEvent,
        event_path="inventory-alerts",
        values=_inventory_values,
        recipients=staff_for(KIND_INVENTORY_ALERT),
    ),
    KIND_PRODUCTION_ALERT: KindSpec(
        name=KIND_PRODUCTION_ALERT,
        label="Production alerts",
        template=templates.PRODUCTION_ALERT,
        category="UTILITY",
        switch="enable_production_alerts",
        off_reason="production_alerts_disabled: production alerts are off for this bakery",
        event_model=ProductionAlertEvent,
        event_path="production-alerts",
        values=_production_values,
        recipients=staff_for(KIND_PRODUCTION_ALERT),
    ),
}

#: the kinds a bakery's staff numbers may receive (what the owner ticks per number)
STAFF_KINDS = (KIND_INVENTORY_ALERT, KIND_PRODUCTION_ALERT)


def get_kind(name: str) -> KindSpec | None:
    return KINDS.get(name)


def by_event_path(path: str) -> KindSpec:
    for spec in KINDS.values():
        if spec.event_path == path:
            return spec
    raise KeyError(path)
