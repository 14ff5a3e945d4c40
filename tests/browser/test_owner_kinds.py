"""The owner's page (issue 17): every message kind with its switch and latest messages, and the staff numbers
editor, in Chromium against the real services; no JavaScript or console errors."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.browser.test_pages import bakery, expect, number, open_as

pytestmark = pytest.mark.browser


def test_owner_edits_staff_numbers_and_switches_kinds(page, needs_notification, shoot):
    stack = needs_notification
    console_errors: list[str] = []

    def on_console(message: Any) -> None:
        url = (message.location or {}).get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):  # the favicon is another change's
            console_errors.append(f"{message.text} ({url})")

    page.on("console", on_console)
    tenant_id, _ = bakery(7)
    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    kinds = page.locator("#kinds-list > li[data-kind]")
    expect(kinds).to_have_count(3)
    expect(page.locator('#kinds-list li[data-kind="inventory_alert"]')).to_contain_text("Alertas de inventario")

    # switch inventory alerts on: saved at once, and still on after a reload
    page.get_by_label("Alertas de inventario (stock bajo mínimos)", exact=True).check()
    expect(page.locator("#kinds-status")).to_have_text("Guardado.")

    # two staff numbers; the second takes production alerts only
    page.get_by_role("button", name="Añadir número").click()
    page.locator("#staff-phone-0").fill("+34 612 345 671")
    page.locator("#staff-name-0").fill("Ana")
    page.get_by_role("button", name="Añadir número").click()
    page.locator("#staff-phone-1").fill("612345672")
    page.locator("#staff-1-inventory_alert").uncheck()
    page.locator("#staff-form").get_by_role("button", name="Guardar").click()
    expect(page.locator("#staff-result")).to_have_text("Guardado.")

    # a bad number is refused with what to fix, and nothing is lost
    page.get_by_role("button", name="Añadir número").click()
    page.locator("#staff-phone-2").fill("12345")
    page.locator("#staff-form").get_by_role("button", name="Guardar").click()
    expect(page.locator("#staff-result")).to_contain_text("12345")
    page.get_by_role("listitem").filter(has=page.locator("#staff-phone-2")).get_by_role("button", name="Quitar").click()

    page.reload()
    expect(page.locator("#staff-phone-0")).to_have_value("+34612345671")
    expect(page.locator("#staff-phone-1")).to_have_value("+34612345672")
    expect(page.locator("#staff-1-inventory_alert")).not_to_be_checked()
    expect(page.locator("#staff-1-production_alert")).to_be_checked()
    expect(page.locator("#kind-inventory_alert")).to_be_checked()
    settings = stack.settings(tenant_id)
    assert settings["enable_inventory_alerts"] is True
    assert [s["phone"] for s in settings["staff_numbers"]] == ["+34612345671", "+34612345672"]
    assert settings["staff_numbers"][1]["kinds"] == ["production_alert"]
    shoot(page, "owner-settings-kinds")
    # the browser logs the refused PUT (the 422 the test provoked); nothing else may be logged as an error
    provoked = [e for e in console_errors if "status of 422" in e and "/settings/notifications" in e]
    assert len(provoked) == 1, console_errors
    assert [e for e in console_errors if e not in provoked] == []


def test_admin_sees_per_kind_and_language_whether_the_template_is_approved(page, needs_notification):
    stack = needs_notification
    stack.sync_now()  # the notification service reads the WABA's templates from the sandbox (its seed has all six)
    open_as(page, stack, "/app/admin/whatsapp/messages", "admin")
    rows = page.locator("#kinds-body tr[data-kind]")
    expect(rows).to_have_count(6)  # three kinds × es, en
    for kind in ("purchase_order", "inventory_alert", "production_alert"):
        for language in ("es", "en"):
            row = page.locator(f'#kinds-body tr[data-kind="{kind}:{language}"]')
            expect(row).to_have_attribute("data-approved", "true")
            expect(row).to_contain_text("Aprobada")


def test_an_inventory_alert_reaches_two_staff_numbers_and_not_a_third_switched_off(page, needs_notification_webhooks):
    """End to end through the real processes: three staff numbers, the third not taking inventory alerts; the alert
    reaches the sandbox for the first two only, and the owner's page lists both under the kind."""
    stack = needs_notification_webhooks
    tenant_id, _ = bakery(8)
    stack.assign(tenant_id, number(8))
    stack.set_whatsapp(tenant_id, True)
    staff = [
        {"phone": "+34600333001", "name": "Ana", "kinds": ["inventory_alert", "production_alert"]},
        {"phone": "+34600333002", "name": "Luis", "kinds": ["inventory_alert"]},
        {"phone": "+34600333003", "name": "Eva", "kinds": ["production_alert"]},
    ]
    r = stack.tenant_api(
        "PUT",
        f"/api/v1/tenants/{tenant_id}/settings/notifications",
        role="owner",
        tenant_id=tenant_id,
        json={"enable_inventory_alerts": True, "staff_numbers": staff},
    )
    assert r.status_code == 200, r.text
    event = {
        "event_id": str(uuid.uuid4()),
        "tenant_id": tenant_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "product": {"id": "p-1", "name": "Harina", "unit": "kg", "current_stock": "12.5", "minimum_stock": "50"},
    }
    assert stack.notification_url
    with httpx.Client(base_url=stack.notification_url, timeout=15) as client:
        r = client.post("/api/v1/events/inventory-alerts", json=event, headers=stack.headers("service"))
    assert r.status_code == 202, r.text
    assert len(r.json()["notification_ids"]) == 2
    assert stack.sandbox_url

    def sent_to() -> list[str]:
        with httpx.Client(base_url=stack.sandbox_url, timeout=15) as client:
            found = client.get("/_sandbox/messages", params={"phone_number_id": number(8)}).json()
        return sorted(m.get("to") or m.get("wa_id") for m in found)

    deadline = time.monotonic() + 30
    while len(sent_to()) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert [to.lstrip("+") for to in sent_to()] == ["34600333001", "34600333002"]

    open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
    listed = page.locator('#kinds-list li[data-kind="inventory_alert"] li[data-message-id]')
    expect(listed).to_have_count(2)
    expect(page.locator('#kinds-list li[data-kind="production_alert"]')).to_contain_text("Aún no hay mensajes")
