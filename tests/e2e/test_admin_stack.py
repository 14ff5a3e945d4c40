"""The seed's admin flow against real processes: the tenant service reads the sandbox's numbers over HTTP, and the
admin CLI drives the same APIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tenant_service.seed_demo import DEMO_BAKERIES
from tests.helpers import TEST_JWT_SECRET, Tokens
from tests.stack import ROOT

pytestmark = pytest.mark.e2e


def test_tenant_service_lists_the_ten_sandbox_numbers(admin_stack):
    r = httpx.get(f"{admin_stack.tenant_url}/api/v1/admin/whatsapp/phone-numbers", headers=Tokens().admin())
    assert r.status_code == 200, r.text
    numbers = r.json()
    assert len(numbers) == 10
    assert numbers[0]["display_phone_number"] == "+34 612 345 678"
    assert {n["quality_rating"] for n in numbers} == {"GREEN"}
    tenants = httpx.get(f"{admin_stack.tenant_url}/api/v1/admin/whatsapp/tenants", headers=Tokens().admin()).json()
    assert {t["tenant_name"] for t in tenants} >= {name for _, name in DEMO_BAKERIES}


def cli(stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "JWT_SECRET": TEST_JWT_SECRET,
        "BAKERY_TENANT_URL": stack.tenant_url,
        "BAKERY_NOTIFICATION_URL": stack.notification_url,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "bakery_cli", *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_cli_assigns_and_shows_with_trustworthy_exit_codes(admin_stack):
    tenant_a, name_a = DEMO_BAKERIES[2]
    tenant_b, _ = DEMO_BAKERIES[3]
    r = cli(admin_stack, "assign", str(tenant_a), "200000000000003")
    assert r.returncode == 0, r.stderr
    assert "Assigned +34 612 345 680 to " + name_a in r.stdout

    r = cli(admin_stack, "--json", "tenants")
    assert r.returncode == 0
    row = next(t for t in json.loads(r.stdout) if t["tenant_id"] == str(tenant_a))
    assert row["phone_number_id"] == "200000000000003"

    r = cli(admin_stack, "numbers")
    assert r.returncode == 0 and name_a in r.stdout and "GREEN" in r.stdout

    r = cli(admin_stack, "assign", str(tenant_b), "200000000000003")
    assert r.returncode == 1, "a refused request must exit 1"
    assert "already assigned" in r.stderr

    r = cli(admin_stack, "--json", "assign", str(tenant_b), "200000000000003")
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "phone_already_assigned"

    r = cli(admin_stack, "unassign", str(tenant_a))
    assert r.returncode == 0 and "turned WhatsApp off" in r.stdout

    r = cli(admin_stack, "--tenant-url", "http://127.0.0.1:9", "tenants")
    assert r.returncode == 3, "an unreachable service must exit 3"


def test_cli_loads_the_rate_card_and_shows_costs_beside_meta(admin_stack, tmp_path):
    admin_stack.start_notification()
    bad = tmp_path / "bad.csv"
    bad.write_text("Market,Currency,Marketing,Utility\nSpain,USD,0.05,0.02\n", encoding="utf-8")
    r = cli(admin_stack, "rates", "load", str(bad), "--effective-from", "2027-01-01")
    assert r.returncode == 1 and "billing currency EUR" in r.stderr, r.stderr
    good = tmp_path / "meta.csv"
    good.write_text("Rate card EUR\nMarket,Currency,Marketing,Utility\nSpain,EUR,0.0600,0.0195\n", encoding="utf-8")
    r = cli(admin_stack, "rates", "load", str(good), "--effective-from", "2027-01-01")
    assert r.returncode == 0 and "Loaded 2 rates" in r.stdout, r.stderr
    r = cli(admin_stack, "--json", "rates", "show")
    rates = json.loads(r.stdout)["rates"]
    assert {"market": "ES", "category": "utility", "rate": "0.019500", "effective_from": "2027-01-01"}.items() <= next(
        x for x in rates if x["market"] == "ES" and x["category"] == "utility" and x["effective_from"] == "2027-01-01"
    ).items()
    r = cli(admin_stack, "costs")
    assert r.returncode == 0 and "Meta EUR" in r.stdout and "difference" in r.stdout, r.stderr
