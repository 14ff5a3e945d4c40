"""Template categories against the sandbox (issue 15): Meta re-categorises ``po_notification`` (es) to MARKETING
→ its messages are held with the reason on the admin API until an admin accepts the category (then they go to
``/marketing_messages``) or Meta changes it back; the sync notices a change whose webhook was lost; 131063 and
131064 are classified (held, never failed)."""

from __future__ import annotations

from typing import Any

import pytest

from notification_service.dispatch import outcomes

from .sandbox_stack import E2E, NUMBER, eventually, sandbox_stack

ES = {"name": "po_notification", "language": "es"}


@pytest.fixture
async def stack(sqlite_url: str) -> Any:
    async with sandbox_stack(sqlite_url) as e2e:
        tenant = e2e.tenants.add(phone_number_id=NUMBER)
        sync = await e2e.api.post("/api/v1/admin/whatsapp/sync", headers=e2e.admin)
        assert sync.status_code == 200 and sync.json()["templates"] == 8, sync.text  # po(_document), alerts × es, en
        yield e2e, tenant


async def es_row(e2e: E2E) -> dict[str, Any]:
    data = (await e2e.api.get("/api/v1/admin/whatsapp/templates", headers=e2e.admin)).json()
    template = next(t for t in data["templates"] if t["name"] == "po_notification")
    row: dict[str, Any] = next(x for x in template["languages"] if x["language"] == "es")
    return row


async def status_of(e2e: E2E, message_id: str) -> str:
    return str((await e2e.message(message_id))["status"])


async def delivered(e2e: E2E, message_id: str) -> None:
    async def check() -> bool:
        return await status_of(e2e, message_id) in ("delivered", "read")

    await e2e.dispatcher.drain()
    await eventually(check)


async def sandbox_sends(e2e: E2E) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = (await e2e.sandbox.get("/_sandbox/messages")).json()
    return records


async def test_recategorised_template_held_until_the_admin_accepts(stack: tuple[E2E, Any]) -> None:
    e2e, tenant = stack
    await delivered(e2e, await e2e.send_po(tenant))  # UTILITY: sent as usual
    await e2e.sandbox.post("/_sandbox/account", json={"marketing_via_cloud_api": False})  # Meta's 2026 routing
    changed = await e2e.sandbox.post("/_sandbox/templates/category", json={**ES, "category": "MARKETING"})
    assert changed.json()["templates"][0]["webhook_id"] is not None

    async def held() -> bool:
        return bool((await es_row(e2e))["held"])

    await eventually(held)
    row = await es_row(e2e)
    assert row["category"] == "MARKETING" and row["previous_category"] == "UTILITY" and row["category_changed_at"]
    assert row["action"] == "hold" and row["route"] == "messages" and row["accepted_category"] is None
    assert row["hold_reason"].startswith("template_recategorised: Meta changed template po_notification (es) from")
    ready = (await e2e.api.get("/health/ready", headers=e2e.admin)).json()
    assert ready["status"] == "degraded"  # a hold, not an outage
    assert any(h["kind"] == "template_category" for h in ready["checks"]["sending"]["paused"])

    waiting = await e2e.send_po(tenant)
    message = await e2e.message(waiting)
    assert message["status"] == "held" and message["status_reason"] == row["hold_reason"]
    assert len(await sandbox_sends(e2e)) == 1  # nothing sent while held

    # only an admin may release; the English translation was not re-categorised: nothing to release there
    owner = await e2e.api.post("/api/v1/admin/whatsapp/templates/po_notification/es/release")
    assert owner.status_code == 401
    none = await e2e.api.post("/api/v1/admin/whatsapp/templates/po_notification/en/release", headers=e2e.admin)
    assert none.status_code == 404 and none.json()["code"] == "no_hold"
    bad = await e2e.api.post("/api/v1/admin/whatsapp/templates/PO%20x/es/release", headers=e2e.admin)
    assert bad.status_code == 422

    released = await e2e.api.post("/api/v1/admin/whatsapp/templates/po_notification/es/release", headers=e2e.admin)
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["category"] == "MARKETING" and body["route"] == "marketing_messages" and body["requeued"] == 1
    assert body["released"] == ["template_category"]
    await delivered(e2e, waiting)
    sent = (await sandbox_sends(e2e))[-1]
    assert sent["endpoint"] == "marketing_messages" and sent["category"] == "marketing"
    row = await es_row(e2e)
    assert row["held"] is False and row["accepted_category"] == "MARKETING" and row["route"] == "marketing_messages"

    # Meta changes it back: sent as UTILITY through /messages again, the acceptance is spent
    await e2e.sandbox.post("/_sandbox/templates/category", json={**ES, "category": "UTILITY"})

    async def utility_again() -> bool:
        return (await es_row(e2e))["category"] == "UTILITY"

    await eventually(utility_again)
    after = await e2e.send_po(tenant)
    await delivered(e2e, after)
    assert (await sandbox_sends(e2e))[-1]["endpoint"] == "messages"


async def test_changed_back_by_meta_releases_the_hold(stack: tuple[E2E, Any]) -> None:
    e2e, tenant = stack
    await e2e.sandbox.post("/_sandbox/templates/category", json={**ES, "category": "MARKETING"})

    async def held(expected: bool) -> bool:
        return bool((await es_row(e2e))["held"]) is expected

    await eventually(lambda: held(True))
    waiting = await e2e.send_po(tenant)
    assert await status_of(e2e, waiting) == "held"
    await e2e.sandbox.post("/_sandbox/templates/category", json={**ES, "category": "UTILITY"})
    await eventually(lambda: held(False))
    await delivered(e2e, waiting)
    assert (await sandbox_sends(e2e))[-1]["endpoint"] == "messages"


async def test_sync_notices_a_change_whose_webhook_was_lost(stack: tuple[E2E, Any]) -> None:
    e2e, tenant = stack
    await e2e.sandbox.post("/_sandbox/webhook", json={"url": ""})  # the webhook never arrives
    await e2e.sandbox.post("/_sandbox/templates/category", json={**ES, "category": "MARKETING"})
    assert (await es_row(e2e))["held"] is False  # not known yet
    sync = await e2e.api.post("/api/v1/admin/whatsapp/sync", headers=e2e.admin)
    assert sync.status_code == 200, sync.text
    row = await es_row(e2e)
    assert row["held"] is True and row["previous_category"] == "UTILITY" and row["category"] == "MARKETING"
    waiting = await e2e.send_po(tenant)
    assert await status_of(e2e, waiting) == "held"


async def test_131063_holds_the_template_not_the_message(stack: tuple[E2E, Any]) -> None:
    """Meta treats the template as MARKETING before the product knows (no webhook) and refuses it on /messages:
    the message waits on a template hold (not a number hold, not failed) shown on the admin API."""
    e2e, tenant = stack
    await e2e.sandbox.post("/_sandbox/webhook", json={"url": ""})
    await e2e.sandbox.post("/_sandbox/account", json={"marketing_via_cloud_api": False})
    await e2e.sandbox.post("/_sandbox/templates/category", json={**ES, "category": "MARKETING"})
    refused = await e2e.send_po(tenant)
    message = await e2e.message(refused)
    assert message["status"] == "held" and message["error_code"] == "131063"
    assert message["status_reason"].startswith("template_marketing_refused: (131063)")
    row = await es_row(e2e)
    assert row["held"] is True and row["hold_reason"] == message["status_reason"]
    quality = (await e2e.api.get("/api/v1/admin/whatsapp/quality", headers=e2e.admin)).json()
    assert not any(n["held"] for n in quality["numbers"]) and quality["account"]["held"] is False
    # the admin accepts; the sync has meanwhile learnt the category, so the message goes to /marketing_messages
    assert (await e2e.api.post("/api/v1/admin/whatsapp/sync", headers=e2e.admin)).status_code == 200
    released = await e2e.api.post("/api/v1/admin/whatsapp/templates/po_notification/es/release", headers=e2e.admin)
    assert released.status_code == 200 and released.json()["route"] == "marketing_messages", released.text
    await e2e.dispatcher.drain()
    assert await status_of(e2e, refused) == "sent"  # accepted by Meta (its status webhooks are off in this test)
    assert (await sandbox_sends(e2e))[-1]["endpoint"] == "marketing_messages"


async def test_131064_holds_the_whole_account(stack: tuple[E2E, Any]) -> None:
    e2e, tenant = stack
    await e2e.sandbox.post("/_sandbox/account", json={"classification_limit": True})
    limited = await e2e.send_po(tenant)
    message = await e2e.message(limited)
    assert message["status"] == "held" and message["error_code"] == "131064"
    assert message["status_reason"].startswith("restricted: (131064)")
    quality = (await e2e.api.get("/api/v1/admin/whatsapp/quality", headers=e2e.admin)).json()
    assert quality["account"]["held"] is True
    assert quality["account"]["holds"][0]["error_code"] == "131064"
    ready = await e2e.api.get("/health/ready", headers=e2e.admin)
    assert ready.status_code == 503 and "sending" in ready.json()["not_ready"]


@pytest.mark.parametrize(
    ("code", "error_class", "account_wide"),
    [
        (131063, outcomes.ErrorClass.RESTRICTED, False),
        (131064, outcomes.ErrorClass.RESTRICTED, True),
        (2635, outcomes.ErrorClass.CREDENTIAL, True),
    ],
)
def test_classification(code: int, error_class: outcomes.ErrorClass, account_wide: bool) -> None:
    assert outcomes.classify_code(code) is error_class
    assert (code in outcomes.ACCOUNT_WIDE_CODES) is account_wide
    assert (code in outcomes.CATEGORY_HOLD_CODES) is (code == 131063)
