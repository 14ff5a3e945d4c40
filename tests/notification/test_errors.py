"""Graph errors by class: transient, throttled, permanent, credential (holds), ambiguous timeouts."""

from __future__ import annotations

import httpx
import pytest

from bakery_shared.db import create_engine, create_session_factory, transaction
from notification_service.domain.message import StatusReport
from notification_service.domain.statuses import MessageStatus
from notification_service.domain.transitions import reported
from notification_service.repositories import messages as messages_repo

from .conftest import Env, EnvFactory
from .helpers import TOKEN, Clock, graph_error, po_event, token


async def _queue(env: Env, **tenant_kwargs) -> str:
    tenant = env.tenants.add(**tenant_kwargs)
    response = await env.post_event(po_event(tenant))
    assert response.status_code == 202
    return str(response.json()["notification_id"])


@pytest.mark.parametrize(
    "error",
    [
        graph_error(131000, "Something went wrong", 500),
        graph_error(2, "Service temporarily unavailable", 503),
        graph_error(133004, "Server temporarily unavailable", 503),
        graph_error(131016, "Service unavailable", 500),
        graph_error(1, "Invalid request or possible server error", 400),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("no answer"),  # maybe delivered: counts against the budget too
    ],
)
async def test_transient_errors_back_off_then_fail_after_the_budget(
    make_env: EnvFactory, sqlite_url: str, error
) -> None:
    env = await make_env(sqlite_url, max_attempts=3)
    nid = await _queue(env)
    clock = Clock()
    d = env.dispatcher(clock=clock)
    env.graph.script = [error, error, error]
    await d.drain()
    message = await env.message(nid)
    assert message["status"] == "queued"
    assert message["attempts"] == 1
    assert message["error_code"]
    # not due yet: nothing happens
    assert await d.drain() == 0
    clock.advance(3600)
    await d.drain()
    clock.advance(3600)
    await d.drain()
    message = await env.message(nid)
    assert message["status"] == "failed", message
    assert message["attempts"] == 3
    assert message["status_reason"].startswith("attempts_exhausted")
    assert len(env.graph.sends) == 3


async def test_transient_then_success(env: Env) -> None:
    nid = await _queue(env)
    clock = Clock()
    d = env.dispatcher(clock=clock)
    env.graph.script = [graph_error(131000, "Something went wrong", 500)]
    await d.drain()
    first = await env.message(nid)
    assert first["status"] == "queued"
    assert first["status_reason"].startswith("retrying")
    clock.advance(10)  # backoff 1st retry: base 1 s (jittered)
    await d.drain()
    message = await env.message(nid)
    assert message["status"] == "sent"
    assert [a["outcome"] for a in message["attempt_log"]] == ["transient", "accepted"]


@pytest.mark.parametrize("code", [130429, 131056, 4, 80007])
async def test_throttling_delays_without_failing(make_env: EnvFactory, sqlite_url: str, code: int) -> None:
    env = await make_env(sqlite_url, max_attempts=2)
    nid = await _queue(env)
    clock = Clock()
    d = env.dispatcher(clock=clock)
    env.graph.script = [graph_error(code, "Rate limit hit")] * 5
    for _ in range(5):
        await d.drain()
        message = await env.message(nid)
        assert message["status"] == "queued", message
        assert message["status_reason"].startswith("throttled")
        assert message["error_code"] == str(code)
        clock.advance(3600)
    await d.drain()
    message = await env.message(nid)
    assert message["status"] == "sent"  # six attempts although the transient budget is 2
    assert message["attempts"] == 6


async def test_http_429_without_a_code_is_throttling(env: Env) -> None:
    nid = await _queue(env)
    env.graph.script = [httpx.Response(429, text="slow down")]
    await env.dispatcher().drain()
    message = await env.message(nid)
    assert message["status"] == "queued"
    assert message["status_reason"].startswith("throttled")


async def test_throttle_on_a_number_delays_other_messages_of_that_number(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, throttle_base_seconds=30)
    tenant = env.tenants.add()
    first = await env.post_event(po_event(tenant))
    clock = Clock()
    d = env.dispatcher(clock=clock)
    env.graph.script = [graph_error(130429, "Rate limit hit")]
    await d.drain()
    second = await env.post_event(po_event(tenant, supplier={"phone": "+34 611 111 111"}))
    clock.advance(1)
    await d.drain()
    assert len(env.graph.sends) == 1  # the number's slot was pushed: the second waits
    msg2 = await env.message(second.json()["notification_id"])
    assert msg2["status"] == "queued" and msg2["status_reason"].startswith("rate_limited")
    clock.advance(600)
    await d.drain()
    assert (await env.message(first.json()["notification_id"]))["status"] == "sent"
    assert (await env.message(second.json()["notification_id"]))["status"] == "sent"


@pytest.mark.parametrize(
    ("code", "status"),
    [(132000, 400), (132001, 404), (131026, 400), (131047, 400), (131008, 400), (131009, 400), (100, 400)],
)
async def test_permanent_errors_fail_at_once_with_code_title_details(env: Env, code: int, status: int) -> None:
    nid = await _queue(env)
    env.graph.script = [graph_error(code, "Template name does not exist", status, details="template po_x (es)")]
    await env.dispatcher().drain()
    message = await env.message(nid)
    assert message["status"] == "failed"
    assert message["error_code"] == str(code)
    assert "Template name does not exist" in message["error_message"]
    assert "template po_x (es)" in message["error_message"]
    assert message["error_details"] == "template po_x (es)"
    assert message["attempts"] == 1
    assert message["attempt_log"][0]["outcome"] == "permanent"


async def test_expired_token_holds_everything_until_the_token_file_is_rotated(
    make_env: EnvFactory, sqlite_url: str, tmp_path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("expired-token\n")
    env = await make_env(sqlite_url, whatsapp_access_token="", whatsapp_access_token_file=str(token_file))
    first = await _queue(env, phone_number_id="200000000000001")
    second = await _queue(env, phone_number_id="200000000000002")
    d = env.dispatcher()
    await d.drain()
    for nid in (first, second):
        message = await env.message(nid)
        assert message["status"] == "held", message
        assert message["status_reason"].startswith("credential: (190)")
        assert message["error_code"] == "190"
    ready = await env.ready()
    assert ready.status_code == 503
    assert "sending paused" in ready.json()["detail"]
    assert ready.json()["checks"]["sending"]["paused"][0]["scope"] == "account"

    # new messages are held without calling Meta
    sends_before = len(env.graph.sends)
    third = await _queue(env, phone_number_id="200000000000003")
    await d.drain()
    assert (await env.message(third))["status"] == "held"
    assert len(env.graph.sends) == sends_before

    # a probe with the old token keeps the hold
    assert await d.probe_holds(force=True) == 0
    # rotate the token through the file: the dispatcher notices and resumes by itself
    token_file.write_text(TOKEN + "\n")
    await d._maintenance()
    await d.drain()
    for nid in (first, second, third):
        assert (await env.message(nid))["status"] == "sent"
    ready = await env.ready()
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"]["sending"]["paused"] == []


async def test_number_problem_holds_only_that_number(env: Env) -> None:
    held = await _queue(env, phone_number_id="200000000000001")
    clock = Clock()
    d = env.dispatcher(clock=clock)
    env.graph.script = [graph_error(131031, "Business account locked", 403)]
    await d.drain()
    message = await env.message(held)
    assert message["status"] == "held"
    assert message["status_reason"].startswith("restricted: (131031)")
    other = await _queue(env, phone_number_id="200000000000002")
    await d.drain()
    assert (await env.message(other))["status"] == "sent"
    ready = (await env.ready()).json()
    assert ready["status"] == "degraded"
    assert ready["checks"]["sending"]["paused"][0] == {
        **ready["checks"]["sending"]["paused"][0],
        "scope": "phone_number",
        "key": "200000000000001",
    }
    # a send-only restriction is probed by one real send once due (a read would succeed and prove nothing)
    assert await d.probe_holds() == 0  # not due yet
    clock.advance(31)
    assert await d.probe_holds() == 1
    assert env.graph.probes == []
    await d.drain()
    assert (await env.message(held))["status"] == "sent"
    ready = (await env.ready()).json()
    assert ready["checks"]["sending"]["paused"] == []


@pytest.mark.parametrize("code", [0, 190, 10, 131005, 131042, 368, 131048, 131031])
async def test_credential_codes_hold(env: Env, code: int) -> None:
    nid = await _queue(env)
    env.graph.script = [graph_error(code, "Account problem", 403)]
    await env.dispatcher().drain()
    message = await env.message(nid)
    assert message["status"] == "held"
    assert message["error_code"] == str(code)


async def test_missing_token_holds_and_readiness_names_the_variables(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, whatsapp_access_token="", whatsapp_business_account_id="")
    ready = await env.ready()
    assert ready.status_code == 503
    detail = ready.json()["detail"]
    assert "WhatsApp master account not configured" in detail
    assert "WHATSAPP_BUSINESS_ACCOUNT_ID" in detail and "WHATSAPP_ACCESS_TOKEN" in detail
    nid = await _queue(env)
    await env.dispatcher().drain()
    message = await env.message(nid)
    assert message["status"] == "held"
    assert env.graph.sends == []


async def test_ambiguous_timeout_waits_for_a_webhook_before_resending(env: Env) -> None:
    nid = await _queue(env)
    clock = Clock()
    d = env.dispatcher(clock=clock)
    env.graph.script = [httpx.ReadTimeout("no answer")]
    await d.drain()
    message = await env.message(nid)
    assert message["status"] == "queued"
    assert message["status_reason"].startswith("ambiguous_timeout")
    assert message["attempt_log"][0]["outcome"] == "timeout_ambiguous"
    clock.advance(10)
    assert await d.drain() == 0  # inside the grace period: no resend
    # a status webhook carrying our callback data arrives (issue 5 will call this)
    from notification_service.domain.statuses import notification_id_from_callback

    payload = env.graph.sends[0]["payload"]
    found = notification_id_from_callback(payload["biz_opaque_callback_data"])
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            message_row = await messages_repo.find_for_status(session, wamid=None, notification_id=found)
            assert message_row is not None
            report = StatusReport(status=MessageStatus.DELIVERED, at=clock(), wamid="wamid.LATE")
            update = reported(message_row, report, clock())
            assert update is not None and await messages_repo.apply(session, update) == 1
    finally:
        await engine.dispose()
    clock.advance(60)
    assert await d.drain() == 0
    message = await env.message(nid)
    assert message["status"] == "delivered"
    assert message["wamid"] == "wamid.LATE"
    assert len(env.graph.sends) == 1
    assert message["possible_duplicates"] == 0


async def test_ambiguous_timeout_without_webhook_resends_and_counts_a_possible_duplicate(env: Env) -> None:
    nid = await _queue(env)
    clock = Clock()
    d = env.dispatcher(clock=clock)
    env.graph.script = [httpx.ReadTimeout("no answer")]
    await d.drain()
    clock.advance(31)
    await d.drain()
    message = await env.message(nid)
    assert message["status"] == "sent"
    assert message["possible_duplicates"] == 1
    assert len(env.graph.sends) == 2


async def test_admin_retry_really_resends_a_failed_message(env: Env) -> None:
    nid = await _queue(env)
    env.graph.script = [graph_error(132001, "Template does not exist", 404)]
    d = env.dispatcher()
    await d.drain()
    assert (await env.message(nid))["status"] == "failed"
    owner = token(env.settings, "owner", (await env.message(nid))["tenant_id"])
    assert (await env.client.post(f"/api/v1/messages/{nid}/retry", headers=owner)).status_code == 403
    response = await env.client.post(f"/api/v1/messages/{nid}/retry", headers=token(env.settings, "admin"))
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    await d.drain()
    message = await env.message(nid)
    assert message["status"] == "sent"
    assert len(env.graph.sends) == 2
    again = await env.client.post(f"/api/v1/messages/{nid}/retry", headers=token(env.settings, "admin"))
    assert again.status_code == 409
    missing = await env.client.post(
        "/api/v1/messages/00000000-0000-0000-0000-000000000000/retry", headers=token(env.settings, "admin")
    )
    assert missing.status_code == 404


async def test_token_echoed_by_meta_is_stored_shown_and_logged_nowhere(any_env: Env) -> None:
    """Meta's code-190 message can echo the access token ("Malformed access token EAA…"). After a send that gets
    such an answer, the token (the configured one and any EAA…-shaped one) is in no row of any table, not on
    /health/ready (anonymous or admin), not in the owner's message view, not in any log line."""
    import io
    import json
    import logging

    import sqlalchemy as sa

    from bakery_shared.logging import configure_logging
    from notification_service.models import metadata

    env = any_env
    meta_shaped = "EAAGm0PX4ZCpsBAKZCabc123def456ghi789"
    echo = graph_error(190, f"Malformed access token {TOKEN}", 401, details=f"token {meta_shaped} is invalid")
    configure_logging("INFO", secrets=env.settings.log_secrets(), service="notification-service")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_bakery", False))
    stream = io.StringIO()
    original = handler.stream  # type: ignore[attr-defined]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        nid = await _queue(env)
        env.graph.script = [echo]
        env.graph.valid_tokens = set()  # the probe of the hold fails too: the message stays held
        d = env.dispatcher()
        await d.drain()
        await d.probe_holds(force=True)
        message = await env.message(nid)
        tenant_id = message["tenant_id"]
        owner_view = await env.client.get(f"/api/v1/messages/{nid}", headers=token(env.settings, "owner", tenant_id))
        anonymous = await env.ready(role=None)
        admin = await env.ready()
    finally:
        handler.stream = original  # type: ignore[attr-defined]
        logging.getLogger().setLevel(logging.WARNING)

    assert message["status"] == "held" and message["error_code"] == "190"
    assert "Malformed access token [REDACTED]" in message["status_reason"]
    assert owner_view.status_code == 200
    assert anonymous.status_code == admin.status_code == 503
    assert anonymous.json() == {
        "status": "not_ready",
        "not_ready": ["sending"],
        "detail": "Not ready: sending. An admin or service token shows the details.",
        "code": "not_ready",
    }
    assert "[REDACTED]" in admin.json()["checks"]["sending"]["paused"][0]["reason"]

    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            stored = {
                t.name: [dict(r._mapping) for r in await conn.execute(sa.select(t))] for t in metadata.sorted_tables
            }
    finally:
        await engine.dispose()
    assert stored["whatsapp_message_attempts"] and stored["sending_holds"]
    logs = stream.getvalue()
    assert logs.strip() and all(json.loads(line) for line in logs.splitlines() if line.strip())
    places = {
        "database": repr(stored),
        "message (admin)": json.dumps(message),
        "message (owner)": owner_view.text,
        "/health/ready anonymous": anonymous.text,
        "/health/ready admin": admin.text,
        "logs": logs,
    }
    leaks = [f"{what} in {where}" for where, text in places.items() for what in (TOKEN, meta_shaped) if what in text]
    assert not leaks, leaks


async def test_admin_sub_longer_than_the_audit_columns_is_refused_not_a_500(any_env: Env) -> None:
    """An admin token whose ``sub`` is longer than ``status_reason`` was a 500 on retry (PostgreSQL). A ``sub``
    over 128 characters (or with control characters) is now an invalid token (401); 128 fit where stored."""
    from bakery_shared.auth import Role, issue_token

    env = any_env
    nid = await _queue(env)
    env.graph.script = [graph_error(132001, "Template does not exist", 404)]
    await env.dispatcher().drain()

    def admin(sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(env.settings, role=Role.ADMIN, sub=sub)}"}

    for sub in ("a" * 600, "a" * 129, "admin\u0000x"):
        response = await env.client.post(f"/api/v1/messages/{nid}/retry", headers=admin(sub))
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_token" and "sub" in response.json()["detail"]
    longest = "b" * 128
    response = await env.client.post(f"/api/v1/messages/{nid}/retry", headers=admin(longest))
    assert response.status_code == 202, response.text
    assert (await env.message(nid))["status_reason"] == f"retry requested by {longest}"
