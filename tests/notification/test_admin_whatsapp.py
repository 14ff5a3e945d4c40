"""The admin and owner WhatsApp reports declare their response models, and answer exactly the declared shape."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel

from notification_service.api.schemas_admin import (
    CostsOut,
    QualityOut,
    RatesLoadedOut,
    RatesOut,
    ReleaseOut,
    SyncOut,
    TemplatesOut,
    TenantUsageDayOut,
    UsageOut,
)
from notification_service.app import create_app

from .conftest import Env
from .helpers import make_settings, po_event, token
from .webhook_helpers import UTILITY, envelope, post_applied, status_item, statuses_body

NUMBER = "200000000000001"
HOLD_ONLY_NUMBER = "200000000000007"  # held by a failed send, never synced: only the hold knows it


def test_every_admin_and_owner_route_declares_its_response_model() -> None:
    """The OpenAPI schema documents the real shape (a ``$ref`` to a model), not a bare ``object``."""
    schema = create_app(make_settings("sqlite+aiosqlite:///unused.db")).openapi()
    bare = []
    for path, item in schema["paths"].items():
        if not path.startswith(("/api/v1/admin/", "/api/v1/tenants/", "/api/v1/messages")):
            continue
        for method, operation in item.items():
            ok = next(r for code, r in operation["responses"].items() if code.startswith("2"))
            body = ok.get("content", {}).get("application/json", {}).get("schema", {})
            pdf = ok.get("content", {}).get("application/pdf", {}).get("schema", {})  # a download (issue 17)
            if "$ref" not in body and pdf.get("format") != "binary":
                bare.append(f"{method.upper()} {path}")
    assert not bare, f"routes answering an undeclared shape: {bare}"


def exact(model: type[BaseModel], body: Any, *, exclude_unset: bool = False) -> None:
    """``body`` is exactly the model: every field declared, nothing more, values unchanged by a round trip."""
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=exclude_unset) == body


async def call(env: Env, method: str, path: str, tenant: uuid.UUID | None = None) -> Any:
    headers = token(env.settings, "owner", tenant) if tenant else token(env.settings, "admin")
    response = await env.client.request(method, path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_admin_reports_answer_their_declared_shape(any_env: Env) -> None:
    """Every report with data in it, on SQLite and PostgreSQL (the repositories' queries on both)."""
    env = any_env
    tenant = env.tenants.add(phone_number_id=NUMBER)
    env.graph.add_number(NUMBER, "+34 612 345 678", quality_rating="RED")
    env.graph.templates = [
        {"id": "1", "name": "po_notification", "language": "es", "status": "APPROVED", "category": "UTILITY"},
        {"id": "2", "name": "po_notification", "language": "en", "status": "PAUSED", "category": "UTILITY"},
    ]
    sync = await call(env, "POST", "/api/v1/admin/whatsapp/sync")
    exact(SyncOut, sync, exclude_unset=True)
    assert sync["held_numbers"] == [NUMBER] and "reason" not in sync
    await post_applied(env, envelope("account_update", {"event": "ACCOUNT_RESTRICTION"}))

    quality = await call(env, "GET", "/api/v1/admin/whatsapp/quality")
    exact(QualityOut, quality)
    assert quality["account"]["held"] is True and quality["account"]["holds"][0]["kind"] == "account_update"
    [number] = quality["numbers"]
    assert number["held"] is True and number["holds"][0]["kind"] == "quality"
    assert number["holds"][0]["since"].endswith("+00:00")  # isoformat, as the reports always wrote it
    exact(TemplatesOut, await call(env, "GET", "/api/v1/admin/whatsapp/templates"))

    released = await call(env, "POST", "/api/v1/admin/whatsapp/holds/account/release")
    exact(ReleaseOut, released)
    assert released == {
        "phone_number_id": "account",
        "released": ["account_update"],
        "requeued": 0,
        "admin_override": False,
        "released_by": released["released_by"],
    }
    message = (await env.post_event(po_event(tenant))).json()["notification_id"]
    dispatcher = env.dispatcher()
    await dispatcher.drain()
    released = await call(env, "POST", f"/api/v1/admin/whatsapp/holds/{NUMBER}/release")
    exact(ReleaseOut, released)
    assert released["requeued"] == 1 and released["admin_override"] is True
    await dispatcher.drain()
    sent = await env.message(message)
    await post_applied(
        env,
        statuses_body(NUMBER, [status_item(sent["wamid"], "delivered", int(time.time()), pricing=UTILITY)]),
    )

    costs = await call(env, "GET", "/api/v1/admin/whatsapp/costs")
    exact(CostsOut, costs)
    assert [row["tenant_id"] for row in costs["tenants"]] == [str(tenant)]
    assert costs["total"]["by_category"] == {"utility": 1} and costs["total_cost_eur"] == "0.017200"
    exact(CostsOut, await call(env, "GET", f"/api/v1/tenants/{tenant}/whatsapp/costs", tenant))
    usage = await call(env, "GET", "/api/v1/admin/whatsapp/usage")
    exact(UsageOut, usage)
    assert usage["portfolio"]["new_recipients_today"] == 1 and usage["portfolio"]["messaging_limit_tier"] == "TIER_2K"
    own = await call(env, "GET", f"/api/v1/tenants/{tenant}/whatsapp/usage", tenant)
    exact(TenantUsageDayOut, own)
    # the portfolio is TIER_2K and this is its only active bakery: its derived share is the whole limit
    assert own["new_recipients_today"] == 1 and own["cap"] == 2000 and own["share_source"] == "derived"


async def test_quality_lists_a_number_only_a_hold_knows(env: Env) -> None:
    """A number never synced but held (e.g. a credential hold after a failed send) is listed with empty state."""
    from bakery_shared.db import transaction, utcnow
    from notification_service.repositories import holds as holds_repo

    async with transaction(env.app.state.runtime.sessions) as session:
        await holds_repo.place_hold(
            session,
            scope="phone_number",
            scope_key=HOLD_ONLY_NUMBER,
            kind="credential",
            reason="credential: access token rejected",
            error_code="190",
            probe_phone_number_id=HOLD_ONLY_NUMBER,
            now=utcnow(),
            next_probe_at=None,
        )
    quality = await call(env, "GET", "/api/v1/admin/whatsapp/quality")
    exact(QualityOut, quality)
    [number] = quality["numbers"]
    assert number["phone_number_id"] == HOLD_ONLY_NUMBER and number["held"] is True
    assert number["quality_rating"] is None and number["updated_at"] is None and number["admin_override"] is False
    assert number["holds"] == [
        {
            "kind": "credential",
            "reason": "credential: access token rejected",
            "since": number["holds"][0]["since"],
            "error_code": "190",
            "waba_id": None,  # placed without its account (issue 18: a hold from before accounts were recorded)
        }
    ]


async def test_skipped_sync_answers_only_its_reason(make_env, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, whatsapp_business_account_id="")
    body = await call(env, "POST", "/api/v1/admin/whatsapp/sync")
    assert body == {"status": "skipped", "reason": "WhatsApp master account not configured"}
    exact(SyncOut, body, exclude_unset=True)


# ---------------------------------------------------------------- the rate card and Meta's figures


GOOD_CSV = (
    "market,category,currency,rate,effective_from,source\n"
    "ES,utility,EUR,0.0190,2026-10-01,Meta EUR card Q4 2026\n"
    "FR,marketing,EUR,0.0700,2026-10-01,Meta EUR card Q4 2026\n"
)


async def test_rates_load_validates_stores_and_prices(any_env: Env) -> None:
    env = any_env
    headers = {**token(env.settings, "admin"), "Content-Type": "text/csv"}
    bad = GOOD_CSV + "XX,utilityy,EUR,abc,2026-13-01,\n"
    r = await env.client.put("/api/v1/admin/whatsapp/rates", content=bad, headers=headers)
    assert r.status_code == 422
    assert "line 4: category 'utilityy'" in r.json()["detail"]
    empty = await env.client.put("/api/v1/admin/whatsapp/rates", content=b"", headers=headers)
    assert empty.status_code == 422 and "text/csv" in empty.json()["detail"]
    wide = await env.client.put("/api/v1/admin/whatsapp/rates", content="Market,Utility\nSpain,0.02\n", headers=headers)
    assert wide.status_code == 422 and "effective date" in wide.json()["detail"]
    before = await call(env, "GET", "/api/v1/admin/whatsapp/rates")
    exact(RatesOut, before)
    assert not any(r["source"] == "Meta EUR card Q4 2026" for r in before["rates"])  # nothing of the bad files

    r = await env.client.put("/api/v1/admin/whatsapp/rates", content=GOOD_CSV, headers=headers)
    assert r.status_code == 200, r.text
    exact(RatesLoadedOut, r.json())
    assert r.json()["loaded"] == 2 and r.json()["rates_in_card"] == len(before["rates"]) + 2
    after = await call(env, "GET", "/api/v1/admin/whatsapp/rates")
    assert {"market": "ES", "category": "utility", "currency": "EUR", "rate": "0.019000",
            "effective_from": "2026-10-01", "source": "Meta EUR card Q4 2026"} in after["rates"]  # fmt: skip
    # Meta's layout with its date, and the webhook prices with the loaded rate (sent today, after 2026-10-01)
    r = await env.client.put(
        "/api/v1/admin/whatsapp/rates?effective_from=2026-11-01",
        content="Market,Currency,Marketing,Utility\nSpain,EUR,0.0600,0.0195\n",
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["loaded"] == 2
    tenant = env.tenants.add(phone_number_id=NUMBER)
    message = (await env.post_event(po_event(tenant))).json()["notification_id"]
    await env.dispatcher().drain()
    sent = await env.message(message)
    await post_applied(
        env, statuses_body(NUMBER, [status_item(sent["wamid"], "delivered", int(time.time()), pricing=UTILITY)])
    )
    assert (await call(env, "GET", "/api/v1/admin/whatsapp/costs"))["total_cost_eur"] == "0.019500"


async def test_rates_routes_are_admin_only(env: Env) -> None:
    tenant = uuid.uuid4()
    for method, path in (("GET", "/api/v1/admin/whatsapp/rates"), ("PUT", "/api/v1/admin/whatsapp/rates")):
        r = await env.client.request(method, path, content=GOOD_CSV, headers=token(env.settings, "owner", tenant))
        assert r.status_code == 403, (method, r.text)
        r = await env.client.request(method, path, content=GOOD_CSV)
        assert r.status_code == 401


async def test_sync_stores_meta_pricing_analytics(any_env: Env) -> None:
    env = any_env
    env.graph.add_number(NUMBER, "+34 612 345 678")
    day = int(time.time()) // 86400 * 86400
    point = {"start": day, "end": day + 86400, "phone_number": "34612345678", "country": "ES"}
    env.graph.pricing_points = [
        {**point, "pricing_category": "UTILITY", "pricing_type": "REGULAR", "volume": 3, "cost": 0.0516},
        {**point, "pricing_category": "UTILITY", "pricing_type": "FREE_CUSTOMER_SERVICE", "volume": 1, "cost": 0},
        {**point, "phone_number": "34999999999", "pricing_category": "MARKETING", "pricing_type": "REGULAR",
         "volume": 1, "cost": 0.05},
        {"start": "garbage"},  # ignored
    ]  # fmt: skip
    sync = await call(env, "POST", "/api/v1/admin/whatsapp/sync")
    assert sync["pricing_points"] == 3 and sync["status"] == "ok"
    costs = await call(env, "GET", "/api/v1/admin/whatsapp/costs")
    exact(CostsOut, costs)
    total = costs["reconciliation"]
    assert total["meta_messages"] == 5 and total["meta_cost_eur"] == "0.101600"
    assert total["estimate_cost_eur"] == "0.000000" and total["difference_eur"] == "-0.101600"
    # no bakery sent from those numbers this month: Meta's figures are shown, unattributed
    assert sorted((u["phone_number"], u["phone_number_id"], u["meta_messages"]) for u in total["unattributed"]) == [
        ("34612345678", NUMBER, 4),
        ("34999999999", None, 1),
    ]
    # a second read of the same days replaces them (Meta's later figure is the complete one)
    env.graph.pricing_points = env.graph.pricing_points[:1]
    await call(env, "POST", "/api/v1/admin/whatsapp/sync")
    assert (await call(env, "GET", "/api/v1/admin/whatsapp/costs"))["reconciliation"]["meta_messages"] == 3
