"""Issue 18: WhatsApp Business Accounts as data — adding (checked against Meta at respx), listing, retiring, the
phone list and assignment across accounts, the internal endpoints for the notification service."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tenant_service.migrate import upgrade
from tests.tenant.conftest import GRAPH, VERSION, WABA, _client, graph_number, make_settings, new_tenant

WABA2 = "100000000000002"
TOKEN2 = "EAAG-second-portfolio-token-9f8e7d"
NUMBERS2 = [
    {**graph_number(i), "id": f"30000000000000{i}", "display_phone_number": f"+34 699 000 00{i}"} for i in range(1, 4)
]
ACCOUNTS = "/api/v1/admin/whatsapp/accounts"


def mock_account(router: respx.Router, waba: str = WABA2, numbers: list[dict[str, Any]] = NUMBERS2, **kw: Any) -> None:
    """Meta's edge for a second WABA: the account and its numbers (one page)."""
    status, body = kw.get("status", 200), kw.get("body")
    router.get(f"{GRAPH}/{VERSION}/{waba}").mock(
        return_value=httpx.Response(status, json=body or {"id": waba, "name": "EU 2", "currency": "EUR"})
    )
    router.get(f"{GRAPH}/{VERSION}/{waba}/phone_numbers").mock(
        return_value=httpx.Response(status, json=body or {"data": numbers, "paging": {"cursors": {}}})
    )


def graph_error(code: int, message: str = "Invalid OAuth access token.") -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1"}}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "waba2.token"
    path.write_text(TOKEN2 + "\n")
    return path


async def add_second(client: httpx.AsyncClient, tokens, token_file: Path, **extra: Any) -> httpx.Response:
    body = {"waba_id": WABA2, "display_name": "Portfolio EU 2", "token_ref": f"file:{token_file}", **extra}
    return await client.post(ACCOUNTS, json=body, headers=tokens.admin())


async def test_environment_only_installation_is_unchanged(client, tokens, graph):
    """Only .env: one account, listed first with source environment; the phone list, assignment and the internal
    settings read it with the ``settings`` token as before."""
    r = await client.get(ACCOUNTS, headers=tokens.admin())
    assert r.status_code == 200, r.text
    [env] = r.json()
    assert env["waba_id"] == WABA and env["source"] == "environment" and env["token_ref"] == "settings"
    assert env["kind"] == "platform" and env["portfolio_id"] == WABA and env["status"] == "active"
    assert len(env["numbers"]) == 5 and env["error"] is None and env["assigned_count"] == 0
    numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())).json()
    assert len(numbers) == 5 and {n["waba_id"] for n in numbers} == {WABA}

    tid = await new_tenant(client, tokens)
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "200000000000002"},
        headers=tokens.admin(),
    )
    assert r.status_code == 200, r.text
    internal = (await client.get(f"/internal/v1/tenants/{tid}/notification-settings", headers=tokens.service())).json()
    assert (internal["waba_id"], internal["token_ref"], internal["portfolio_id"], internal["account_kind"]) == (
        WABA,
        "settings",
        WABA,
        "platform",
    )
    r = await client.get("/internal/v1/whatsapp/accounts", headers=tokens.service())
    assert r.status_code == 200
    assert [a["waba_id"] for a in r.json()["accounts"]] == [WABA]
    assert r.json()["accounts"][0]["source"] == "environment"
    assert graph.calls.last.request.headers["authorization"] == "Bearer test-master-token"


async def test_unassigned_tenant_has_empty_account_fields(client, tokens):
    tid = await new_tenant(client, tokens)
    internal = (await client.get(f"/internal/v1/tenants/{tid}/notification-settings", headers=tokens.service())).json()
    assert internal["waba_id"] == "" and internal["token_ref"] == "" and internal["portfolio_id"] == ""


async def test_without_environment_waba_there_is_no_environment_account(sqlite_url, tokens, graph, token_file):
    await asyncio.to_thread(upgrade, sqlite_url)
    async for client in _client(make_settings(sqlite_url, whatsapp_business_account_id="")):
        assert (await client.get(ACCOUNTS, headers=tokens.admin())).json() == []
        r = await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
        assert r.status_code == 503 and r.json()["code"] == "whatsapp_not_configured"
        mock_account(graph)
        assert (await add_second(client, tokens, token_file)).status_code == 201
        numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())).json()
        assert [n["waba_id"] for n in numbers] == [WABA2] * 3


async def test_add_account_then_numbers_span_both_and_assignment_records_the_account(
    client, tokens, graph, token_file, caplog
):
    caplog.set_level(logging.DEBUG)
    mock_account(graph)
    r = await add_second(client, tokens, token_file, daily_limit=1000, max_numbers=20)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["waba_id"] == WABA2 and added["source"] == "database" and added["portfolio_id"] == WABA2
    assert added["token_ref"] == f"file:{token_file}" and added["daily_limit"] == 1000
    assert [n["id"] for n in added["numbers"]] == [n["id"] for n in NUMBERS2]
    assert added["created_by"] == "admin@test"
    asked = [c.request for c in graph.calls if WABA2 in str(c.request.url)]
    assert asked and all(req.headers["authorization"] == f"Bearer {TOKEN2}" for req in asked)

    listing = (await client.get(ACCOUNTS, headers=tokens.admin())).json()
    assert [a["waba_id"] for a in listing] == [WABA, WABA2]
    numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())).json()
    assert len(numbers) == 8
    by_id = {n["id"]: n for n in numbers}
    assert by_id["300000000000001"]["waba_id"] == WABA2
    assert by_id["300000000000001"]["account_name"] == "Portfolio EU 2"

    tid = await new_tenant(client, tokens, "Horno Norte")
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "300000000000001"},
        headers=tokens.admin(),
    )
    assert r.status_code == 200, r.text
    owner = (
        await client.get("/internal/v1/whatsapp/phone-numbers/300000000000001/tenant", headers=tokens.service())
    ).json()
    assert owner["waba_id"] == WABA2
    r1 = await client.get(f"/internal/v1/tenants/{tid}/notification-settings", headers=tokens.service())
    internal = r1.json()
    assert internal["waba_id"] == WABA2 and internal["token_ref"] == f"file:{token_file}"
    assert internal["portfolio_id"] == WABA2 and internal["account_kind"] == "platform"
    internal_accounts = await client.get("/internal/v1/whatsapp/accounts", headers=tokens.service())
    assert [a["waba_id"] for a in internal_accounts.json()["accounts"]] == [WABA, WABA2]
    listing = (await client.get(ACCOUNTS, headers=tokens.admin())).json()
    assert listing[1]["assigned_count"] == 1
    assert listing[1]["numbers"][0]["assigned_tenant_name"] == "Horno Norte"

    audit = (await client.get(f"{ACCOUNTS}/audit", headers=tokens.admin())).json()
    assert [(e["action"], e["waba_id"]) for e in audit] == [("add", WABA2)]
    # the token never leaves Meta's requests: not in any answer, not in the logs
    for response in (r, r1, internal_accounts):
        assert TOKEN2 not in response.text
    assert TOKEN2 not in str(listing) and TOKEN2 not in str(audit) and TOKEN2 not in str(added)
    assert TOKEN2 not in caplog.text


async def test_etag_changes_with_the_account(client, tokens, graph, token_file):
    mock_account(graph)
    assert (await add_second(client, tokens, token_file)).status_code == 201
    tid = await new_tenant(client, tokens)
    url = f"/internal/v1/tenants/{tid}/notification-settings"
    assign = f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone"
    await client.post(assign, json={"phone_number_id": "200000000000001"}, headers=tokens.admin())
    first = await client.get(url, headers=tokens.service())
    await client.post(assign, json={"phone_number_id": "300000000000002"}, headers=tokens.admin())
    second = await client.get(url, headers={**tokens.service(), "If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and second.json()["waba_id"] == WABA2
    assert second.headers["etag"] != first.headers["etag"]


async def test_add_tenant_owned_account(client, tokens, graph, token_file):
    mock_account(graph)
    r = await add_second(client, tokens, token_file, kind="tenant_owned")
    assert r.status_code == 422 and "tenant_id" in r.json()["detail"]
    r = await add_second(client, tokens, token_file, kind="tenant_owned", tenant_id=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json()["code"] == "tenant_not_found"
    tid = await new_tenant(client, tokens)
    r = await add_second(client, tokens, token_file, tenant_id=tid)
    assert r.status_code == 422 and "tenant_owned" in r.json()["detail"]
    r = await add_second(client, tokens, token_file, kind="tenant_owned", tenant_id=tid, portfolio_id="555")
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == tid and r.json()["portfolio_id"] == "555"


@pytest.mark.parametrize(
    ("token_ref", "needle"),
    [
        ("EAAG-a-raw-token", "never the token itself"),
        ("file:relative/path", "absolute path"),
        ("env:lower", "upper-case"),
    ],
)
async def test_token_ref_must_be_a_reference(sqlite_client, tokens, token_ref, needle):
    r = await sqlite_client.post(
        ACCOUNTS, json={"waba_id": WABA2, "display_name": "X", "token_ref": token_ref}, headers=tokens.admin()
    )
    assert r.status_code == 422 and needle in r.json()["detail"]
    assert "EAAG-a-raw-token" not in r.text


async def test_token_ref_must_resolve_here(sqlite_client, tokens, tmp_path, monkeypatch):
    body = {"waba_id": WABA2, "display_name": "X", "token_ref": f"file:{tmp_path}/missing.token"}
    r = await sqlite_client.post(ACCOUNTS, json=body, headers=tokens.admin())
    assert r.status_code == 422 and r.json()["code"] == "whatsapp_token_invalid"
    assert "no file at" in r.json()["detail"]
    monkeypatch.delenv("WABA_EU_TOKEN", raising=False)
    r = await sqlite_client.post(ACCOUNTS, json={**body, "token_ref": "env:WABA_EU_TOKEN"}, headers=tokens.admin())
    assert r.status_code == 422 and "WABA_EU_TOKEN is not set" in r.json()["detail"]


async def test_env_reference_works(sqlite_client, tokens, graph, monkeypatch):
    monkeypatch.setenv("WABA_EU_TOKEN", TOKEN2)
    mock_account(graph)
    body = {"waba_id": WABA2, "display_name": "X", "token_ref": "env:WABA_EU_TOKEN"}
    r = await sqlite_client.post(ACCOUNTS, json=body, headers=tokens.admin())
    assert r.status_code == 201, r.text
    assert graph.calls.last.request.headers["authorization"] == f"Bearer {TOKEN2}"


@pytest.mark.parametrize(
    ("status", "body", "code", "expected_status"),
    [
        (401, graph_error(190), "whatsapp_token_invalid", 422),
        (
            400,
            graph_error(100, "Unsupported get request. Object with ID does not exist"),
            "whatsapp_account_unreadable",
            422,
        ),
        (403, graph_error(200, "Permissions error"), "whatsapp_account_unreadable", 422),
        (403, graph_error(10, "Application does not have permission"), "whatsapp_account_unreadable", 422),
        (500, graph_error(2, "Service temporarily unavailable"), "whatsapp_graph_error", 502),
    ],
)
async def test_meta_refusals(sqlite_client, tokens, graph, token_file, status, body, code, expected_status):
    mock_account(graph, status=status, body=body)
    r = await add_second(sqlite_client, tokens, token_file)
    assert r.status_code == expected_status, r.text
    assert r.json()["code"] == code
    assert TOKEN2 not in r.text
    assert (await sqlite_client.get(ACCOUNTS, headers=tokens.admin())).json()[-1]["waba_id"] == WABA  # not stored


async def test_meta_unreachable_is_502(sqlite_client, tokens, graph, token_file):
    graph.get(f"{GRAPH}/{VERSION}/{WABA2}").mock(side_effect=httpx.ConnectError("refused"))
    r = await add_second(sqlite_client, tokens, token_file)
    assert r.status_code == 502 and r.json()["code"] == "whatsapp_graph_unavailable"


async def test_token_echoed_by_meta_is_redacted(sqlite_client, tokens, graph, token_file, caplog):
    caplog.set_level(logging.DEBUG)
    mock_account(graph, status=401, body=graph_error(190, f"Malformed access token {TOKEN2}"))
    r = await add_second(sqlite_client, tokens, token_file)
    assert r.status_code == 422
    assert TOKEN2 not in r.text and TOKEN2 not in caplog.text


async def test_duplicates_are_409(client, tokens, graph, token_file):
    r = await client.post(
        ACCOUNTS,
        json={"waba_id": WABA, "display_name": "again", "token_ref": f"file:{token_file}"},
        headers=tokens.admin(),
    )
    assert r.status_code == 409 and "environment" in r.json()["detail"]
    mock_account(graph)
    assert (await add_second(client, tokens, token_file)).status_code == 201
    r = await add_second(client, tokens, token_file)
    assert r.status_code == 409 and r.json()["code"] == "account_exists"


async def test_one_failing_account_does_not_hide_the_others(client, tokens, graph, token_file):
    mock_account(graph)
    assert (await add_second(client, tokens, token_file)).status_code == 201
    graph.get(f"{GRAPH}/{VERSION}/{WABA2}/phone_numbers").mock(return_value=httpx.Response(401, json=graph_error(190)))
    r = await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())
    assert r.status_code == 200
    assert {n["waba_id"] for n in r.json()} == {WABA} and len(r.json()) == 5
    assert r.headers["x-unreadable-accounts"] == WABA2
    listing = (await client.get(ACCOUNTS, headers=tokens.admin())).json()
    assert listing[0]["error"] is None and len(listing[0]["numbers"]) == 5
    assert listing[1]["error"]["code"] == "whatsapp_token_expired"
    assert f"file:{token_file}" in listing[1]["error"]["detail"]
    # a number of the unreadable account cannot be assigned: the reason is said
    tid = await new_tenant(client, tokens)
    r = await client.post(
        f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
        json={"phone_number_id": "300000000000001"},
        headers=tokens.admin(),
    )
    assert r.status_code == 502 and r.json()["code"] == "whatsapp_token_expired"


async def test_retire(client, tokens, graph, token_file):
    mock_account(graph)
    assert (await add_second(client, tokens, token_file)).status_code == 201
    tid = await new_tenant(client, tokens, "Horno Norte")
    assign = f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone"
    assert (
        await client.post(assign, json={"phone_number_id": "300000000000003"}, headers=tokens.admin())
    ).status_code == 200

    r = await client.post(f"{ACCOUNTS}/{WABA2}/retire", headers=tokens.admin())
    assert r.status_code == 409 and r.json()["code"] == "account_in_use"
    assert "1 assigned number" in r.json()["detail"] and "Horno Norte" in r.json()["detail"]

    await client.delete(f"/api/v1/admin/whatsapp/tenants/{tid}/unassign-phone", headers=tokens.admin())
    r = await client.post(f"{ACCOUNTS}/{WABA2}/retire", headers=tokens.admin())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "retired" and r.json()["changed"] is True and r.json()["retired_at"]
    r = await client.post(f"{ACCOUNTS}/{WABA2}/retire", headers=tokens.admin())
    assert r.status_code == 200 and r.json()["changed"] is False

    numbers = (await client.get("/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin())).json()
    assert {n["waba_id"] for n in numbers} == {WABA}
    r = await client.post(assign, json={"phone_number_id": "300000000000001"}, headers=tokens.admin())
    assert r.status_code == 422 and r.json()["code"] == "unknown_phone_number"
    listing = (await client.get(ACCOUNTS, headers=tokens.admin())).json()
    assert listing[1]["status"] == "retired" and listing[1]["numbers"] == []
    internal = (await client.get("/internal/v1/whatsapp/accounts", headers=tokens.service())).json()["accounts"]
    assert [(a["waba_id"], a["status"]) for a in internal] == [(WABA, "active"), (WABA2, "retired")]
    audit = (await client.get(f"{ACCOUNTS}/audit", headers=tokens.admin())).json()
    assert [e["action"] for e in audit] == ["retire", "add"]

    r = await client.post(f"{ACCOUNTS}/{WABA}/retire", headers=tokens.admin())
    assert r.status_code == 409 and r.json()["code"] == "environment_account"
    r = await client.post(f"{ACCOUNTS}/999/retire", headers=tokens.admin())
    assert r.status_code == 404
    r = await client.post(f"{ACCOUNTS}/abc/retire", headers=tokens.admin())
    assert r.status_code == 422


async def test_only_admins(sqlite_client, tokens):
    tid = await new_tenant(sqlite_client, tokens)
    body = {"waba_id": WABA2, "display_name": "X", "token_ref": "env:X"}
    signup = {
        "code": "c",
        "waba_id": WABA2,
        "phone_number_id": "1",
        "tenant_id": tid,
        "pin": "123456",
    }
    calls = [
        ("GET", ACCOUNTS, None),
        ("POST", ACCOUNTS, body),
        ("POST", f"{ACCOUNTS}/{WABA2}/retire", None),
        ("POST", f"{ACCOUNTS}/embedded-signup", signup),
        ("GET", f"{ACCOUNTS}/audit", None),
    ]
    for method, url, json in calls:
        for headers, expected in ((tokens.owner(tid), 403), (tokens.service(), 403), ({}, 401)):
            r = await sqlite_client.request(method, url, json=json, headers=headers)
            assert r.status_code == expected, (method, url, r.text)
    for headers, expected in ((tokens.owner(tid), 403), (tokens.admin(), 403), ({}, 401)):
        r = await sqlite_client.get("/internal/v1/whatsapp/accounts", headers=headers)
        assert r.status_code == expected


@pytest.mark.postgres
async def test_two_concurrent_adds_of_one_waba_one_wins(postgres_url, tokens, graph, token_file):
    await asyncio.to_thread(upgrade, postgres_url)
    mock_account(graph)
    async for client in _client(make_settings(postgres_url)):
        results = await asyncio.gather(*(add_second(client, tokens, token_file) for _ in range(4)))
        codes = sorted(r.status_code for r in results)
        assert codes == [201, 409, 409, 409], [r.text for r in results]
        assert all(r.json()["code"] == "account_exists" for r in results if r.status_code == 409)
        listing = (await client.get(ACCOUNTS, headers=tokens.admin())).json()
        assert [a["waba_id"] for a in listing] == [WABA, WABA2]
        audit = (await client.get(f"{ACCOUNTS}/audit", headers=tokens.admin())).json()
        assert len(audit) == 1


@pytest.mark.postgres
async def test_retire_races_assign_one_wins_cleanly(postgres_url, tokens, graph, token_file):
    await asyncio.to_thread(upgrade, postgres_url)
    mock_account(graph)
    async for client in _client(make_settings(postgres_url)):
        outcomes = set()
        for round_ in range(6):
            waba = f"10000000000010{round_}"
            number_id = f"40000000000000{round_}"
            mock_account(graph, waba=waba, numbers=[{**NUMBERS2[0], "id": number_id}])
            r = await client.post(
                ACCOUNTS,
                json={"waba_id": waba, "display_name": f"R{round_}", "token_ref": f"file:{token_file}"},
                headers=tokens.admin(),
            )
            assert r.status_code == 201, r.text
            tid = await new_tenant(client, tokens, f"Race {round_}")
            assign, retire = await asyncio.gather(
                client.post(
                    f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
                    json={"phone_number_id": number_id},
                    headers=tokens.admin(),
                ),
                client.post(f"{ACCOUNTS}/{waba}/retire", headers=tokens.admin()),
            )
            if retire.status_code == 200:
                # retired first: the assignment was refused (or found no such number any more)
                assert assign.status_code in (409, 422), assign.text
                assert assign.json()["code"] in ("account_retired", "unknown_phone_number")
                outcomes.add("retire")
            else:
                assert retire.status_code == 409 and retire.json()["code"] == "account_in_use", retire.text
                assert assign.status_code == 200, assign.text
                outcomes.add("assign")
                await client.delete(f"/api/v1/admin/whatsapp/tenants/{tid}/unassign-phone", headers=tokens.admin())
            listing = {a["waba_id"]: a for a in (await client.get(ACCOUNTS, headers=tokens.admin())).json()}
            # never a retired account holding a number
            assert not (listing[waba]["status"] == "retired" and listing[waba]["assigned_count"])
        assert outcomes


async def _interleave(client, tokens, graph, token_file, monkeypatch, first: str):
    """``first`` (assign | retire) is held inside its transaction, after its write, while the other one starts."""
    from tenant_service import repository as repo

    mock_account(graph)
    assert (await add_second(client, tokens, token_file)).status_code == 201
    tid = await new_tenant(client, tokens)
    inside = asyncio.Event()
    name = "insert_assignment" if first == "assign" else "retire_account"
    original = getattr(repo, name)

    async def held(*args, **kwargs):
        await original(*args, **kwargs)
        inside.set()
        # long enough for the other request to reach the account before this commits: with 0.3 s, a busy machine
        # (fresh-clone CI while other jobs ran) let the assign read the phone directory after the retire's commit
        # and refuse the number as unknown (422) instead of waiting for the account (409)
        await asyncio.sleep(1.0)

    monkeypatch.setattr(repo, name, held)

    def assign():
        return client.post(
            f"/api/v1/admin/whatsapp/tenants/{tid}/assign-phone",
            json={"phone_number_id": "300000000000001"},
            headers=tokens.admin(),
        )

    def retire():
        return client.post(f"{ACCOUNTS}/{WABA2}/retire", headers=tokens.admin())

    one = asyncio.ensure_future(assign() if first == "assign" else retire())
    await asyncio.wait_for(inside.wait(), 5)
    other = await (retire() if first == "assign" else assign())
    return (await one, other) if first == "assign" else (other, await one)


async def test_assign_holding_the_account_makes_a_concurrent_retire_wait_and_refuse(
    client, tokens, graph, token_file, monkeypatch
):
    assign, retire = await _interleave(client, tokens, graph, token_file, monkeypatch, "assign")
    assert assign.status_code == 200, assign.text
    assert retire.status_code == 409 and retire.json()["code"] == "account_in_use", retire.text


async def test_retire_holding_the_account_makes_a_concurrent_assign_wait_and_refuse(
    client, tokens, graph, token_file, monkeypatch
):
    assign, retire = await _interleave(client, tokens, graph, token_file, monkeypatch, "retire")
    assert retire.status_code == 200, retire.text
    assert assign.status_code == 409 and assign.json()["code"] == "account_retired", assign.text
    listing = (await client.get(ACCOUNTS, headers=tokens.admin())).json()
    assert listing[1]["status"] == "retired" and listing[1]["assigned_count"] == 0
