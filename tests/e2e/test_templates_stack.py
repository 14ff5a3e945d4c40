"""``bakery-admin templates plan`` / ``submit`` through real processes: the CLI calls the notification service,
which reads and creates the templates at the sandbox (Meta's edge); the sandbox's review approves them and its
``message_template_status_update`` webhook reaches the service, so the next plan reports them APPROVED."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.e2e.test_admin_stack import cli
from tests.helpers import Tokens
from tests.stack import Stack
from wa_sandbox.seed import load_seed

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def empty_waba_stack(tmp_path_factory):
    """Sandbox (a WABA without templates, review after 0.3 s) + notification service, real processes on SQLite."""
    workdir = tmp_path_factory.mktemp("templates-stack")
    seed = load_seed()
    seed["templates"] = []
    seed_file = workdir / "seed.json"
    seed_file.write_text(json.dumps(seed), encoding="utf-8")
    stack = Stack.sqlite(workdir)
    stack.migrate()
    stack.start_sandbox(SANDBOX_SEED_FILE=str(seed_file), SANDBOX_TEMPLATE_AUTO_APPROVE_SECONDS="0.3")
    stack.start_notification()
    yield stack
    stack.stop_all()


def plan(stack: Stack) -> dict[str, dict[str, object]]:
    r = cli(stack, "--json", "templates", "plan")
    assert r.returncode == 0, r.stderr
    return {t["language"]: t for t in json.loads(r.stdout)["templates"] if t["name"] == "po_notification"}


def test_plan_then_submit_then_approved(empty_waba_stack):
    r = cli(empty_waba_stack, "templates", "plan")
    assert r.returncode == 0, r.stderr
    # the purchase order and the two staff alerts, es and en; the PDF variant cannot be built (DOCUMENT header)
    assert r.stdout.count("missing") == 6 and "po_notification" in r.stdout and "UTILITY" in r.stdout
    assert r.stdout.count("unbuildable") == 2

    # exit 1: the PDF variant is not buildable here (the admin creates it in WhatsApp Manager); the rest is created
    r = cli(empty_waba_stack, "templates", "submit")
    assert r.returncode == 1, r.stderr
    assert "2 not buildable" in r.stdout
    assert r.stdout.count("created") >= 2 and "PENDING" in r.stdout and "6 created, 0 skipped, 0 refused" in r.stdout

    r = cli(empty_waba_stack, "--json", "templates", "submit")
    assert r.returncode == 1, r.stderr
    again = json.loads(r.stdout)
    assert (again["created"], again["skipped"], again["refused"]) == (0, 6, 0)

    deadline = time.monotonic() + 15
    while True:
        states = {lang: (t["state"], (t["waba"] or {}).get("status")) for lang, t in plan(empty_waba_stack).items()}
        if states == {"es": ("present", "APPROVED"), "en": ("present", "APPROVED")} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == {"es": ("present", "APPROVED"), "en": ("present", "APPROVED")}

    # the service recorded the review from the sandbox's webhook (its own table, not a read of the WABA)
    recorded = httpx.get(
        f"{empty_waba_stack.notification_url}/api/v1/admin/whatsapp/templates", headers=Tokens().admin()
    ).json()
    po = next(t for t in recorded["templates"] if t["name"] == "po_notification")
    assert {lang["language"]: lang["status"] for lang in po["languages"]} == {"es": "APPROVED", "en": "APPROVED"}
