"""Secrets never leak: run the product's flows against real processes, then scan every response body and header
and every line the services logged for the master access token, the app secret, the verify token, the JWT secret
and the bearer tokens that were used."""

from __future__ import annotations

import re

import httpx
import pytest

from tenant_service.seed_demo import DEMO_BAKERIES
from tests.e2e.flows import enable_whatsapp, message, po_event, post_event, sandbox_control, tokens, wait_for
from tests.helpers import TEST_JWT_SECRET
from tests.stack import APP_SECRET, SANDBOX_TOKEN, VERIFY_TOKEN

pytestmark = pytest.mark.e2e


def test_flows_never_expose_secrets(live_stack):
    stack = live_stack
    responses: list[httpx.Response] = []

    def keep(r: httpx.Response) -> httpx.Response:
        responses.append(r)
        return r

    tenant_id, _ = DEMO_BAKERIES[4]
    admin, owner = tokens.admin(), tokens.owner(tenant_id)
    enable_whatsapp(stack, tenant_id, "200000000000005")
    keep(httpx.get(f"{stack.tenant_url}/api/v1/admin/whatsapp/phone-numbers", headers=admin))
    keep(httpx.get(f"{stack.tenant_url}/api/v1/admin/whatsapp/tenants", headers=admin))
    keep(httpx.get(f"{stack.tenant_url}/api/v1/tenants/{tenant_id}/settings/notifications", headers=owner))
    keep(httpx.get(f"{stack.tenant_url}/health/ready"))
    keep(httpx.get(f"{stack.notification_url}/health/ready"))
    keep(httpx.get(f"{stack.tenant_url}/metrics", headers=admin))
    keep(httpx.get(f"{stack.notification_url}/metrics", headers=admin))
    keep(
        httpx.get(
            f"{stack.notification_url}/api/v1/whatsapp/webhook",
            params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        )
    )
    keep(httpx.get(f"{stack.tenant_url}/openapi.json"))
    keep(httpx.get(f"{stack.notification_url}/openapi.json"))

    nid = post_event(stack, po_event(tenant_id, phone="+34 612 000 555"))["notification_id"]
    wait_for(lambda: message(stack, nid)["status"] == "read", timeout=30, what="read")
    keep(httpx.get(f"{stack.notification_url}/api/v1/messages/{nid}", headers=admin))
    keep(httpx.get(f"{stack.notification_url}/api/v1/messages", headers=owner))
    keep(
        httpx.post(
            f"{stack.notification_url}/api/v1/tenants/{tenant_id}/whatsapp/test-message",
            json={"to": "+34 612 000 556"},
            headers=owner,
        )
    )

    # The master token expires at Meta: the error path must not echo it either.
    sandbox_control(stack, "token/expire")
    try:
        keep(httpx.get(f"{stack.tenant_url}/api/v1/admin/whatsapp/phone-numbers", headers=admin))
        assert responses[-1].status_code == 502 and "expired" in responses[-1].text
        nid2 = post_event(stack, po_event(tenant_id, phone="+34 612 000 557"))["notification_id"]
        wait_for(lambda: message(stack, nid2)["status"] == "held", timeout=15, what="held on 190")
        keep(httpx.get(f"{stack.notification_url}/health/ready"))
        keep(httpx.get(f"{stack.notification_url}/api/v1/messages/{nid2}", headers=admin))
    finally:
        sandbox_control(stack, "token", {"token": SANDBOX_TOKEN})

    secrets = {
        "access token": SANDBOX_TOKEN,
        "app secret": APP_SECRET,
        "verify token": VERIFY_TOKEN,
        "JWT secret": TEST_JWT_SECRET,
        "admin bearer token": admin["Authorization"].split()[1],
        "owner bearer token": owner["Authorization"].split()[1],
    }
    any_jwt = re.compile(r"eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{10,}")  # e.g. the service token it mints itself
    leaks = []
    for r in responses:
        blob = r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        leaks += [
            f"{name} in response of {r.request.method} {r.request.url.path}"
            for name, value in secrets.items()
            if value in blob
        ]
        if any_jwt.search(blob):
            leaks.append(f"a JWT in response of {r.request.method} {r.request.url.path}")
    for name in ("tenant", "notification"):
        log = stack.procs[name].log()
        assert log.strip(), f"{name} logged nothing: the scan would prove nothing"
        leaks += [f"{secret} in the {name} service's log" for secret, value in secrets.items() if value in log]
        if any_jwt.search(log):
            leaks.append(f"a JWT in the {name} service's log")
    assert not leaks, leaks
