"""The message-kind registry (issue 17): every kind is complete and consistent with the templates; adding a kind is
an entry in KINDS plus a test here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from bakery_shared.contracts import NotificationSettings, StaffNumber
from notification_service.domain import kinds, templates
from notification_service.domain.alert_events import InventoryAlertEvent, ProductionAlertEvent
from notification_service.domain.kinds import KINDS, KindSpec, Recipient


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_is_complete(name: str) -> None:
    spec = KINDS[name]
    assert spec.name == name
    assert spec.template in templates.TEMPLATES and not templates.get_template(spec.template).free_form
    assert set(spec.languages()) >= {"es", "en"}
    assert spec.category in {"UTILITY", "MARKETING", "AUTHENTICATION"}
    assert spec.switch in NotificationSettings.model_fields
    assert spec.off_reason.split(":")[0].endswith("_disabled")
    # the sample values render in every language with the template's parameter count
    sample = templates.get_template(spec.template).sample_values
    for language in spec.languages():
        assert all(templates.get_template(spec.template).render(sample, language))
    assert kinds.by_event_path(spec.event_path) is spec


def test_the_purchase_order_is_the_first_entry_and_goes_to_its_supplier() -> None:
    assert next(iter(KINDS)) == kinds.KIND_PURCHASE_ORDER
    assert KINDS[kinds.KIND_PURCHASE_ORDER].template == templates.PO_NOTIFICATION


def _settings(**fields: object) -> NotificationSettings:
    staff = [
        StaffNumber(phone="+34612345671", name="Ana", kinds=["inventory_alert", "production_alert"]),
        StaffNumber(phone="+34612345672", name="Luis", kinds=["inventory_alert"]),
        StaffNumber(phone="+34612345673", name="Eva", kinds=["production_alert"]),
    ]
    return NotificationSettings(staff_numbers=staff, **fields)


def _inventory() -> InventoryAlertEvent:
    return InventoryAlertEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "tenant_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(),
            "product": {"id": "p1", "name": "Harina", "unit": "kg", "current_stock": "12.5", "minimum_stock": 50},
        }
    )


def test_staff_kinds_go_to_the_numbers_that_take_them() -> None:
    settings = _settings()
    inventory = KINDS[kinds.KIND_INVENTORY_ALERT]
    production = KINDS[kinds.KIND_PRODUCTION_ALERT]
    assert inventory.recipients(_inventory(), settings) == [
        Recipient("+34612345671", None),
        Recipient("+34612345672", None),
    ]
    assert [r.phone for r in production.recipients(None, settings)] == ["+34612345671", "+34612345673"]


def test_switches_decide_whether_a_kind_may_be_sent() -> None:
    inventory = KINDS[kinds.KIND_INVENTORY_ALERT]
    assert not inventory.enabled(_settings())  # off until the owner switches it on
    assert inventory.enabled(_settings(enable_inventory_alerts=True))
    assert KINDS[kinds.KIND_PURCHASE_ORDER].enabled(_settings())  # on by default, as before


def test_inventory_values_render_in_both_languages() -> None:
    spec = KINDS[kinds.KIND_INVENTORY_ALERT]
    values = spec.values(_inventory())
    assert templates.render(spec.template, values, None, "es").parameters == ["Harina", "12,5 kg", "50 kg"]
    assert templates.render(spec.template, values, None, "en").parameters == ["Harina", "12.5 kg", "50 kg"]


def test_production_values_say_the_problem_in_the_language() -> None:
    spec = KINDS[kinds.KIND_PRODUCTION_ALERT]
    event = ProductionAlertEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "tenant_id": str(uuid.uuid4()),
            "occurred_at": "2026-12-03T08:00:00",
            "batch": {"id": "b1", "number": "L-7", "product_name": "Baguette"},
            "problem": "failed",
        }
    )
    values = spec.values(event)
    assert templates.render(spec.template, values, None, "es").parameters == ["L-7", "Baguette", "ha fallado"]
    assert templates.render(spec.template, values, None, "en").parameters == ["L-7", "Baguette", "failed"]


def test_adding_a_kind_is_an_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new kind reuses an existing template and the staff recipients: nothing else in the pipeline changes."""
    extra = KindSpec(
        name="delivery_alert",
        label="Delivery alerts",
        template=templates.INVENTORY_ALERT,
        category="UTILITY",
        switch="enable_inventory_alerts",
        off_reason="delivery_alerts_disabled: off",
        event_model=InventoryAlertEvent,
        event_path="delivery-alerts",
        values=lambda event: {"product_name": "x", "current_stock": "1", "minimum_stock": "2", "unit": ""},
        recipients=kinds.staff_for("inventory_alert"),
    )
    monkeypatch.setitem(KINDS, "delivery_alert", extra)
    assert kinds.get_kind("delivery_alert") is extra
    assert kinds.by_event_path("delivery-alerts") is extra
    from bakery_shared.contracts import InternalNotificationSettings
    from notification_service.domain.decisions import Action, decide

    tenant = InternalNotificationSettings(
        tenant_id=uuid.uuid4(), tenant_name="t", whatsapp_enabled=True, whatsapp_phone_number_id="1"
    )
    decision = decide(kind="delivery_alert", globally_enabled=True, tenant=tenant, active_holds={})
    assert decision.action == Action.SKIP and decision.reason == "delivery_alerts_disabled: off"
