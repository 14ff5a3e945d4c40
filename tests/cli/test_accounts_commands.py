"""``bakery-admin accounts …`` (issue 18): each command's request and output, the tenant service's answers mocked at
the HTTP edge (the API itself is tested in tests/tenant/test_accounts.py and test_embedded_signup.py)."""

from __future__ import annotations

import json

import httpx
import respx
from click.testing import Result
from typer.testing import CliRunner

from bakery_cli.main import app

URL = "http://tenant.test"
ACCOUNTS = f"{URL}/api/v1/admin/whatsapp/accounts"


def run(*args: str) -> Result:
    return CliRunner().invoke(
        app, ["--tenant-url", URL, "--token", "t", *args], env={"COLUMNS": "220"}, catch_exceptions=False
    )


def account(waba: str, **extra: object) -> dict[str, object]:
    return {
        "waba_id": waba,
        "display_name": f"Account {waba[-1]}",
        "kind": "platform",
        "token_ref": "settings",
        "portfolio_id": waba,
        "tenant_id": None,
        "max_numbers": 20,
        "daily_limit": None,
        "status": "active",
        "source": "database",
        "numbers": [{"id": "1"}, {"id": "2"}],
        "assigned_count": 1,
        "error": None,
        **extra,
    }


@respx.mock
def test_list_shows_usage_limits_and_problems() -> None:
    answer = [
        account("100000000000001", source="environment", display_name="Master account (environment)"),
        account(
            "100000000000002",
            token_ref="file:/run/secrets/eu2",
            daily_limit=1000,
            error={"code": "whatsapp_token_expired", "detail": "Meta rejected the token of account EU"},
            numbers=[],
            assigned_count=0,
        ),
    ]
    route = respx.get(ACCOUNTS).mock(return_value=httpx.Response(200, json=answer))
    result = run("accounts", "list")
    assert result.exit_code == 0, result.stdout
    assert route.calls[0].request.headers["Authorization"] == "Bearer t"
    assert "Master account (environment)" in result.stdout and "1 / 20" in result.stdout
    assert "1000" in result.stdout and "Meta rejected the token of account EU" in result.stdout
    assert json.loads(run("--json", "accounts", "list").stdout) == answer


@respx.mock
def test_add_sends_every_option() -> None:
    route = respx.post(ACCOUNTS).mock(return_value=httpx.Response(201, json=account("100000000000002")))
    result = run(
        "accounts", "add", "--waba-id", "100000000000002", "--name", "EU 2", "--token-ref", "env:WABA_EU_2",
        "--kind", "tenant_owned", "--tenant", "0b6c", "--portfolio", "77", "--max-numbers", "2",
        "--daily-limit", "250",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    assert json.loads(route.calls[0].request.content) == {
        "waba_id": "100000000000002",
        "display_name": "EU 2",
        "token_ref": "env:WABA_EU_2",
        "kind": "tenant_owned",
        "tenant_id": "0b6c",
        "portfolio_id": "77",
        "max_numbers": 2,
        "daily_limit": 250,
    }
    assert "Added Account 2 (100000000000002): 2 number(s)" in result.stdout


@respx.mock
def test_add_refused_by_meta_exits_1_with_the_message() -> None:
    respx.post(ACCOUNTS).mock(
        return_value=httpx.Response(
            422,
            json={"detail": "token_ref: Meta rejected the token read from env:X", "code": "whatsapp_token_invalid"},
        )
    )
    result = run("accounts", "add", "--waba-id", "1", "--name", "X", "--token-ref", "env:X")
    assert result.exit_code == 1
    assert "Meta rejected the token" in result.stderr and "whatsapp_token_invalid" in result.stderr


@respx.mock
def test_retire_and_its_refusal() -> None:
    respx.post(f"{ACCOUNTS}/100000000000002/retire").mock(
        side_effect=[
            httpx.Response(
                409, json={"detail": "still has 1 assigned number(s): +34 (Horno)", "code": "account_in_use"}
            ),
            httpx.Response(200, json={**account("100000000000002"), "changed": True, "message": "Retired EU 2"}),
        ]
    )
    refused = run("accounts", "retire", "100000000000002")
    assert refused.exit_code == 1 and "still has 1 assigned" in refused.stderr
    done = run("accounts", "retire", "100000000000002")
    assert done.exit_code == 0 and "Retired EU 2" in done.stdout


@respx.mock
def test_connect_posts_the_embedded_signup() -> None:
    answer = {
        "account": account("100000000000003", kind="tenant_owned", token_ref="file:/srv/secrets/waba-3.token"),
        "assignment": {"message": "Connected Horno and assigned +34 611 to Horno"},
    }
    route = respx.post(f"{ACCOUNTS}/embedded-signup").mock(return_value=httpx.Response(201, json=answer))
    result = run(
        "accounts", "connect", "--code", "AQD", "--waba-id", "100000000000003", "--phone-number-id", "5",
        "--tenant", "0b6c", "--pin", "123456",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    assert json.loads(route.calls[0].request.content) == {
        "code": "AQD",
        "waba_id": "100000000000003",
        "phone_number_id": "5",
        "tenant_id": "0b6c",
        "pin": "123456",
    }
    assert "Connected Horno" in result.stdout and "/srv/secrets/waba-3.token" in result.stdout


@respx.mock
def test_connect_when_meta_is_down_exits_3() -> None:
    respx.post(f"{ACCOUNTS}/embedded-signup").mock(
        return_value=httpx.Response(502, json={"detail": "step 3 of 5 failed", "code": "whatsapp_graph_unavailable"})
    )
    result = run(
        "accounts", "connect", "--code", "A", "--waba-id", "3", "--phone-number-id", "5", "--tenant", "t",
        "--pin", "123456",
    )  # fmt: skip
    assert result.exit_code == 3 and "step 3 of 5" in result.stderr
