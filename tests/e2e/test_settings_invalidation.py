"""Issue 13 item 3 through real processes: after an unassign the notification service stops using the number at
once, although its settings cache would keep the old copy for ten minutes."""

from __future__ import annotations

import httpx
import pytest

from tenant_service.seed_demo import DEMO_BAKERIES
from tests.e2e.flows import enable_whatsapp, message, po_event, post_event, sandbox_messages, tokens, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.e2e

NUMBER = "200000000000004"


@pytest.fixture(scope="module")
def long_cache_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("invalidation-stack")
    stack = Stack.sqlite(workdir, RECIPIENT_MIN_INTERVAL_SECONDS="0", TENANT_SETTINGS_TTL_SECONDS="600")
    stack.start_all()
    yield stack
    stack.stop_all()


def _sent(stack: Stack, nid: str) -> dict:
    return wait_for(
        lambda: (m := message(stack, nid))["status"] in ("sent", "delivered", "read") and m, what=f"{nid} sent"
    )


def test_after_an_unassign_the_next_message_reads_fresh_settings(long_cache_stack):
    stack = long_cache_stack
    a, _ = DEMO_BAKERIES[3]
    b, _ = DEMO_BAKERIES[4]
    enable_whatsapp(stack, a, NUMBER)
    first = post_event(stack, po_event(a, phone="+34 612 000 401"))["notification_id"]
    assert _sent(stack, first)["phone_number_id"] == NUMBER  # A's settings are now cached for 600 s

    r = httpx.delete(f"{stack.tenant_url}/api/v1/admin/whatsapp/tenants/{a}/unassign-phone", headers=tokens.admin())
    assert r.status_code == 200, r.text
    enable_whatsapp(stack, b, NUMBER)  # the number now belongs to B

    second = post_event(stack, po_event(a, phone="+34 612 000 402"))["notification_id"]
    msg = wait_for(
        lambda: (m := message(stack, second))["status"] not in ("queued", "sending") and m, what="A's second message"
    )
    assert msg["status"] == "skipped", f"A no longer holds {NUMBER}; got {msg['status']} from {msg['phone_number_id']}"
    assert not [m for m in sandbox_messages(stack) if second in (m["request"].get("biz_opaque_callback_data") or "")]

    third = post_event(stack, po_event(b, phone="+34 612 000 403"))["notification_id"]
    assert _sent(stack, third)["phone_number_id"] == NUMBER
    log = stack.procs["notification"].log()
    assert f"tenant settings invalidated tenant_id={a}" in log
