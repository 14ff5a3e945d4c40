"""Quality holds, admin release, template guardrails, the periodic sync, costs and usage (owner isolation)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from .conftest import Env
from .helpers import po_event, token
from .webhook_helpers import UTILITY, envelope, post_applied, status_item, statuses_body

NUMBER = "200000000000001"
DISPLAY = "+34 612 345 678"


def quality_webhook(event: str, tier: str = "TIER_2K") -> dict[str, Any]:
    return envelope(
        "phone_number_quality_update",
        {"display_phone_number": "34612345678", "event": event, "max_daily_conversations_per_business": tier},
    )


def template_webhook(event: str, language: str = "es", reason: str = "NONE") -> dict[str, Any]:
    return envelope(
        "message_template_status_update",
        {
            "event": event,
            "message_template_id": 300000000000001,
            "message_template_name": "po_notification",
            "message_template_language": language,
            "reason": reason,
            "message_template_category": "UTILITY",
        },
    )


async def admin(env: Env, method: str, path: str, **kwargs: Any) -> Any:
    r = await env.client.request(method, path, headers=token(env.settings, "admin"), **kwargs)
    assert r.status_code == 200, r.text
    return r.json()


async def queue_message(env: Env, tenant: uuid.UUID) -> str:
    r = await env.post_event(po_event(tenant))
    return str(r.json()["notification_id"])


async def test_sync_updates_quality_and_templates(env: Env) -> None:
    env.graph.add_number(NUMBER, DISPLAY)
    env.graph.add_number("200000000000002", "+34 612 345 679", quality_rating="RED", status="CONNECTED")
    env.graph.templates = [
        {"id": "1", "name": "po_notification", "language": "es", "status": "APPROVED", "category": "UTILITY"},
        {"id": "2", "name": "po_notification", "language": "en", "status": "PAUSED", "category": "UTILITY"},
    ]
    result = await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    assert result["numbers"] == 2 and result["templates"] == 2
    assert result["held_numbers"] == ["200000000000002"]
    assert env.graph.management_calls == ["phone_numbers", "message_templates"]  # one call per page
    quality = await admin(env, "GET", "/api/v1/admin/whatsapp/quality")
    by_id = {n["phone_number_id"]: n for n in quality["numbers"]}
    assert by_id[NUMBER]["quality_rating"] == "GREEN"
    assert by_id[NUMBER]["messaging_limit"] == "TIER_2K"
    assert by_id[NUMBER]["display_phone_number"] == "34612345678"
    assert by_id[NUMBER]["held"] is False
    assert by_id["200000000000002"]["held"] is True
    assert "RED" in by_id["200000000000002"]["hold_reason"]
    assert quality["last_sync_at"] is not None
    templates = await admin(env, "GET", "/api/v1/admin/whatsapp/templates")
    [tpl] = templates["templates"]
    assert tpl["name"] == "po_notification" and tpl["category"] == "UTILITY"
    assert {(x["language"], x["status"], x["action"]) for x in tpl["languages"]} == {
        ("es", "APPROVED", "send"),
        ("en", "PAUSED", "hold"),
    }
    # the sync recovers a number when Meta says so
    env.graph.numbers["200000000000002"]["quality_rating"] = "YELLOW"
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    quality = await admin(env, "GET", "/api/v1/admin/whatsapp/quality")
    assert not any(n["held"] for n in quality["numbers"])


async def test_quality_drop_hold_recovery_resume(env: Env) -> None:
    env.graph.add_number(NUMBER, DISPLAY)
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    tenant = env.tenants.add(phone_number_id=NUMBER)
    # Meta lowers the quality; the webhook does not carry the colour, the service reads the number right after
    env.graph.numbers[NUMBER]["quality_rating"] = "RED"
    assert (await post_applied(env, quality_webhook("DOWNGRADE"))).status_code == 200
    message_id = await queue_message(env, tenant)
    dispatcher = env.dispatcher()
    await dispatcher.drain()
    held = await env.message(message_id)
    assert held["status"] == "held"
    assert "quality" in held["status_reason"] and "RED" in held["status_reason"]
    assert env.graph.sends == []
    ready = (await env.ready()).json()
    assert ready["status"] == "degraded"
    assert any(h["kind"] == "quality" for h in ready["checks"]["sending"]["paused"])
    quality = await admin(env, "GET", "/api/v1/admin/whatsapp/quality")
    number = next(n for n in quality["numbers"] if n["phone_number_id"] == NUMBER)
    assert number["held"] and number["last_event"] == "DOWNGRADE" and number["quality_rating"] == "RED"
    # recovery: the messages go out
    env.graph.numbers[NUMBER]["quality_rating"] = "GREEN"
    await post_applied(env, quality_webhook("UPGRADE"))
    await dispatcher.drain()
    sent = await env.message(message_id)
    assert sent["status"] == "sent", sent
    assert len(env.graph.sends) == 1


async def test_flagged_status_holds_without_graph(env: Env) -> None:
    """A status FLAGGED/RESTRICTED in the sync holds the number too."""
    env.graph.add_number(NUMBER, DISPLAY, status="RESTRICTED")
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    tenant = env.tenants.add(phone_number_id=NUMBER)
    message_id = await queue_message(env, tenant)
    await env.dispatcher().drain()
    held = await env.message(message_id)
    assert held["status"] == "held" and "RESTRICTED" in held["status_reason"]


async def test_admin_release(env: Env) -> None:
    env.graph.add_number(NUMBER, DISPLAY, quality_rating="RED")
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    tenant = env.tenants.add(phone_number_id=NUMBER)
    message_id = await queue_message(env, tenant)
    dispatcher = env.dispatcher()
    await dispatcher.drain()
    assert (await env.message(message_id))["status"] == "held"
    owner = await env.client.post(
        f"/api/v1/admin/whatsapp/holds/{NUMBER}/release", headers=token(env.settings, "owner", tenant)
    )
    assert owner.status_code == 403
    released = await admin(env, "POST", f"/api/v1/admin/whatsapp/holds/{NUMBER}/release")
    assert released["released"] == ["quality"] and released["requeued"] == 1 and released["admin_override"] is True
    await dispatcher.drain()
    assert (await env.message(message_id))["status"] == "sent"
    # still RED at the next sync: the admin's decision stands
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    quality = await admin(env, "GET", "/api/v1/admin/whatsapp/quality")
    number = next(n for n in quality["numbers"] if n["phone_number_id"] == NUMBER)
    assert number["held"] is False and number["admin_override"] is True
    # recovers, then drops again: held again
    env.graph.numbers[NUMBER]["quality_rating"] = "GREEN"
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    env.graph.numbers[NUMBER]["quality_rating"] = "RED"
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    quality = await admin(env, "GET", "/api/v1/admin/whatsapp/quality")
    assert next(n for n in quality["numbers"] if n["phone_number_id"] == NUMBER)["held"] is True
    missing = await env.client.post(
        "/api/v1/admin/whatsapp/holds/200000000000009/release", headers=token(env.settings, "admin")
    )
    assert missing.status_code == 404


async def test_account_update_pauses_and_resumes(env: Env) -> None:
    tenant = env.tenants.add(phone_number_id=NUMBER)
    await post_applied(
        env,
        envelope(
            "account_update",
            {
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [{"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION"}],
            },
        ),
    )
    message_id = await queue_message(env, tenant)
    dispatcher = env.dispatcher()
    await dispatcher.drain()
    assert (await env.message(message_id))["status"] == "held"
    assert (await env.ready()).status_code == 503
    await post_applied(env, envelope("account_update", {"event": "ACCOUNT_RECONNECTED"}))
    await dispatcher.drain()
    assert (await env.message(message_id))["status"] == "sent"


async def test_template_paused_hold_approved_resume_disabled_fail(env: Env) -> None:
    tenant = env.tenants.add(phone_number_id=NUMBER)
    dispatcher = env.dispatcher()
    await post_applied(env, template_webhook("PAUSED", language="es"))
    first = await queue_message(env, tenant)
    await dispatcher.drain()
    held = await env.message(first)
    assert held["status"] == "held"
    assert held["status_reason"].startswith("template_not_approved") and "PAUSED" in held["status_reason"]
    assert held["attempts"] == 0 and env.graph.sends == []
    await post_applied(env, template_webhook("APPROVED", language="es"))
    await dispatcher.drain()
    assert (await env.message(first))["status"] == "sent"
    # disabled: fails at once with a clear reason, no attempt burnt
    await post_applied(env, template_webhook("DISABLED", language="es"))
    second = await queue_message(env, tenant)
    await dispatcher.drain()
    failed = await env.message(second)
    assert failed["status"] == "failed"
    assert failed["error_code"] == "template_disabled"
    assert failed["status_reason"].startswith("template_unusable")
    assert failed["attempts"] == 0
    assert len(env.graph.sends) == 1
    # held while PENDING, then REJECTED → the held message fails
    await post_applied(env, template_webhook("PENDING", language="es"))
    third = await queue_message(env, tenant)
    await dispatcher.drain()
    assert (await env.message(third))["status"] == "held"
    await post_applied(env, template_webhook("REJECTED", language="es", reason="INVALID_FORMAT"))
    await dispatcher.drain()
    rejected = await env.message(third)
    assert rejected["status"] == "failed" and "INVALID_FORMAT" in rejected["status_reason"]
    # another language of the same template is unaffected
    other = await env.post_event(po_event(tenant, supplier={"language": "en"}))
    await dispatcher.drain()
    assert (await env.message(other.json()["notification_id"]))["status"] == "sent"


async def test_costs_and_usage_with_owner_isolation(env: Env) -> None:
    a = env.tenants.add(phone_number_id=NUMBER)
    b = env.tenants.add(phone_number_id="200000000000002")
    env.graph.add_number(NUMBER, DISPLAY, whatsapp_business_manager_messaging_limit="TIER_250")
    await admin(env, "POST", "/api/v1/admin/whatsapp/sync")
    ids = {}
    for tenant, phone in ((a, "+34 600 000 001"), (a, "+34 600 000 002"), (b, "+34 600 000 003")):
        r = await env.post_event(po_event(tenant, supplier={"phone": phone}))
        ids.setdefault(tenant, []).append(r.json()["notification_id"])
    await env.dispatcher().drain()
    for tenant, pnid in ((a, NUMBER), (b, "200000000000002")):
        for message_id in ids[tenant]:
            m = await env.message(message_id)
            await post_applied(
                env,
                statuses_body(pnid, [status_item(m["wamid"], "delivered", int(time.time()), pricing=UTILITY)]),
            )
    month = datetime.now(UTC).strftime("%Y-%m")
    report = await admin(env, "GET", f"/api/v1/admin/whatsapp/costs?month={month}")
    assert report["month"] == month and report["currency"] == "EUR"
    rows = {r["tenant_id"]: r for r in report["tenants"]}
    assert rows[str(a)]["messages"] == 2 and rows[str(a)]["billable"] == 2
    assert rows[str(a)]["cost_eur"] == "0.034400"
    assert rows[str(a)]["by_status"] == {"delivered": 2}
    assert rows[str(a)]["by_category"] == {"utility": 2}
    assert rows[str(b)]["cost_eur"] == "0.017200"
    assert report["total"]["messages"] == 3 and report["total"]["cost_eur"] == "0.051600"
    assert report["estimate"]["projected_messages"] >= 3
    assert report["estimate"]["seed_estimate"]["messages"] == 1500
    bad = await env.client.get("/api/v1/admin/whatsapp/costs?month=2026-13", headers=token(env.settings, "admin"))
    assert bad.status_code == 422
    empty = await admin(env, "GET", "/api/v1/admin/whatsapp/costs?month=2001-01")
    assert empty["tenants"] == [] and empty["total"]["cost_eur"] == "0.000000"

    own = await env.client.get(
        f"/api/v1/tenants/{a}/whatsapp/costs?month={month}", headers=token(env.settings, "owner", a)
    )
    assert own.status_code == 200
    assert [r["tenant_id"] for r in own.json()["tenants"]] == [str(a)]
    assert own.json()["total"]["cost_eur"] == "0.034400"
    other = await env.client.get(f"/api/v1/tenants/{b}/whatsapp/costs", headers=token(env.settings, "owner", a))
    assert other.status_code == 403
    assert (
        await env.client.get("/api/v1/admin/whatsapp/costs", headers=token(env.settings, "owner", a))
    ).status_code == 403

    usage = await admin(env, "GET", "/api/v1/admin/whatsapp/usage")
    per = {r["tenant_id"]: r for r in usage["tenants"]}
    assert per[str(a)]["new_recipients_today"] == 2 and per[str(b)]["new_recipients_today"] == 1
    assert usage["portfolio"] == {
        "new_recipients_today": 3,
        "messaging_limit_tier": "TIER_250",
        "messaging_limit": 250,
        "remaining": 247,
        "utilization": 0.012,
        # the portfolio's 250 shared by its two active bakeries
        "active_bakeries": 2,
        "derived_share": 125,
        "configured_shares_total": 0,
    }
    assert per[str(a)]["cap"] == 125 and per[str(a)]["share_source"] == "derived"
    own_usage = await env.client.get(f"/api/v1/tenants/{a}/whatsapp/usage", headers=token(env.settings, "owner", a))
    assert own_usage.status_code == 200
    assert own_usage.json()["new_recipients_today"] == 2 and own_usage.json()["tenant_id"] == str(a)
    assert (
        await env.client.get(f"/api/v1/tenants/{b}/whatsapp/usage", headers=token(env.settings, "owner", a))
    ).status_code == 403


async def test_webhooks_sync_and_holds_on_both_databases(any_env: Env) -> None:
    """The same flow on SQLite and PostgreSQL (row locks, advisory lock, insert-ignore)."""
    env = any_env
    env.graph.add_number(NUMBER, DISPLAY)
    env.graph.templates = [{"id": "1", "name": "po_notification", "language": "es", "status": "PAUSED"}]
    assert (await admin(env, "POST", "/api/v1/admin/whatsapp/sync"))["status"] == "ok"
    tenant = env.tenants.add(phone_number_id=NUMBER)
    message_id = await queue_message(env, tenant)
    dispatcher = env.dispatcher()
    await dispatcher.drain()
    assert (await env.message(message_id))["status"] == "held"
    await post_applied(env, template_webhook("APPROVED"))
    await dispatcher.drain()
    m = await env.message(message_id)
    assert m["status"] == "sent"
    for status in ("read", "sent", "delivered", "read"):
        item = status_item(m["wamid"], status, int(time.time()), pricing=UTILITY if status == "sent" else None)
        assert (await post_applied(env, statuses_body(NUMBER, [item]))).status_code == 200
    assert (await env.message(message_id))["status"] == "read"
    report = await admin(env, "GET", "/api/v1/admin/whatsapp/costs")
    assert report["total"]["cost_eur"] == "0.017200"
