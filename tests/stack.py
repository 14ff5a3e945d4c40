"""Real service processes for end-to-end tests: the sandbox, the tenant service, the notification service and
stand-alone dispatchers, each a subprocess on a free port, talking real HTTP to each other."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent
WABA = "100000000000001"
SANDBOX_TOKEN = "sandbox-access-token"
APP_SECRET = "sandbox-app-secret"
VERIFY_TOKEN = "sandbox-verify-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    health: str | None
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 - our own modules
            [sys.executable, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        if self.health:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.popen.returncode}); log:\n{self.log()[-3000:]}")
                try:
                    if httpx.get(self.health, timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            raise RuntimeError(f"{self.name} not healthy at {self.health}; log:\n{self.log()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    workdir: Path
    tenant_db: str
    notification_db: str
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

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

    def _proc(self, name: str, args: list[str], health: str | None, **env: str) -> Proc:
        proc = Proc(name, args, self.env(**env), health, self.workdir / f"{name}.log")
        self.procs[name] = proc
        return proc

    def migrate(self) -> None:
        for module in ("tenant_service.migrate", "notification_service.migrate"):
            subprocess.run([sys.executable, "-m", module, "upgrade", "head"], env=self.env(), check=True, cwd=ROOT)
        subprocess.run([sys.executable, "-m", "tenant_service.seed_demo"], env=self.env(), check=True, cwd=ROOT)

    def start_sandbox(self, **env: str) -> Proc:
        proc = self._proc("sandbox", ["-m", "wa_sandbox"], f"{self.sandbox_url}/_sandbox/state", **env)
        proc.start()
        return proc

    def start_tenant(self, **env: str) -> Proc:
        proc = self._proc("tenant", ["-m", "tenant_service"], f"{self.tenant_url}/health/live", **env)
        proc.start()
        return proc

    def start_notification(self, **env: str) -> Proc:
        proc = self._proc("notification", ["-m", "notification_service"], f"{self.notification_url}/health/live", **env)
        proc.start()
        return proc

    def start_dispatcher(self, name: str = "dispatcher", **env: str) -> Proc:
        proc = self._proc(name, ["-m", "notification_service.dispatcher"], None, **env)
        proc.start()
        return proc

    def start_all(self) -> Stack:
        self.migrate()
        self.start_sandbox()
        self.start_tenant()
        self.start_notification()
        return self

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"===== {name} =====\n{p.log()[-4000:]}" for name, p in self.procs.items())
