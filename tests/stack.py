"""Real service processes for end-to-end tests: the sandbox, the tenant service, the notification service and
stand-alone dispatchers, each a subprocess on a free port, talking real HTTP to each other."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bakery_shared.launcher import ServiceProcess, free_port, run_step, stop_all
from tests.helpers import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent
WABA = "100000000000001"
SANDBOX_TOKEN = "sandbox-access-token"
APP_SECRET = "sandbox-app-secret"
VERIFY_TOKEN = "sandbox-verify-token"


@dataclass
class Stack:
    workdir: Path
    tenant_db: str
    notification_db: str
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, ServiceProcess] = field(default_factory=dict)

    @classmethod
    def sqlite(cls, workdir: Path, **extra_env: str) -> Stack:
        """The `make run` shape: two SQLite files in ``workdir``."""
        return cls(
            workdir,
            tenant_db=f"sqlite+aiosqlite:///{workdir / 'tenant.db'}",
            notification_db=f"sqlite+aiosqlite:///{workdir / 'notification.db'}",
            extra_env=extra_env,
        )

    def __post_init__(self) -> None:
        self.sandbox_port = free_port()
        self.tenant_port = free_port()
        self.notification_port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.tenant_url = f"http://127.0.0.1:{self.tenant_port}"
        self.notification_url = f"http://127.0.0.1:{self.notification_port}"

    def env(self, **overrides: str) -> dict[str, str]:
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONUNBUFFERED": "1",
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "INFO",
            "JWT_SECRET": TEST_JWT_SECRET,
            "WHATSAPP_GRAPH_URL": self.sandbox_url,
            "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA,
            "WHATSAPP_ACCESS_TOKEN": SANDBOX_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_APP_ID": "100000000000099",  # the sandbox's app (resumable uploads, embedded signup)
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": VERIFY_TOKEN,
            "TENANT_DATABASE_URL": self.tenant_db,
            "TENANT_PORT": str(self.tenant_port),
            "PHONE_NUMBERS_CACHE_SECONDS": "0",
            "NOTIFICATION_DATABASE_URL": self.notification_db,
            "NOTIFICATION_PORT": str(self.notification_port),
            "TENANT_SERVICE_URL": self.tenant_url,
            "NOTIFICATION_SERVICE_URL": self.notification_url,
            "SANDBOX_PORT": str(self.sandbox_port),
            "SANDBOX_WEBHOOK_URL": f"{self.notification_url}/api/v1/whatsapp/webhook",
            "SANDBOX_STATUS_DELAY_SECONDS": "0.05",
            "SANDBOX_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        }
        base.update(self.extra_env)
        base.update(overrides)
        return base

    def start(self, name: str, args: list[str], health: str | None, timeout: float = 30, **env: str) -> ServiceProcess:
        """Start ``python <args>`` as ``name`` (log ``<workdir>/<name>.log``) and wait until ``health`` answers."""
        proc = ServiceProcess(
            name, args, self.env(**env), health_url=health, log_path=self.workdir / f"{name}.log", cwd=ROOT
        )
        self.procs[name] = proc
        proc.start().wait_healthy(timeout=timeout)
        return proc

    def migrate(self) -> None:
        for module in ("tenant_service.migrate", "notification_service.migrate"):
            run_step(["-m", module, "upgrade", "head"], self.env(), cwd=ROOT)
        run_step(["-m", "tenant_service.seed_demo"], self.env(), cwd=ROOT)

    def start_sandbox(self, **env: str) -> ServiceProcess:
        return self.start("sandbox", ["-m", "wa_sandbox"], f"{self.sandbox_url}/_sandbox/state", **env)

    def start_tenant(self, **env: str) -> ServiceProcess:
        return self.start("tenant", ["-m", "tenant_service"], f"{self.tenant_url}/health/live", **env)

    def start_notification(self, **env: str) -> ServiceProcess:
        return self.start("notification", ["-m", "notification_service"], f"{self.notification_url}/health/live", **env)

    def start_dispatcher(self, name: str = "dispatcher", **env: str) -> ServiceProcess:
        return self.start(name, ["-m", "notification_service.dispatch"], None, **env)

    def start_all(self) -> Stack:
        self.migrate()
        self.start_sandbox()
        self.start_tenant()
        self.start_notification()
        return self

    def stop_all(self) -> None:
        stop_all(self.procs.values())

    def logs(self) -> str:
        return "\n".join(f"===== {name} =====\n{p.log()[-4000:]}" for name, p in self.procs.items())
