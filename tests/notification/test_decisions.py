"""Every dispatch decision: send (payload, language, amount format, the tenant's number), skips, unknown tenant."""

from __future__ import annotations

from decimal import Decimal

import pytest

from notification_service.domain.templates import TEMPLATES, choose_language, format_amount

from .conftest import Env, EnvFactory
from .helpers import po_event


async def _send_one(env: Env, body: dict) -> dict:
    response = await env.post_event(body)
    assert response.status_code == 202, response.text
    await env.dispatcher().drain()
    return await env.message(response.json()["notification_id"])


async def test_sends_the_template_from_the_tenants_number(any_env: Env) -> None:
    env = any_env
    tenant = env.tenants.add(phone_number_id="200000000000007")
    message = await _send_one(env, po_event(tenant))
    assert message["status"] == "sent"
    assert message["wamid"].startswith("wamid.")
    assert message["phone_number_id"] == "200000000000007"
    assert message["language"] == "es"
    assert message["attempts"] == 1
    assert message["sent_at"] is not None
    [send] = env.graph.sends
    assert send["phone_number_id"] == "200000000000007"  # never the platform's WHATSAPP_PHONE_NUMBER_ID
    payload = send["payload"]
    assert payload["to"] == "+34612345678"
    assert payload["template"]["name"] == "po_notification"
    assert payload["template"]["language"] == {"code": "es"}
    params = [p["text"] for p in payload["template"]["components"][0]["parameters"]]
    assert params == ["Harinas del Sur", "PO-2026-0042", "1.250,00 €"]
    assert payload["biz_opaque_callback_data"] == f"notification:{message['id']}"
    [attempt] = message["attempt_log"]
    assert attempt["outcome"] == "accepted" and attempt["wamid"] == message["wamid"]


async def test_supplier_language_wins_then_tenant_default(env: Env) -> None:
    tenant = env.tenants.add(default_language="es")
    en = await _send_one(env, po_event(tenant, supplier={"language": "en_GB"}))
    assert en["language"] == "en"
    assert en["template_parameters"][2] == "€1,250.00"
    tenant_en = env.tenants.add(default_language="en")
    default = await _send_one(env, po_event(tenant_en, supplier={"language": None}))
    assert default["language"] == "en"
    unknown = await _send_one(env, po_event(tenant_en, supplier={"language": "fr"}))
    assert unknown["language"] == "en"  # no French template: the tenant's default


def test_amount_formatting_and_registry() -> None:
    assert format_amount(Decimal("1250"), "EUR", "es") == "1.250,00 €"
    assert format_amount("1250.00", "EUR", "en") == "€1,250.00"
    assert format_amount("0", "USD", "en") == "$0.00"
    spec = TEMPLATES["po_notification"]
    assert choose_language(spec, "EN-us", "es") == "en"
    assert choose_language(spec, None, None) == "es"


@pytest.mark.parametrize(
    ("tenant_kwargs", "reason_code"),
    [
        ({"whatsapp_enabled": False}, "tenant_whatsapp_disabled"),
        ({"enable_po_notifications": False}, "po_notifications_disabled"),
        ({"phone_number_id": ""}, "no_phone_number"),
    ],
)
async def test_tenant_decisions_skip_with_a_reason(env: Env, tenant_kwargs: dict, reason_code: str) -> None:
    tenant = env.tenants.add(**tenant_kwargs)
    message = await _send_one(env, po_event(tenant))
    assert message["status"] == "skipped"
    assert message["status_reason"].startswith(reason_code + ":")
    assert env.graph.sends == []  # and in particular no fallback to WHATSAPP_PHONE_NUMBER_ID


async def test_globally_disabled_skips(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, enable_whatsapp_notifications=False)
    message = await _send_one(env, po_event(env.tenants.add()))
    assert message["status"] == "skipped"
    assert message["status_reason"].startswith("disabled_globally:")
    assert env.graph.sends == []


async def test_unknown_tenant_fails_with_a_code(env: Env) -> None:
    import uuid

    message = await _send_one(env, po_event(uuid.uuid4()))
    assert message["status"] == "failed"
    assert message["error_code"] == "tenant_not_found"
    assert env.graph.sends == []
