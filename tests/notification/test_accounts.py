"""Several WhatsApp Business Accounts (issue 18): each number's account sends with its own token, a token problem
holds that account only, messages record their account, webhooks are routed by their entry's WABA id."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from notification_service import metrics

from .conftest import Env, EnvFactory
from .helpers import TOKEN, WABA_ID, po_event, token
from .webhook_helpers import envelope, post_applied, rows, status_item, statuses_body

WABA_B = "100000000000002"
WABA_STRANGER = "100000000000666"
TOKEN_B = "account-b-token"
NUMBER_A = "200000000000001"
NUMBER_B = "200000000000021"


async def _two_accounts(env: Env, token_file: Path) -> tuple[Any, Any]:
    """The environment's account (A) and account B whose token is in ``token_file``: a bakery on each."""
    env.tenants.add_account(WABA_ID, "settings", source="environment")
    account_b = env.tenants.add_account(WABA_B, f"file:{token_file}")
    env.graph.valid_tokens.add(TOKEN_B)
    bakery_a = env.tenants.add(phone_number_id=NUMBER_A, name="Panadería A")
    bakery_b = env.tenants.add(phone_number_id=NUMBER_B, name="Panadería B", account=account_b)
    return bakery_a, bakery_b


async def _queue(env: Env, tenant: Any) -> str:
    response = await env.post_event(po_event(tenant))
    assert response.status_code == 202, response.text
    return str(response.json()["notification_id"])


async def test_each_number_sends_with_its_accounts_token_and_records_the_account(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    env = await make_env(database_url)
    token_file = tmp_path / "waba-b"
    token_file.write_text(TOKEN_B + "\n")
    bakery_a, bakery_b = await _two_accounts(env, token_file)
    first, second = await _queue(env, bakery_a), await _queue(env, bakery_b)
    await env.dispatcher().drain()
    tokens = {send["phone_number_id"]: send["token"] for send in env.graph.sends}
    assert tokens == {NUMBER_A: TOKEN, NUMBER_B: TOKEN_B}
    a, b = await env.message(first), await env.message(second)
    assert (a["status"], b["status"]) == ("sent", "sent")
    assert (a["waba_id"], b["waba_id"]) == (WABA_ID, WABA_B)  # admins see the account
    owner = await env.client.get(f"/api/v1/messages/{second}", headers=token(env.settings, "owner", tenant_id=bakery_b))
    assert owner.status_code == 200 and owner.json()["waba_id"] is None  # the platform's business: admins only


async def test_a_revoked_token_holds_only_its_account_until_the_file_is_rotated(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    env = await make_env(database_url)
    token_file = tmp_path / "waba-b"
    token_file.write_text("revoked-token\n")
    bakery_a, bakery_b = await _two_accounts(env, token_file)
    held = await _queue(env, bakery_b)
    flowing = await _queue(env, bakery_a)
    d = env.dispatcher()
    await d.drain()
    message = await env.message(held)
    assert message["status"] == "held" and message["error_code"] == "190"
    assert (await env.message(flowing))["status"] == "sent"
    [hold] = await rows(env, "sending_holds")
    assert (hold["scope"], hold["scope_key"], hold["kind"]) == ("account", WABA_B, "credential")

    # A keeps flowing while B is held; B's new messages wait without a call to Meta
    sends = len(env.graph.sends)
    more_a, more_b = await _queue(env, bakery_a), await _queue(env, bakery_b)
    await d.drain()
    assert (await env.message(more_a))["status"] == "sent"
    assert (await env.message(more_b))["status"] == "held"
    assert len(env.graph.sends) == sends + 1

    # another account's hold stops only its bakeries: the service is degraded, not unready
    ready = await env.ready()
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    # the admin's view names the account of the hold
    quality = (await env.client.get("/api/v1/admin/whatsapp/quality", headers=token(env.settings, "admin"))).json()
    assert [h["waba_id"] for h in quality["account"]["holds"]] == [WABA_B]

    # the probe reads with B's token: still revoked, still held
    assert await d.probe_holds(force=True) == 0
    assert env.graph.probe_tokens[-1] == "revoked-token"
    # rotate B's token file: noticed without a restart, B's messages go out with the new token
    token_file.write_text(TOKEN_B + "\n")
    await d._maintenance()
    await d.drain()
    await d.drain()
    assert (await env.message(held))["status"] == "sent"
    assert (await env.message(more_b))["status"] == "sent"
    assert {s["token"] for s in env.graph.sends if s["phone_number_id"] == NUMBER_B} >= {TOKEN_B}
    assert await rows(env, "sending_holds") == []


async def test_the_admin_releases_one_accounts_holds(make_env: EnvFactory, sqlite_url: str, tmp_path: Path) -> None:
    env = await make_env(sqlite_url)
    token_file = tmp_path / "waba-b"
    token_file.write_text("revoked-token\n")
    _, bakery_b = await _two_accounts(env, token_file)
    held = await _queue(env, bakery_b)
    d = env.dispatcher()
    await d.drain()
    assert (await env.message(held))["status"] == "held"
    admin = token(env.settings, "admin")
    nothing = await env.client.post("/api/v1/admin/whatsapp/holds/account/release", headers=admin)
    assert nothing.status_code == 404  # the environment's account is not held
    released = await env.client.post(f"/api/v1/admin/whatsapp/holds/account:{WABA_B}/release", headers=admin)
    assert released.status_code == 200, released.text
    assert released.json()["released"] == ["credential"] and released.json()["requeued"] == 1
    assert (await env.message(held))["status"] == "queued"


async def test_a_single_account_installation_changes_nothing(make_env: EnvFactory, database_url: str) -> None:
    """No accounts from the tenant service (404: a tenant service from before) and settings naming no account:
    the environment's account and token, holds keyed ``master`` as before."""
    env = await make_env(database_url)
    assert env.tenants.accounts is None
    tenant = env.tenants.add()
    sent = await _queue(env, tenant)
    d = env.dispatcher()
    await d.drain()
    message = await env.message(sent)
    assert message["status"] == "sent" and message["waba_id"] == WABA_ID
    assert env.graph.sends[0]["token"] == TOKEN
    env.graph.valid_tokens.clear()  # the token is revoked: the whole (only) account is held, as before
    held = await _queue(env, tenant)
    await d.drain()
    assert (await env.message(held))["status"] == "held"
    [hold] = await rows(env, "sending_holds")
    assert (hold["scope"], hold["scope_key"]) == ("account", "master")
    released = await env.client.post(
        "/api/v1/admin/whatsapp/holds/account/release", headers=token(env.settings, "admin")
    )
    assert released.status_code == 200 and released.json()["requeued"] == 1
    # the 404 is remembered like a list (for a minute): not asked again for every batch
    assert env.tenants.accounts_requests == 1


async def test_tenant_service_down_falls_back_to_the_environments_account(
    make_env: EnvFactory, sqlite_url: str
) -> None:
    env = await make_env(sqlite_url)
    accounts = env.app.state.runtime.accounts
    env.tenants.down = True
    listed = await accounts.all()
    assert [(a.waba_id, a.token_ref, a.source) for a in listed] == [(WABA_ID, "settings", "environment")]
    assert await accounts.is_known(WABA_ID) and not await accounts.is_known(WABA_STRANGER)


# ---------------------------------------------------------------- webhooks


async def _sent(env: Env, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    token_file = tmp_path / "waba-b"
    token_file.write_text(TOKEN_B + "\n")
    bakery_a, bakery_b = await _two_accounts(env, token_file)
    first, second = await _queue(env, bakery_a), await _queue(env, bakery_b)
    await env.dispatcher().drain()
    return await env.message(first), await env.message(second)


def _entry(waba: str, number: str, wamid: str, status: str, ts: int) -> dict[str, Any]:
    body = statuses_body(number, [status_item(wamid, status, ts)])
    entry: dict[str, Any] = body["entry"][0]
    entry["id"] = waba
    return entry


async def test_webhooks_are_routed_by_their_accounts_waba(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    env = await make_env(database_url)
    a, b = await _sent(env, tmp_path)
    unknown_before = metrics.WEBHOOKS_UNKNOWN_ACCOUNT.labels(field="messages")._value.get()
    # one POST: A's status, B's status, and a stranger's entry naming B's message: the stranger's is refused
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            _entry(WABA_ID, NUMBER_A, a["wamid"], "delivered", 1_780_000_000),
            _entry(WABA_B, NUMBER_B, b["wamid"], "delivered", 1_780_000_000),
            _entry(WABA_STRANGER, NUMBER_B, b["wamid"], "read", 1_780_000_100),
        ],
    }
    response = await post_applied(env, body)
    assert response.status_code == 200
    assert (await env.message(a["id"]))["status"] == "delivered"
    assert (await env.message(b["id"]))["status"] == "delivered"  # not read: the stranger's status was refused
    assert metrics.WEBHOOKS_UNKNOWN_ACCOUNT.labels(field="messages")._value.get() == unknown_before + 1
    [event] = [e for e in await rows(env, "webhook_events") if e["id"] == response.json()["event_id"]]
    assert f"unknown WhatsApp account {WABA_STRANGER}" in event["last_error"]
    assert "34612345678" not in event["last_error"]
    ready = (await env.ready()).json()
    assert ready["checks"]["webhooks"]["unknown_account_changes"] == 1


async def test_a_status_from_another_known_account_is_refused(
    make_env: EnvFactory, sqlite_url: str, tmp_path: Path
) -> None:
    env = await make_env(sqlite_url)
    a, _ = await _sent(env, tmp_path)
    body = {
        "object": "whatsapp_business_account",
        "entry": [_entry(WABA_B, NUMBER_A, a["wamid"], "delivered", 1_780_000_000)],  # A's message, B's entry
    }
    assert (await post_applied(env, body)).status_code == 200
    assert (await env.message(a["id"]))["status"] == "sent"
    [status] = [s for s in await rows(env, "webhook_statuses") if s["wamid"] == a["wamid"]]
    assert status["outcome"] == "rejected_account_mismatch"


async def test_an_account_added_later_is_known_after_a_miss(make_env: EnvFactory, sqlite_url: str) -> None:
    """A new account's first webhook arrives before the cached list expires: a miss reads the list again."""
    env = await make_env(sqlite_url)
    accounts = env.app.state.runtime.accounts
    env.tenants.add_account(WABA_ID, "settings", source="environment")
    assert not await accounts.is_known(WABA_B)
    env.tenants.add_account(WABA_B, "env:WABA_B_TOKEN")
    accounts._tried_at = float("-inf")  # the few seconds between two reads on a miss have passed
    assert await accounts.is_known(WABA_B)
    requests = env.tenants.accounts_requests
    assert not await accounts.is_known(WABA_STRANGER)  # a miss right after: no new request
    assert env.tenants.accounts_requests == requests


async def test_an_account_update_holds_only_the_entrys_account(
    make_env: EnvFactory, sqlite_url: str, tmp_path: Path
) -> None:
    env = await make_env(sqlite_url)
    await _sent(env, tmp_path)
    body = copy.deepcopy(envelope("account_update", {"event": "ACCOUNT_RESTRICTION"}))
    body["entry"][0]["id"] = WABA_B
    assert (await post_applied(env, body)).status_code == 200
    [hold] = await rows(env, "sending_holds")
    assert (hold["scope"], hold["scope_key"], hold["kind"]) == ("account", WABA_B, "account_update")


# ---------------------------------------------------------------- sync


async def test_the_sync_reads_every_account_with_its_token_and_survives_one_failing(
    make_env: EnvFactory, database_url: str, monkeypatch
) -> None:
    env = await make_env(database_url)
    monkeypatch.setenv("WABA_B_TOKEN", "revoked-token")
    monkeypatch.setenv("WABA_C_TOKEN", "account-c-token")
    env.graph.valid_tokens.add("account-c-token")
    env.tenants.add_account(WABA_ID, "settings", source="environment")
    env.tenants.add_account(WABA_B, "env:WABA_B_TOKEN")
    env.tenants.add_account("100000000000003", "env:WABA_C_TOKEN", kind="tenant_owned")
    env.tenants.add_account("100000000000004", "env:WABA_D_TOKEN", status="retired")
    env.graph.add_number(NUMBER_A, "+34 612 345 678")
    env.graph.add_number(NUMBER_B, "+34 612 345 679")
    env.graph.add_number("200000000000031", "+34 612 345 680")
    env.graph.numbers_by_waba = {WABA_ID: [NUMBER_A], WABA_B: [NUMBER_B], "100000000000003": ["200000000000031"]}
    result = await env.app.state.runtime.sync.run_once()
    assert result["accounts"] == [WABA_ID, WABA_B, "100000000000003"]  # the retired account is not read
    assert result["status"] == "partial" and result["numbers"] == 2
    # its numbers, its templates and its pricing
    assert [e.split(":")[0] for e in result["errors"]] == [WABA_B, WABA_B, WABA_B]
    calls = {(waba, kind): tok for waba, kind, tok in env.graph.list_calls}
    assert calls == {
        (WABA_ID, "phone_numbers"): TOKEN,
        (WABA_ID, "message_templates"): TOKEN,
        (WABA_B, "phone_numbers"): "revoked-token",
        (WABA_B, "message_templates"): "revoked-token",  # every account's templates, with its own token
        ("100000000000003", "phone_numbers"): "account-c-token",
        ("100000000000003", "message_templates"): "account-c-token",
    }
    numbers = {n["phone_number_id"]: n["waba_id"] for n in await rows(env, "phone_numbers")}
    assert numbers == {NUMBER_A: WABA_ID, "200000000000031": "100000000000003"}


# ---------------------------------------------------------------- portfolios: budgets and costs


async def test_each_portfolio_has_its_own_budget_and_costs_group_by_account(
    make_env: EnvFactory, database_url: str, tmp_path: Path
) -> None:
    """Account B's portfolio allows 1 new recipient a day: its bakery's second supplier waits for tomorrow, while
    the environment's bakery (its portfolio's limit unknown, no fallback cap) is not held back by B's budget."""
    env = await make_env(database_url)
    token_file = tmp_path / "waba-b"
    token_file.write_text(TOKEN_B + "\n")
    env.tenants.add_account(WABA_ID, "settings", source="environment")
    account_b = env.tenants.add_account(WABA_B, f"file:{token_file}", kind="tenant_owned", portfolio_id="P-B")
    account_b["daily_limit"] = 1
    env.graph.valid_tokens.add(TOKEN_B)
    bakery_a = env.tenants.add(phone_number_id=NUMBER_A, name="Panadería A")
    bakery_b = env.tenants.add(phone_number_id=NUMBER_B, name="Panadería B", account=account_b)
    ids: dict[str, list[str]] = {"a": [], "b": []}
    for key, bakery in (("a", bakery_a), ("b", bakery_b)):
        for i in range(2):
            response = await env.post_event(po_event(bakery, supplier={"phone": f"+34 612 345 {i:03d}"}))
            ids[key].append(str(response.json()["notification_id"]))
    await env.dispatcher().drain()
    a_statuses = [(await env.message(i))["status"] for i in ids["a"]]
    b_messages = [await env.message(i) for i in ids["b"]]
    assert a_statuses == ["sent", "sent"]
    assert sorted(m["status"] for m in b_messages) == ["queued", "sent"]
    waiting = next(m for m in b_messages if m["status"] == "queued")
    assert waiting["status_reason"].startswith("rate_limited: daily cap")

    admin = token(env.settings, "admin")
    usage = (await env.client.get("/api/v1/admin/whatsapp/usage", headers=admin)).json()
    portfolios = {p["portfolio_id"]: p for p in usage["portfolios"]}
    assert portfolios["P-B"]["messaging_limit"] == 1 and portfolios["P-B"]["waba_ids"] == [WABA_B]
    assert portfolios["P-B"]["new_recipients_today"] == 1
    assert portfolios[WABA_ID]["new_recipients_today"] == 2  # the environment's portfolio: its own count
    assert usage["portfolio"]["new_recipients_today"] == 2  # the existing field: the environment's portfolio
    by_tenant = {t["tenant_id"]: t for t in usage["tenants"]}
    assert by_tenant[str(bakery_b)]["portfolio_id"] == "P-B" and by_tenant[str(bakery_b)]["cap"] == 1

    costs = (await env.client.get("/api/v1/admin/whatsapp/costs", headers=admin)).json()
    accounts = {a["waba_id"]: a for a in costs["accounts"]}
    assert accounts[WABA_ID]["kind"] == "platform" and accounts[WABA_ID]["messages"] == 2
    assert accounts[WABA_B]["kind"] == "tenant_owned" and accounts[WABA_B]["portfolio_id"] == "P-B"
    assert accounts[WABA_B]["messages"] == 1
    assert accounts[None]["messages"] == 1  # the one still waiting has gone out from no account yet
    assert len(costs["tenants"]) == 2 and costs["total"]["messages"] == 4  # the per-bakery report is unchanged


async def test_the_purchase_orders_pdf_is_uploaded_with_the_numbers_account_token(
    make_env: EnvFactory, sqlite_url: str, tmp_path: Path
) -> None:
    from .domain.test_po_document import event_with_lines

    env = await make_env(sqlite_url)
    token_file = tmp_path / "waba-b"
    token_file.write_text(TOKEN_B + "\n")
    _, bakery_b = await _two_accounts(env, token_file)
    body = event_with_lines(2)
    body["tenant_id"] = str(bakery_b)
    response = await env.post_event(body)
    assert response.status_code == 202, response.text
    await env.dispatcher().drain()
    message = await env.message(str(response.json()["notification_id"]))
    assert message["status"] == "sent" and message["template_name"] == "po_notification_document"
    assert env.graph.uploads == [(NUMBER_B, TOKEN_B)]
    assert [s["token"] for s in env.graph.sends] == [TOKEN_B]
