"""The send pipeline end to end: real sandbox, tenant and notification processes talking HTTP."""

from __future__ import annotations

import asyncio
import collections
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from bakery_shared.db import create_engine
from tenant_service.seed_demo import DEMO_BAKERIES
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.e2e.flows import enable_whatsapp, message, po_event, post_event, sandbox_messages, tokens, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sqlite_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stack")
    stack = Stack.sqlite(workdir, RECIPIENT_MIN_INTERVAL_SECONDS="0", TENANT_SETTINGS_TTL_SECONDS="0.5")
    stack.start_all()
    yield stack
    stack.stop_all()


def test_seed_step5_po_event_reaches_the_supplier_from_the_bakerys_number(sqlite_stack):
    stack = sqlite_stack
    tenant_id, _ = DEMO_BAKERIES[0]
    enable_whatsapp(stack, tenant_id, "200000000000001")
    body = po_event(tenant_id, phone="612 000 111", number="PO-2026-0001", amount="1250.00")
    started = time.monotonic()
    accepted = post_event(stack, body)
    assert accepted["status"] == "queued"
    nid = accepted["notification_id"]

    def in_sandbox():
        return [m for m in sandbox_messages(stack) if nid in (m["request"].get("biz_opaque_callback_data") or "")]

    sent = wait_for(in_sandbox, timeout=5, what="the message in the sandbox")
    assert time.monotonic() - started < 2.0, "the seed flow promises the message within about a second"
    request = sent[0]["request"]
    assert sent[0]["phone_number_id"] == "200000000000001", "sent from the bakery's own number"
    assert request["to"] == "+34612000111"
    assert request["template"]["name"] == "po_notification"
    assert request["template"]["language"]["code"] == "es"
    params = [p["text"] for p in request["template"]["components"][0]["parameters"]]
    assert params == ["Harinas Ana", "PO-2026-0001", "1.250,00 €"]
    msg = wait_for(
        lambda: (m := message(stack, nid))["status"] in ("sent", "delivered", "read") and m, what="status sent"
    )
    assert msg["wamid"] == sent[0]["wamid"]

    # The same event again: 200 with the same notification; same id, other body: 409.
    again = httpx.post(f"{stack.notification_url}/api/v1/events/purchase-orders", json=body, headers=tokens.service())
    assert again.status_code == 200 and again.json()["notification_id"] == nid
    body["purchase_order"]["total_amount"] = "99.00"
    conflict = httpx.post(
        f"{stack.notification_url}/api/v1/events/purchase-orders", json=body, headers=tokens.service()
    )
    assert conflict.status_code == 409


def test_english_supplier_and_skips(sqlite_stack):
    stack = sqlite_stack
    tenant_id, _ = DEMO_BAKERIES[1]
    enable_whatsapp(stack, tenant_id, "200000000000002")
    nid = post_event(stack, po_event(tenant_id, phone="+44 7911 123456", language="en", amount="1250"))[
        "notification_id"
    ]
    msg = wait_for(lambda: (m := message(stack, nid))["status"] not in ("queued", "sending") and m, what="english send")
    assert msg["language"] == "en" and msg["template_parameters"][2] == "€1,250.00"

    off_tenant, _ = DEMO_BAKERIES[5]  # never enabled, no number
    nid = post_event(stack, po_event(off_tenant))["notification_id"]
    msg = wait_for(lambda: (m := message(stack, nid))["status"] == "skipped" and m, what="skip")
    assert msg["status_reason"]


def test_tenant_service_down_then_up(sqlite_stack):
    stack = sqlite_stack
    tenant_id, _ = DEMO_BAKERIES[2]
    enable_whatsapp(stack, tenant_id, "200000000000003")
    stack.procs["tenant"].stop()
    try:
        time.sleep(0.6)  # let the cached settings go stale
        nid = post_event(stack, po_event(tenant_id, phone="+34 612 000 333"))["notification_id"]
        time.sleep(1.5)
        assert message(stack, nid)["status"] in ("queued", "sending", "sent"), "never failed or lost"
    finally:
        stack.start_tenant()
    msg = wait_for(
        lambda: (m := message(stack, nid))["status"] in ("sent", "delivered", "read") and m,
        timeout=30,
        what="sent after the tenant service came back",
    )
    assert msg["phone_number_id"] == "200000000000003"


@pytest.fixture
def pg_stack(tmp_path):
    tenant_db = create_postgres_database()
    notification_db = create_postgres_database()
    stack = Stack(
        tmp_path,
        tenant_db=tenant_db,
        notification_db=notification_db,
        extra_env={
            "RECIPIENT_MIN_INTERVAL_SECONDS": "0",
            "RATE_PER_NUMBER_PER_SECOND": "80",
            "SANDBOX_THROUGHPUT_PER_SECOND": "1000",
            "TENANT_DAILY_NEW_RECIPIENT_CAP": "0",
        },
    )
    try:
        yield stack
    finally:
        stack.stop_all()
        drop_postgres_database(tenant_db)
        drop_postgres_database(notification_db)


@pytest.mark.postgres
def test_two_dispatcher_processes_never_send_a_message_twice(pg_stack):
    stack = pg_stack
    stack.migrate()
    stack.start_sandbox()
    stack.start_tenant()
    stack.start_notification(DISPATCHER_ENABLED="false")
    tenants = DEMO_BAKERIES[:6]
    for i, (tenant_id, _) in enumerate(tenants, start=1):
        enable_whatsapp(stack, tenant_id, f"2000000000000{i:02d}")
    ids = []
    with httpx.Client() as client:
        for n in range(300):
            tenant_id, _ = tenants[n % len(tenants)]
            ids.append(post_event(stack, po_event(tenant_id, phone=f"+34 612 {n:06d}"), client)["notification_id"])
    stack.start_dispatcher("dispatcher-1")
    stack.start_dispatcher("dispatcher-2")

    def all_sent() -> bool:
        return len(sandbox_messages(stack)) >= 300

    wait_for(all_sent, timeout=60, interval=0.5, what="300 sends")
    time.sleep(1)  # anything sent twice would show up now
    per_notification = collections.Counter(
        m["request"]["biz_opaque_callback_data"].split(":", 1)[1] for m in sandbox_messages(stack)
    )
    assert set(per_notification) == set(ids)
    assert max(per_notification.values()) == 1, "a message was sent twice"

    async def dispatchers_used() -> set[str]:
        engine = create_engine(stack.notification_db)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT DISTINCT dispatcher_id FROM whatsapp_message_attempts"))
            found = {r[0] for r in rows}
        await engine.dispose()
        return found

    assert len(asyncio.run(dispatchers_used())) == 2, "both dispatcher processes should have taken part"

    async def seed_query() -> list:
        engine = create_engine(stack.notification_db)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT tenant_id, recipient_phone, status, created_at, error_message FROM whatsapp_messages "
                        "WHERE created_at > NOW() - INTERVAL '24 hours' ORDER BY created_at DESC;"
                    )
                )
            ).all()
        await engine.dispose()
        return rows

    rows = asyncio.run(seed_query())
    assert len(rows) == 300 and rows[0].created_at > datetime.now(UTC) - timedelta(hours=1)


def test_issue5_read_cost_and_quality_hold_through_real_webhooks(sqlite_stack):
    """make run's promise: a message reaches read from the sandbox's signed webhooks, the costs endpoint shows it,
    and a RED number holds its next message until it is GREEN again."""
    from tests.e2e.flows import sandbox_control

    stack = sqlite_stack
    tenant_id, _ = DEMO_BAKERIES[3]
    enable_whatsapp(stack, tenant_id, "200000000000004")
    nid = post_event(stack, po_event(tenant_id, phone="+34 612 000 444"))["notification_id"]
    msg = wait_for(lambda: (m := message(stack, nid))["status"] == "read" and m, timeout=20, what="read")
    assert msg["delivered_at"] and msg["read_at"]
    month = msg["created_at"][:7]
    costs = httpx.get(
        f"{stack.notification_url}/api/v1/admin/whatsapp/costs", params={"month": month}, headers=tokens.admin()
    ).json()
    row = next(t for t in costs["tenants"] if t["tenant_id"] == str(tenant_id))
    assert row["messages"] >= 1 and row["billable"] >= 1 and float(row["cost_eur"]) > 0

    sandbox_control(stack, "phone_numbers/200000000000004", {"quality_rating": "RED"})

    def quality():
        return httpx.get(f"{stack.notification_url}/api/v1/admin/whatsapp/quality", headers=tokens.admin()).json()

    wait_for(
        lambda: any(n["phone_number_id"] == "200000000000004" and n["held"] for n in quality()["numbers"]),
        timeout=15,
        what="the RED number held",
    )
    held = post_event(stack, po_event(tenant_id, phone="+34 612 000 445"))["notification_id"]
    wait_for(lambda: message(stack, held)["status"] == "held", timeout=10, what="next message held")
    time.sleep(1)
    assert message(stack, held)["status"] == "held", "nothing goes out while the number is RED"

    sandbox_control(stack, "phone_numbers/200000000000004", {"quality_rating": "GREEN"})
    wait_for(
        lambda: message(stack, held)["status"] in ("sent", "delivered", "read"), timeout=20, what="sent after recovery"
    )


def test_cli_costs_and_messages_name_the_bakeries(sqlite_stack):
    import json

    from tests.e2e.test_admin_stack import cli

    tenant_id, name = DEMO_BAKERIES[0]  # sent a message in the Step 5 test of this module
    r = cli(sqlite_stack, "--json", "costs")
    assert r.returncode == 0, r.stderr
    row = next(t for t in json.loads(r.stdout)["tenants"] if t["tenant_id"] == str(tenant_id))
    assert row["tenant_name"] == name and row["messages"] >= 1
    r = cli(sqlite_stack, "messages", "--tenant", str(tenant_id), "--limit", "5")
    assert r.returncode == 0 and "+34612000111" in r.stdout
