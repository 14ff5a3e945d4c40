"""Issue 18 against real processes (the single-WABA sandbox and the tenant service over HTTP, driven by the CLI):
the environment's account is listed as before, and adding an account is checked against the sandbox's Graph API
(a WABA it cannot read, a token it rejects, the environment's WABA again). The added-account path itself runs
against respx in tests/tenant/test_accounts.py until the sandbox serves several WABAs."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_admin_stack import cli
from tests.stack import SANDBOX_TOKEN, WABA

pytestmark = pytest.mark.e2e


def test_accounts_list_shows_the_environment_account_with_its_numbers(admin_stack):
    r = cli(admin_stack, "--json", "accounts", "list")
    assert r.returncode == 0, r.stderr
    [env] = json.loads(r.stdout)
    assert env["waba_id"] == WABA and env["source"] == "environment" and env["token_ref"] == "settings"
    assert len(env["numbers"]) == 10 and env["error"] is None
    table = cli(admin_stack, "accounts", "list")
    assert "Master account (environment)" in table.stdout and "0 / 20" in table.stdout
    numbers = json.loads(cli(admin_stack, "--json", "numbers").stdout)
    assert {n["waba_id"] for n in numbers} == {WABA}


def test_adding_is_checked_against_the_sandbox(admin_stack, tmp_path):
    good, bad = tmp_path / "good.token", tmp_path / "bad.token"
    good.write_text(SANDBOX_TOKEN)
    bad.write_text("EAAG-not-a-token-the-sandbox-knows")

    def add(waba: str, token_file) -> object:
        return cli(
            admin_stack,
            "--json",
            "accounts",
            "add",
            "--waba-id",
            waba,
            "--name",
            "X",
            "--token-ref",
            f"file:{token_file}",
        )

    r = add("100000000000777", good)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "whatsapp_account_unreadable", r.stdout
    r = add("100000000000777", bad)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "whatsapp_token_invalid", r.stdout
    assert "EAAG-not-a-token" not in r.stdout + r.stderr
    r = add(WABA, good)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "account_exists"
    r = add("100000000000777", tmp_path / "missing.token")
    assert r.returncode == 1 and "no file at" in json.loads(r.stdout)["error"]["detail"]
    r = cli(admin_stack, "accounts", "retire", WABA)
    assert r.returncode == 1 and "environment" in r.stderr
