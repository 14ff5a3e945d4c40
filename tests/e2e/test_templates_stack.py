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


def plan(stack: Stack) -> dict[tuple[str, str], tuple[str, object]]:
    r = cli(stack, "--json", "templates", "plan")
    assert r.returncode == 0, r.stderr
    return {
        (t["name"], t["language"]): (t["state"], (t["waba"] or {}).get("status"))
        for t in json.loads(r.stdout)["templates"]
    }


KINDS = ("po_notification", "po_notification_document", "inventory_alert", "production_alert")


def test_plan_then_submit_then_approved(empty_waba_stack):
    r = cli(empty_waba_stack, "templates", "plan")
    assert r.returncode == 0, r.stderr
    # the purchase order, its PDF variant (a DOCUMENT header) and the two staff alerts, es and en
    assert r.stdout.count("missing") == 8 and "po_notification_document" in r.stdout and "UTILITY" in r.stdout
    assert "unbuildable" not in r.stdout

    # every one is created: the PDF variant's header example is a sample PDF sent through the Resumable Upload API
    r = cli(empty_waba_stack, "templates", "submit")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PENDING" in r.stdout and "8 created, 0 skipped, 0 refused" in r.stdout

    r = cli(empty_waba_stack, "--json", "templates", "submit")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert (again["created"], again["skipped"], again["refused"], again["unbuildable"]) == (0, 8, 0, 0)

    approved = {(name, lang): ("present", "APPROVED") for name in KINDS for lang in ("es", "en")}
    deadline = time.monotonic() + 15
    while True:
        states = plan(empty_waba_stack)
        if states == approved or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == approved

    # the DOCUMENT header at "Meta" carries the handle of the uploaded sample (the sandbox refuses one it did not
    # issue, 2388273)
    listed = httpx.get(
        f"{empty_waba_stack.sandbox_url}/v25.0/100000000000001/message_templates",
        params={"name": "po_notification_document"},
        headers={"Authorization": "Bearer sandbox-access-token"},
    ).json()["data"]
    headers = [c for t in listed for c in t["components"] if c["type"] == "HEADER"]
    assert len(headers) == 2 and all(h["format"] == "DOCUMENT" and h["example"]["header_handle"][0] for h in headers)

    # the service recorded the review from the sandbox's webhook (its own table, not a read of the WABA)
    recorded = httpx.get(
        f"{empty_waba_stack.notification_url}/api/v1/admin/whatsapp/templates", headers=Tokens().admin()
    ).json()
    po = next(t for t in recorded["templates"] if t["name"] == "po_notification")
    assert {lang["language"]: lang["status"] for lang in po["languages"]} == {"es": "APPROVED", "en": "APPROVED"}
