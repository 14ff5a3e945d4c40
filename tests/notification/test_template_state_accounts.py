"""Template state per account (issue 18): Meta keeps templates per WABA, so a template paused, pending or
re-categorised at one account holds that account's messages of it only, and the other accounts' keep flowing.
Webhooks of every account, send errors, the sync and ``templates submit --account`` all record at their account."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bakery_shared.db import create_engine, utcnow
from notification_service.migrate import upgrade

from .conftest import Env, EnvFactory
from .helpers import TOKEN, WABA_ID, graph_error, token
from .test_accounts import NUMBER_A, NUMBER_B, TOKEN_B, WABA_B
from .test_accounts import _queue as queue
from .test_accounts import _two_accounts as two_accounts
from .webhook_helpers import envelope, post_applied, rows

B_KEY = f"po_notification:es@{WABA_B}"  # the template hold key of po_notification (es) at account B


@pytest.fixture(autouse=True)
def _only_the_purchase_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """submit creates what the product needs: one template (two languages) keeps these tests about accounts."""
    from notification_service.domain import templates as definitions

    only = {definitions.PO_NOTIFICATION: definitions.TEMPLATES[definitions.PO_NOTIFICATION]}
    monkeypatch.setattr(definitions, "TEMPLATES", only)


async def _two_accounts(env: Env, tmp_path: Path) -> tuple[Any, Any]:
    """The environment's account (A) and account B with its own token file: a bakery on each."""
    token_file = tmp_path / "waba-b"
    token_file.write_text(TOKEN_B + "\n")
    return await two_accounts(env, token_file)


def _template_event(waba: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(envelope(field, value))
    body["entry"][0]["id"] = waba
    return body


def _status_event(waba: str, event: str, language: str = "es") -> dict[str, Any]:
    return _template_event(
        waba,
        "message_template_status_update",
        {
            "event": event,
            "message_template_id": 300000000000001,
            "message_template_name": "po_notification",
            "message_template_language": language,
            "reason": "NONE",
            "message_template_category": "UTILITY",
        },
    )


async def _admin_templates(env: Env) -> dict[str | None, dict[tuple[str, str], dict[str, Any]]]:
    """GET /admin/whatsapp/templates as {WABA id: {(name, language): translation}}; checks ``templates`` is the
    environment's account's."""
    r = await env.client.get("/api/v1/admin/whatsapp/templates", headers=token(env.settings, "admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    out: dict[str | None, dict[tuple[str, str], dict[str, Any]]] = {}
    for account in body["accounts"]:
        out[account["waba_id"]] = {
            (t["name"], lang["language"]): lang | {"waba_id": t["waba_id"]}
            for t in account["templates"]
            for lang in t["languages"]
        }
    assert body["accounts"][0]["environment"] is True and body["accounts"][0]["waba_id"] == WABA_ID
    assert body["templates"] == body["accounts"][0]["templates"]
    return out


async def test_a_template_paused_at_one_account_holds_only_its_messages(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    env = await make_env(database_url)
    bakery_a, bakery_b = await _two_accounts(env, tmp_path)
    assert (await post_applied(env, _status_event(WABA_B, "PAUSED"))).status_code == 200
    held, sent = await queue(env, bakery_b), await queue(env, bakery_a)
    d = env.dispatcher()
    await d.drain()
    message = await env.message(held)
    assert message["status"] == "held" and message["status_reason"].startswith("template_not_approved")
    assert message["attempts"] == 0
    assert (await env.message(sent))["status"] == "sent"  # A's template is not B's: it flows
    assert [s["phone_number_id"] for s in env.graph.sends] == [NUMBER_A]
    [hold] = await rows(env, "sending_holds")
    assert (hold["scope"], hold["scope_key"], hold["kind"], hold["waba_id"]) == ("template", B_KEY, "template", WABA_B)
    state = {(r["account_key"], r["name"], r["language"]): r["status"] for r in await rows(env, "message_templates")}
    assert state == {(WABA_B, "po_notification", "es"): "PAUSED"}
    listed = await _admin_templates(env)
    assert listed[WABA_ID] == {}  # nothing known at the environment's account
    b = listed[WABA_B][("po_notification", "es")]
    assert (b["status"], b["action"], b["held"], b["waba_id"]) == ("PAUSED", "hold", True, WABA_B)

    # APPROVED again at B: B's held message goes out (with B's token)
    await post_applied(env, _status_event(WABA_B, "APPROVED"))
    await d.drain()
    assert (await env.message(held))["status"] == "sent"
    assert env.graph.sends[-1]["phone_number_id"] == NUMBER_B and env.graph.sends[-1]["token"] == TOKEN_B
    assert await rows(env, "sending_holds") == []

    # and the other way round: paused at the environment's account, B's keep flowing
    await post_applied(env, _status_event(WABA_ID, "PAUSED"))
    a_held, b_sent = await queue(env, bakery_a), await queue(env, bakery_b)
    await d.drain()
    assert (await env.message(a_held))["status"] == "held"
    assert (await env.message(b_sent))["status"] == "sent"
    [hold] = await rows(env, "sending_holds")
    assert hold["scope_key"] == "po_notification:es"  # the environment's key, as before accounts were data


async def test_a_send_error_holds_the_template_at_that_account_only(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    env = await make_env(database_url)
    bakery_a, bakery_b = await _two_accounts(env, tmp_path)
    env.graph.script = [graph_error(132015, "Template is paused", 400)]
    first = await queue(env, bakery_b)
    d = env.dispatcher()
    await d.drain()
    message = await env.message(first)
    assert message["status"] == "held" and message["error_code"] == "132015"
    state = {(r["account_key"], r["name"], r["language"]): r["status"] for r in await rows(env, "message_templates")}
    assert state == {(WABA_B, "po_notification", "es"): "PAUSED"}
    sends = len(env.graph.sends)
    a_sent, b_held = await queue(env, bakery_a), await queue(env, bakery_b)
    await d.drain()
    assert (await env.message(a_sent))["status"] == "sent"
    assert (await env.message(b_held))["status"] == "held"  # no call to Meta for it
    assert len(env.graph.sends) == sends + 1


async def test_submit_at_another_account_records_pending_there_only(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    env = await make_env(database_url)
    bakery_a, bakery_b = await _two_accounts(env, tmp_path)
    env.graph.templates_by_waba[WABA_B] = []  # B lacks the product's templates
    admin = token(env.settings, "admin")
    r = await env.client.post(f"/api/v1/admin/whatsapp/templates/submit?account={WABA_B}", headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["waba_id"], r.json()["created"]) == (WABA_B, 2)
    assert {(waba, tok) for waba, tok, _ in env.graph.created_templates} == {(WABA_B, TOKEN_B)}
    state = {(r["account_key"], r["language"]): r["status"] for r in await rows(env, "message_templates")}
    assert state == {(WABA_B, "es"): "PENDING", (WABA_B, "en"): "PENDING"}  # recorded at B, nothing at A

    waiting, flowing = await queue(env, bakery_b), await queue(env, bakery_a)
    d = env.dispatcher()
    await d.drain()
    assert (await env.message(waiting))["status"] == "held"  # B's messages wait for B's review
    assert (await env.message(flowing))["status"] == "sent"
    listed = await _admin_templates(env)
    assert listed[WABA_B][("po_notification", "es")]["status"] == "PENDING"

    # Meta's review at B (B's webhook): B's message goes out
    await post_applied(env, _status_event(WABA_B, "APPROVED"))
    await d.drain()
    assert (await env.message(waiting))["status"] == "sent"


async def test_the_sync_reads_each_accounts_templates_with_its_token(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    env = await make_env(database_url)
    bakery_a, bakery_b = await _two_accounts(env, tmp_path)
    approved = {"id": "1", "name": "po_notification", "language": "es", "status": "APPROVED", "category": "UTILITY"}
    env.graph.templates_by_waba = {WABA_ID: [approved], WABA_B: [approved | {"id": "2", "status": "PAUSED"}]}
    sync = env.app.state.runtime.sync
    result = await sync.run_once()
    assert result["status"] == "ok" and result["templates"] == 2
    template_reads = {(waba, tok) for waba, kind, tok in env.graph.list_calls if kind == "message_templates"}
    assert template_reads == {(WABA_ID, TOKEN), (WABA_B, TOKEN_B)}
    state = {(r["account_key"], r["status"]) for r in await rows(env, "message_templates")}
    assert state == {("master", "APPROVED"), (WABA_B, "PAUSED")}
    held, sent = await queue(env, bakery_b), await queue(env, bakery_a)
    d = env.dispatcher()
    await d.drain()
    assert (await env.message(held))["status"] == "held"
    assert (await env.message(sent))["status"] == "sent"

    env.graph.templates_by_waba[WABA_B] = [approved | {"id": "2"}]  # approved again, the webhook was lost
    await sync.run_once()
    await d.drain()
    assert (await env.message(held))["status"] == "sent"


async def test_a_category_change_at_one_account_is_released_at_that_account(
    make_env: EnvFactory, sqlite_url: str, tmp_path: Path
) -> None:
    env = await make_env(sqlite_url)
    bakery_a, bakery_b = await _two_accounts(env, tmp_path)
    change = {
        "message_template_id": 300000000000001,
        "message_template_name": "po_notification",
        "message_template_language": "es",
        "previous_category": "UTILITY",
        "new_category": "MARKETING",
    }
    await post_applied(env, _template_event(WABA_B, "template_category_update", change))
    held, sent = await queue(env, bakery_b), await queue(env, bakery_a)
    await env.dispatcher().drain()
    message = await env.message(held)
    assert message["status"] == "held" and message["status_reason"].startswith("template_recategorised")
    assert (await env.message(sent))["status"] == "sent"
    admin = token(env.settings, "admin")
    path = "/api/v1/admin/whatsapp/templates/po_notification/es/release"
    assert (await env.client.post(path, headers=admin)).status_code == 404  # no hold at the environment's
    released = await env.client.post(f"{path}?account={WABA_B}", headers=admin)
    assert released.status_code == 200, released.text
    assert (released.json()["waba_id"], released.json()["requeued"]) == (WABA_B, 1)
    assert (await env.message(held))["status"] == "queued"
    [row] = await rows(env, "message_templates")
    assert (row["account_key"], row["accepted_category"]) == (WABA_B, "MARKETING")
    bad = await env.client.post(f"{path}?account=not-a-waba", headers=admin)
    assert bad.status_code == 422


async def test_a_template_quality_update_is_stored_at_its_account(
    make_env: EnvFactory, sqlite_url: str, tmp_path: Path
) -> None:
    env = await make_env(sqlite_url)
    _, bakery_b = await _two_accounts(env, tmp_path)
    value = {
        "previous_quality_score": "GREEN",
        "new_quality_score": "YELLOW",
        "message_template_id": 300000000000001,
        "message_template_name": "po_notification",
        "message_template_language": "es",
    }
    assert (await post_applied(env, _template_event(WABA_B, "message_template_quality_update", value))).status_code
    listed = await _admin_templates(env)
    b = listed[WABA_B][("po_notification", "es")]
    assert (b["quality_score"], b["status"], b["action"]) == ("YELLOW", "UNKNOWN", "send")  # shown, holds nothing
    assert listed[WABA_ID] == {}
    sent = await queue(env, bakery_b)
    await env.dispatcher().drain()
    assert (await env.message(sent))["status"] == "sent"


async def test_existing_template_state_becomes_the_environments(database_url: str) -> None:
    """0013 keeps what was known: every row and template hold from before is the environment's account's."""
    await asyncio.to_thread(upgrade, database_url, "0012")
    engine = create_engine(database_url)
    now = utcnow()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO message_templates (name, language, status, category, updated_at, accepted_category)"
                    " VALUES ('po_notification', 'es', 'PAUSED', 'UTILITY', :now, NULL)"
                ),
                {"now": now},
            )
        await asyncio.to_thread(upgrade, database_url)
        async with engine.connect() as conn:
            migrated = (
                await conn.execute(sa.text("SELECT account_key, name, language, status FROM message_templates"))
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in migrated] == [("master", "po_notification", "es", "PAUSED")]
