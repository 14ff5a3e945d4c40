"""Past 20 bakeries (issue 18), end to end through real processes: the sandbox holds three WhatsApp Business
Accounts of 20, 20 and 5 numbers, the admin adds the two new ones (token references to files, never the token),
45 bakeries are assigned across them, and a purchase order of each reaches its supplier from the bakery's own
number with its own account's token (the sandbox refuses another account's token, 100/33). The status webhooks of
all three accounts arrive at the one endpoint and are applied; a token revoked on one account holds only that
account's bakeries; costs and limits group per account and portfolio."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_postgres_database, drop_postgres_database
from tests.e2e.flows import enable_whatsapp, message, po_event, post_event, sandbox_control, tokens, wait_for
from tests.e2e.test_admin_stack import cli
from tests.stack import WABA, Stack

pytestmark = pytest.mark.e2e

WABA_B = "100000000000201"
WABA_C = "100000000000301"
TOKEN_B = "pool-token-b-0001"
TOKEN_C = "pool-token-c-0001"


@pytest.fixture(scope="module")
def pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    workdir = tmp_path_factory.mktemp("pool")
    tenant_db, notification_db = create_postgres_database(), create_postgres_database()
    stack = Stack(
        workdir,
        tenant_db=tenant_db,
        notification_db=notification_db,
        extra_env={
            "RECIPIENT_MIN_INTERVAL_SECONDS": "0",
            "RATE_PER_NUMBER_PER_SECOND": "80",
            "SANDBOX_THROUGHPUT_PER_SECOND": "1000",
            "TENANT_DAILY_NEW_RECIPIENT_CAP": "0",
            "TENANT_SETTINGS_TTL_SECONDS": "0.5",
            "WHATSAPP_ACCOUNT_SECRETS_DIR": str(workdir / "secrets"),
        },
    )
    try:
        stack.start_all()
        yield stack, workdir
    finally:
        if request.session.testsfailed:
            print(stack.logs()[-30000:])  # the processes' own account of what went wrong
        stack.stop_all()
        drop_postgres_database(tenant_db)
        drop_postgres_database(notification_db)


def admin_get(url: str, **params: Any) -> Any:
    r = httpx.get(url, params=params, headers=tokens.admin(), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def add_account(stack: Stack, waba_id: str, name: str, token_file: Path, **extra: Any) -> dict[str, Any]:
    r = httpx.post(
        f"{stack.tenant_url}/api/v1/admin/whatsapp/accounts",
        json={"waba_id": waba_id, "display_name": name, "token_ref": f"file:{token_file}", **extra},
        headers=tokens.admin(),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def new_bakery(stack: Stack, name: str) -> str:
    r = httpx.post(f"{stack.tenant_url}/api/v1/tenants", json={"name": name}, headers=tokens.admin())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def delivered(stack: Stack, nid: str) -> dict[str, Any] | None:
    msg = message(stack, nid)
    return msg if msg["status"] in ("delivered", "read") else None


def test_45_bakeries_on_three_accounts(pool: tuple[Stack, Path]) -> None:
    stack, workdir = pool
    # "Meta": the seed account grows to 20 numbers; two more accounts of 20 and 5, each with its own token
    sandbox_control(stack, f"accounts/{WABA}/phone_numbers", {"numbers": 10})
    sandbox_control(
        stack, "accounts", {"waba_id": WABA_B, "name": "Portfolio B", "access_token": TOKEN_B, "numbers": 20}
    )
    sandbox_control(
        stack, "accounts", {"waba_id": WABA_C, "name": "Portfolio C", "access_token": TOKEN_C, "numbers": 5,
                            "messaging_limit": 250}
    )  # fmt: skip
    token_b, token_c = workdir / "waba-b.token", workdir / "waba-c.token"
    token_b.write_text(TOKEN_B)
    token_c.write_text(TOKEN_C)

    added = add_account(stack, WABA_B, "Portfolio B", token_b)
    assert len(added["numbers"]) == 20 and TOKEN_B not in str(added)
    add_account(stack, WABA_C, "Portfolio C", token_c, daily_limit=250)
    accounts = admin_get(f"{stack.tenant_url}/api/v1/admin/whatsapp/accounts")
    assert [(a["waba_id"], a["source"], len(a["numbers"])) for a in accounts] == [
        (WABA, "environment", 20),
        (WABA_B, "database", 20),
        (WABA_C, "database", 5),
    ]

    # 45 bakeries: the 10 demo bakeries and 35 new ones, one number each, across the three accounts
    numbers = admin_get(f"{stack.tenant_url}/api/v1/admin/whatsapp/phone-numbers")
    assert len(numbers) == 45
    account_of = {n["id"]: n["waba_id"] for n in numbers}
    assert sorted(account_of.values()).count(WABA_B) == 20 and list(account_of.values()).count(WABA_C) == 5
    tenants = [t["tenant_id"] for t in admin_get(f"{stack.tenant_url}/api/v1/admin/whatsapp/tenants", limit=1000)]
    tenants += [new_bakery(stack, f"Bakery {i:02d}") for i in range(45 - len(tenants))]
    free = [n["id"] for n in numbers if not n.get("assigned_tenant_id")]
    assert len(free) == len(tenants) == 45
    number_of = dict(zip(tenants, free, strict=True))
    for tenant_id, number in number_of.items():
        enable_whatsapp(stack, tenant_id, number)

    # a purchase order of each bakery
    sent: dict[str, str] = {}  # notification id → tenant
    with httpx.Client(timeout=30) as client:
        for i, tenant_id in enumerate(tenants):
            body = po_event(tenant_id, phone=f"+34 611 {i:03d} 000", number=f"PO-POOL-{i:02d}")
            sent[post_event(stack, body, client)["notification_id"]] = tenant_id
    for nid, tenant_id in sent.items():
        msg = wait_for(lambda nid=nid: delivered(stack, nid), timeout=60, what=f"{nid} delivered")
        # from the bakery's own number, recorded with that number's account; delivered = its account's status
        # webhooks were routed and applied
        assert msg["phone_number_id"] == number_of[tenant_id]
        assert msg["waba_id"] == account_of[number_of[tenant_id]]
    in_sandbox = httpx.get(f"{stack.sandbox_url}/_sandbox/messages", params={"waba_id": WABA_C}, timeout=30).json()
    items = in_sandbox if isinstance(in_sandbox, list) else in_sandbox.get("messages", [])
    assert len({m["phone_number_id"] for m in items}) == 5

    # a token revoked on account C holds only C's bakeries; A's and B's keep flowing
    sandbox_control(stack, "token/revoke", {"waba_id": WABA_C})
    by_account = {WABA: None, WABA_B: None, WABA_C: None}
    for tenant_id, number in number_of.items():
        if by_account[account_of[number]] is None:
            body = po_event(tenant_id, phone="+34 622 000 999", number=f"PO-REVOKE-{account_of[number][-3:]}")
            by_account[account_of[number]] = post_event(stack, body)["notification_id"]
    for waba in (WABA, WABA_B):
        wait_for(lambda waba=waba: delivered(stack, str(by_account[waba])), timeout=30, what=f"{waba} still sends")
    held = wait_for(
        lambda: (m := message(stack, str(by_account[WABA_C])))["status"] == "held" and m, timeout=30, what="C held"
    )
    assert held["status_reason"].startswith("credential: (190)") and held["waba_id"] == WABA_C
    quality = admin_get(f"{stack.notification_url}/api/v1/admin/whatsapp/quality")
    assert quality["account"]["held"] is True
    assert {(h["kind"], h["waba_id"]) for h in quality["account"]["holds"]} == {("credential", WABA_C)}

    # the new token: rotated at "Meta", written to C's file (no restart), the hold lifted → C's message goes out
    rotated = "pool-token-c-0002"
    sandbox_control(stack, "token", {"waba_id": WABA_C, "token": rotated})
    token_c.write_text(rotated)
    r = httpx.post(
        f"{stack.notification_url}/api/v1/admin/whatsapp/holds/account:{WABA_C}/release", headers=tokens.admin()
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: delivered(stack, str(by_account[WABA_C])), timeout=30, what="C's message after the rotation")

    # costs and limits per account and portfolio
    month = datetime.now(UTC).strftime("%Y-%m")
    costs = admin_get(f"{stack.notification_url}/api/v1/admin/whatsapp/costs", month=month)
    per_account = {a["waba_id"]: a for a in costs["accounts"]}
    # 20 + 20 + 5 purchase orders and one more per account after the revocation
    assert {waba: per_account[waba]["messages"] for waba in (WABA, WABA_B, WABA_C)} == {WABA: 21, WABA_B: 21, WABA_C: 6}
    assert {per_account[waba]["kind"] for waba in (WABA, WABA_B, WABA_C)} == {"platform"}
    assert sum(t["messages"] for t in costs["tenants"]) == 48
    usage = admin_get(f"{stack.notification_url}/api/v1/admin/whatsapp/usage")
    portfolios = {p["portfolio_id"]: p for p in usage["portfolios"]}
    assert set(portfolios) == {WABA, WABA_B, WABA_C}
    assert portfolios[WABA_C]["waba_ids"] == [WABA_C]
    # each portfolio counts its own recipients against its own limit (C: the daily_limit the admin set, 250)
    assert {p: portfolios[p]["new_recipients_today"] for p in portfolios} == {WABA: 21, WABA_B: 21, WABA_C: 6}
    assert portfolios[WABA_C]["messaging_limit"] == 250
    assert {t["portfolio_id"] for t in usage["tenants"] if t["tenant_id"] in number_of} == {WABA, WABA_B, WABA_C}


def test_each_account_gets_the_templates_from_here(pool: tuple[Stack, Path]) -> None:
    """`bakery-admin templates plan|submit --account` read and create another account's templates with that
    account's token (each WABA needs its own copy); an unknown account is a 404, not the environment's."""
    stack, _ = pool
    if not any(a["waba_id"] == WABA_B for a in admin_get(f"{stack.tenant_url}/api/v1/admin/whatsapp/accounts")):
        pytest.skip("runs after test_45_bakeries_on_three_accounts, which adds account B")
    graph_b = {"Authorization": f"Bearer {TOKEN_B}"}
    r = httpx.delete(
        f"{stack.sandbox_url}/v25.0/{WABA_B}/message_templates", params={"name": "inventory_alert"}, headers=graph_b
    )
    assert r.json() == {"success": True}, r.text

    r = cli(stack, "--json", "templates", "plan", "--account", WABA_B)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["waba_id"] == WABA_B
    missing = {(t["name"], t["language"]) for t in plan["templates"] if t["state"] == "missing"}
    assert missing == {("inventory_alert", "es"), ("inventory_alert", "en")}

    sandbox_control(stack, "limits", {"template_auto_approve_seconds": 1.0})  # Meta's review: approved in 1 s
    r = cli(stack, "--json", "templates", "submit", "--account", WABA_B)
    assert r.returncode == 0, r.stdout + r.stderr
    done = json.loads(r.stdout)
    assert (done["waba_id"], done["created"], done["skipped"], done["refused"]) == (WABA_B, 2, 6, 0)
    at_b = httpx.get(
        f"{stack.sandbox_url}/v25.0/{WABA_B}/message_templates", params={"name": "inventory_alert"}, headers=graph_b
    ).json()["data"]
    assert {t["language"] for t in at_b} == {"es", "en"}

    # recorded at B (its messages of them wait for B's review), then B's review webhook approves them at B
    def recorded_at_b() -> dict[str, str]:
        listed = admin_get(f"{stack.notification_url}/api/v1/admin/whatsapp/templates")
        accounts = {a["waba_id"]: a["templates"] for a in listed["accounts"]}
        alerts = [t for t in accounts.get(WABA_B, []) if t["name"] == "inventory_alert"]
        return {x["language"]: x["status"] for t in alerts for x in t["languages"]}

    assert set(recorded_at_b()) == {"es", "en"}
    wait_for(lambda: recorded_at_b() == {"es": "APPROVED", "en": "APPROVED"}, timeout=30, what="B's review")
    sandbox_control(stack, "limits", {"template_auto_approve_seconds": -1})
    # the environment's account was not touched
    r = cli(stack, "--json", "templates", "plan")
    assert {t["state"] for t in json.loads(r.stdout)["templates"]} == {"present"}

    r = cli(stack, "templates", "plan", "--account", "999999999999999")
    assert r.returncode != 0 and "No active WhatsApp account 999999999999999" in r.stdout + r.stderr


def test_a_bakery_connects_its_own_account_through_embedded_signup(pool: tuple[Stack, Path]) -> None:
    """Tech Provider onboarding through real processes: "Meta" (the sandbox) finishes an Embedded Signup and hands
    back a code; `bakery-admin accounts connect` exchanges it for the bakery's business token (kept in a 0600 file,
    never in the database), subscribes the app, registers the number and assigns it; the bakery's purchase order
    then goes out from its own account and is billed to it (costs show the tenant-owned account apart)."""
    stack, workdir = pool
    signup = sandbox_control(stack, "embedded-signup", {"name": "Obrador Propio", "numbers": 1})
    waba_id, number = signup["waba_id"], signup["phone_number_ids"][0]
    bakery = new_bakery(stack, "Obrador Propio")

    r = cli(stack, "--json", "accounts", "connect", "--code", signup["code"], "--waba-id", waba_id,
            "--phone-number-id", number, "--tenant", bakery, "--pin", "246810")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    connected = json.loads(r.stdout)
    token_ref = connected["account"]["token_ref"]
    assert connected["account"]["kind"] == "tenant_owned" and token_ref.startswith(f"file:{workdir / 'secrets'}")
    token_file = Path(token_ref.removeprefix("file:"))
    assert token_file.stat().st_mode & 0o777 == 0o600 and token_file.read_text().strip() not in r.stdout
    # the code works once: connecting again is refused and names the step
    again = cli(stack, "accounts", "connect", "--code", signup["code"], "--waba-id", waba_id,
                "--phone-number-id", number, "--tenant", bakery, "--pin", "246810")  # fmt: skip
    assert again.returncode != 0

    r = httpx.put(
        f"{stack.tenant_url}/api/v1/tenants/{bakery}/settings/notifications",
        json={"whatsapp_enabled": True},
        headers=tokens.owner(bakery),
    )
    assert r.status_code == 200, r.text
    nid = post_event(stack, po_event(bakery, phone="+34 633 000 111", number="PO-OWN-1"))["notification_id"]
    try:
        msg = wait_for(lambda: delivered(stack, nid), timeout=20, what="the bakery's own account delivers")
    except AssertionError:
        print("MSG", message(stack, nid))
        print("HOOKS", httpx.get(f"{stack.sandbox_url}/_sandbox/webhooks", params={"waba_id": waba_id}).text[:3000])
        print("READY", httpx.get(f"{stack.notification_url}/health/ready", headers=tokens.admin()).text[:3000])
        raise
    assert (msg["phone_number_id"], msg["waba_id"]) == (number, waba_id)

    month = datetime.now(UTC).strftime("%Y-%m")
    costs = admin_get(f"{stack.notification_url}/api/v1/admin/whatsapp/costs", month=month)
    own = next(a for a in costs["accounts"] if a["waba_id"] == waba_id)
    assert (own["kind"], own["messages"]) == ("tenant_owned", 1)
