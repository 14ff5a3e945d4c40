"""The real services as subprocesses on free ports, for the browser tests (session-scoped fixture ``stack``).

Started here: the WhatsApp sandbox (``python -m wa_sandbox``), the tenant service on a temporary SQLite file
(migrated and seeded with the ten demo bakeries) and, when it can run, the notification service. Each process
gets its own working directory (so no developer ``.env`` leaks in) and a log file that failures quote.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bakery_shared.auth import Role, issue_token
from bakery_shared.launcher import ServiceProcess, free_port, run_step, stop_all
from bakery_shared.settings import BaseServiceSettings

JWT_SECRET = "browser-tests-jwt-secret-0123456789abcdef-xyz"
WABA_ID = "100000000000001"
SANDBOX_TOKEN = "sandbox-access-token"
HEALTH_TIMEOUT = 60.0


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@dataclass
class Stack:
    root: Path
    tenant_url: str
    sandbox_url: str | None
    notification_url: str | None
    notification_skip_reason: str = ""
    processes: list[ServiceProcess] = field(default_factory=list)

    # -- tokens and API shortcuts for test set-up (the pages themselves are what the tests check) ------------

    def token(self, role: Role | str, tenant_id: uuid.UUID | str | None = None) -> str:
        settings = BaseServiceSettings(jwt_secret=JWT_SECRET, environment="test")
        return issue_token(settings, role=role, sub=f"browser-test-{role}", tenant_id=tenant_id)

    def headers(self, role: Role | str, tenant_id: uuid.UUID | str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, tenant_id)}"}

    def tenant_api(self, method: str, path: str, *, role: str = "admin", tenant_id: Any = None, **kw: Any):
        with httpx.Client(base_url=self.tenant_url, timeout=15) as client:
            return client.request(method, path, headers=self.headers(role, tenant_id), **kw)

    def assign(self, tenant_id: Any, phone_number_id: str) -> dict[str, Any]:
        r = self.tenant_api(
            "POST",
            f"/api/v1/admin/whatsapp/tenants/{tenant_id}/assign-phone",
            json={"phone_number_id": phone_number_id},
        )
        assert r.status_code == 200, r.text
        return r.json()

    def unassign(self, tenant_id: Any) -> None:
        r = self.tenant_api("DELETE", f"/api/v1/admin/whatsapp/tenants/{tenant_id}/unassign-phone")
        assert r.status_code == 200, r.text

    def settings(self, tenant_id: Any) -> dict[str, Any]:
        r = self.tenant_api("GET", f"/api/v1/tenants/{tenant_id}/settings/notifications")
        assert r.status_code == 200, r.text
        return r.json()

    def set_whatsapp(self, tenant_id: Any, enabled: bool) -> None:
        r = self.tenant_api(
            "PUT",
            f"/api/v1/tenants/{tenant_id}/settings/notifications",
            role="owner",
            tenant_id=tenant_id,
            json={"whatsapp_enabled": enabled},
        )
        assert r.status_code == 200, r.text

    def post_purchase_order(self, tenant_id: Any, supplier_phone: str, number: str, **extra: Any) -> httpx.Response:
        """``extra``: more of the event (``purchase_order`` keys merge: e.g. ``lines`` and their ``total_amount``)."""
        assert self.notification_url, self.notification_skip_reason
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "tenant_id": str(tenant_id),
            "occurred_at": datetime.now(UTC).isoformat(),
            "purchase_order": {"id": f"po-{number}", "number": number, "total_amount": "125.50", "currency": "EUR"},
            "supplier": {"name": "Harinas del Norte", "phone": supplier_phone, "language": "es"},
        }
        for key, value in extra.items():
            event[key] = {**event[key], **value} if key == "purchase_order" else value
        with httpx.Client(base_url=self.notification_url, timeout=15) as client:
            return client.post("/api/v1/events/purchase-orders", json=event, headers=self.headers(Role.SERVICE))

    def sync_now(self) -> dict[str, Any]:
        """Run the notification service's sync now (numbers, templates and Meta's pricing analytics)."""
        assert self.notification_url, self.notification_skip_reason
        with httpx.Client(base_url=self.notification_url, timeout=30) as client:
            r = client.post("/api/v1/admin/whatsapp/sync", headers=self.headers(Role.ADMIN))
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    # -- what the running notification service can do yet (it is being built alongside the pages) ----------

    def notification_gaps(self, *, webhooks: bool = False) -> list[str]:
        """Missing pieces the page scenarios need: CORS for the pages' origin and, optionally, the webhook."""
        assert self.notification_url
        gaps: list[str] = []
        with httpx.Client(base_url=self.notification_url, timeout=5) as client:
            preflight = client.options(
                "/api/v1/messages",
                headers={
                    "Origin": self.tenant_url,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            if preflight.headers.get("access-control-allow-origin") not in (self.tenant_url, "*"):
                gaps.append(
                    f"no CORS for the pages' origin {self.tenant_url} (preflight answered {preflight.status_code} "
                    "without Access-Control-Allow-Origin; the stack sets NOTIFICATION_CORS_ORIGINS)"
                )
            if webhooks:
                challenge = client.get(
                    "/api/v1/whatsapp/webhook",
                    params={"hub.mode": "subscribe", "hub.verify_token": "sandbox-verify-token", "hub.challenge": "42"},
                )
                if challenge.status_code != 200 or challenge.text.strip() != "42":
                    gaps.append(f"no webhook endpoint at /api/v1/whatsapp/webhook ({challenge.status_code})")
        return gaps

    # -- processes -----------------------------------------------------------------------------------------------

    def start(self, name: str, module: str, env: dict[str, str], health_url: str) -> ServiceProcess:
        """``python -m module`` in its own working directory (no developer ``.env``), logging to ``<name>.log``."""
        workdir = self.root / name
        workdir.mkdir(exist_ok=True)
        process = ServiceProcess(
            name, ["-m", module], env, health_url=health_url, log_path=self.root / f"{name}.log", cwd=workdir
        )
        self.processes.append(process)
        process.start().wait_healthy(timeout=HEALTH_TIMEOUT, interval=0.2)
        return process

    def stop(self) -> None:
        stop_all(self.processes, timeout=10)

    def logs(self) -> str:
        return "\n\n".join(f"--- {p.name} ---\n{_tail(p.log())}" for p in self.processes)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(no log)"


def start_stack(root: Path, extra_env: dict[str, str] | None = None) -> Stack:
    """The services on free ports; ``extra_env`` adds settings (e.g. RabbitMQ, an events subscriber)."""
    tenant_port, sandbox_port, notification_port = free_port(), free_port(), free_port()
    tenant_url = f"http://127.0.0.1:{tenant_port}"
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    notification_url = f"http://127.0.0.1:{notification_port}"

    notification_reason = ""
    if not _has_module("notification_service"):
        notification_reason = "notification_service cannot be imported"
    elif not _has_module("notification_service.__main__"):
        notification_reason = "notification_service has no __main__ yet (python -m notification_service)"
    run_notification = not notification_reason

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TENANT_", "NOTIFICATION_", "SANDBOX_", "WHATSAPP_"))
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
            "JWT_SECRET": JWT_SECRET,
            "WHATSAPP_GRAPH_URL": sandbox_url,
            "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID,
            "WHATSAPP_ACCESS_TOKEN": SANDBOX_TOKEN,
            "WHATSAPP_APP_SECRET": "sandbox-app-secret",
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "sandbox-verify-token",
            "WHATSAPP_SYNC_MIN_INTERVAL_SECONDS": "0",  # the tests ask for a sync (Meta's pricing analytics) now
            # tenant service
            "TENANT_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'tenant.db'}",
            "TENANT_HOST": "127.0.0.1",
            "TENANT_PORT": str(tenant_port),
            "PHONE_NUMBERS_CACHE_SECONDS": "0",
            "NOTIFICATION_SERVICE_PUBLIC_URL": notification_url,
            "DEV_LOGIN_ENABLED": "true",
            # sandbox
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": str(sandbox_port),
            "SANDBOX_WEBHOOK_URL": f"{notification_url}/api/v1/whatsapp/webhook" if run_notification else "off",
            "SANDBOX_STATUS_DELAY_SECONDS": "0.2",
            # notification service (CORS: the pages call it from the tenant service's origin)
            "NOTIFICATION_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'notification.db'}",
            "NOTIFICATION_HOST": "127.0.0.1",
            "NOTIFICATION_PORT": str(notification_port),
            "TENANT_SERVICE_URL": tenant_url,
            "NOTIFICATION_CORS_ORIGINS": f'["{tenant_url}", "http://localhost:{tenant_port}"]',
            "DISPATCH_POLL_INTERVAL_SECONDS": "0.2",
            "RECIPIENT_MIN_INTERVAL_SECONDS": "0",
        }
    )
    env.update(extra_env or {})

    stack = Stack(root=root, tenant_url=tenant_url, sandbox_url=None, notification_url=None)
    try:
        run_step(["-m", "tenant_service.migrate", "upgrade", "head"], env, cwd=root, quiet=True, timeout=120)
        run_step(["-m", "tenant_service.seed_demo"], env, cwd=root, quiet=True, timeout=120)
        if _has_module("wa_sandbox"):
            stack.start("sandbox", "wa_sandbox", env, f"{sandbox_url}/_sandbox/health")
            stack.sandbox_url = sandbox_url
        stack.start("tenant", "tenant_service", env, f"{tenant_url}/health/live")
        if run_notification:
            try:
                if _has_module("notification_service.migrate"):
                    run_step(
                        ["-m", "notification_service.migrate", "upgrade", "head"],
                        env,
                        cwd=root,
                        quiet=True,
                        timeout=120,
                    )
                stack.start("notification", "notification_service", env, f"{notification_url}/health/live")
                stack.notification_url = notification_url
            except RuntimeError as exc:
                notification_reason = f"the notification service did not start: {exc}"
        stack.notification_skip_reason = notification_reason
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("browser-stack")
    try:
        running = start_stack(root)
    except RuntimeError as exc:
        pytest.fail(f"could not start the services for the browser tests: {exc}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def needs_notification(stack: Stack) -> Stack:
    """Skips (with the reason) while the notification service cannot run; the lead will make this required."""
    if not stack.notification_url:
        if os.environ.get("REQUIRE_NOTIFICATION", "") not in ("", "0", "false"):
            pytest.fail(f"REQUIRE_NOTIFICATION=1 but {stack.notification_skip_reason}")
        pytest.skip(stack.notification_skip_reason)
    _skip_on_gaps(stack.notification_gaps())
    return stack


@pytest.fixture
def needs_notification_webhooks(needs_notification: Stack) -> Stack:
    """The notification service, and the sandbox's status webhooks reaching it (for delivered / read)."""
    _skip_on_gaps(needs_notification.notification_gaps(webhooks=True))
    return needs_notification


def _skip_on_gaps(gaps: list[str]) -> None:
    if not gaps:
        return
    reason = "the notification service is not ready for the pages: " + "; ".join(gaps)
    if os.environ.get("REQUIRE_NOTIFICATION", "") not in ("", "0", "false"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def needs_sandbox(stack: Stack) -> Stack:
    if not stack.sandbox_url:
        pytest.skip("wa_sandbox cannot be imported: the master account's numbers are not available")
    return stack
