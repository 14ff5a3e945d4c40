"""Readiness: database, master account, Graph API version, sending holds, queue depth and age, RabbitMQ consumer."""

from __future__ import annotations

from typing import Any

from bakery_shared.db import utcnow
from bakery_shared.graph_versions import VersionStatus, version_status
from notification_service.domain.decisions import ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import queue as queue_repo
from notification_service.repositories.common import ping
from notification_service.repositories.holds import Hold
from notification_service.repositories.queue import QueueStats
from notification_service.runtime import Runtime


def api_version(runtime: Runtime) -> VersionStatus:
    """The configured Graph API version on the runtime's day (bakery_shared.graph_versions)."""
    return version_status(runtime.settings.whatsapp_api_version, runtime.today())


async def readiness(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    """(ready, body). Not ready: database down, master account not configured, the Graph API version past its end
    (Meta refuses every call), or the whole account on hold. Degraded: a hold, no app secret, the version ends
    within 90 days, or (with ``RABBITMQ_URL``) the purchase-order consumer not consuming."""
    problems: list[str] = []
    not_ready: list[str] = []  # component names: all an anonymous caller learns (see public_view)
    checks: dict[str, Any] = {}
    holds: list[Hold] = []
    queue: QueueStats | None = None
    try:
        async with runtime.sessions() as session:
            await ping(session)
            holds = await holds_repo.holds(session)
            queue = await queue_repo.queue_stats(session)
        checks["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - report, do not crash the probe
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        problems.append("database unavailable")
        not_ready.append("database")
        holds, queue = [], None

    missing = runtime.settings.missing_master_account_variables()
    checks["whatsapp_master_account"] = {"ok": not missing, "missing": missing}
    if missing:
        problems.append("WhatsApp master account not configured: missing " + ", ".join(missing))
        not_ready.append("whatsapp_master_account")

    version = api_version(runtime)
    checks["graph_api_version"] = {"ok": version.ok, **version.as_dict()}
    if not version.ok:
        problems.append(version.message or "Graph API version unusable")
        not_ready.append("graph_api_version")

    hold_list: list[dict[str, Any]] = [
        {
            "scope": h.scope,
            "key": h.scope_key,
            "kind": h.kind,
            "reason": h.reason,
            "since": h.created_at.isoformat(),
            "next_probe_at": h.next_probe_at.isoformat() if h.next_probe_at else None,
        }
        for h in holds
    ]
    # the environment's account held stops the service (every bakery without an account of its own); another
    # account's hold stops only its bakeries: degraded, like a number's (issue 18)
    account_holds = [h for h in hold_list if h["scope"] == ACCOUNT_SCOPE and h["key"] == MASTER_ACCOUNT_KEY]
    checks["sending"] = {"ok": not account_holds, "paused": hold_list}
    if account_holds:
        problems.append("sending paused for the whole account: " + account_holds[0]["reason"])
        not_ready.append("sending")

    if queue is not None:
        oldest = queue.oldest_created_at
        checks["queue"] = {
            "depth": queue.depth,
            "held": queue.held,
            "oldest_age_seconds": round((utcnow() - oldest).total_seconds(), 3) if oldest else 0.0,
        }
    secret_ok = bool(runtime.settings.whatsapp_app_secret.get_secret_value())
    verify_ok = bool(runtime.settings.whatsapp_webhook_verify_token.get_secret_value())
    checks["webhooks"] = {
        "ok": secret_ok,
        "verify_token_configured": verify_ok,
        #: changes of entries whose WABA is no account of the platform, refused since this process started
        "unknown_account_changes": runtime.webhooks.unknown_account_changes,
        "detail": None
        if secret_ok
        else "WHATSAPP_APP_SECRET not configured: every webhook POST is refused (503); "
        "delivery statuses, costs and quality updates are not received",
    }
    sync = runtime.sync
    checks["whatsapp_sync"] = {
        "enabled": runtime.settings.whatsapp_sync_enabled,
        "last_run_at": sync.last_run.isoformat() if sync.last_run else None,
        "last_status": (sync.last_result or {}).get("status"),
    }
    dispatcher = runtime.dispatcher
    checks["dispatcher"] = {
        "in_process": dispatcher is not None,
        "running": bool(dispatcher and dispatcher.running),
    }
    consumer = runtime.po_consumer
    checks["rabbitmq_consumer"] = consumer.status() if consumer is not None else {"enabled": False}
    consumer_detail = None
    if consumer is not None and not consumer.consuming:
        # degraded, not "not ready": the HTTP route still takes purchase orders, and the broker keeps the messages
        consumer_detail = (
            f"not consuming RabbitMQ queue {consumer.queue_name} ({consumer.last_error or 'not connected'}): "
            "purchase orders published there wait in the broker; POST /api/v1/events/purchase-orders works"
        )
        checks["rabbitmq_consumer"]["detail"] = consumer_detail
    ready = not problems
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "not_ready": not_ready, "checks": checks}
    if not ready:
        body["detail"] = "; ".join(problems)
        body["code"] = "not_ready"
    elif hold_list or not secret_ok or version.message or consumer_detail:
        body["status"] = "degraded"
        warnings = [checks["webhooks"]["detail"]] if not secret_ok else []
        warnings += [version.message] if version.message else []
        warnings += [consumer_detail] if consumer_detail else []
        if warnings:
            body["detail"] = "; ".join(warnings)
    return ready, body


def public_view(body: dict[str, Any]) -> dict[str, Any]:
    """What a caller without an admin or service token sees: the status and the names of the components that are
    not ready, no reasons (a hold reason is Meta's text; the details are for operators)."""
    view: dict[str, Any] = {"status": body["status"], "not_ready": body["not_ready"]}
    if body["not_ready"]:
        view["detail"] = "Not ready: " + ", ".join(body["not_ready"]) + ". An admin or service token shows the details."
        view["code"] = "not_ready"
    return view
