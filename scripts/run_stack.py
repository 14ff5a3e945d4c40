"""`make run`: migrate, seed the demo data and start the sandbox, the tenant and the notification service.

Configuration: the environment wins, then `.env` (of the working directory, the repository root under
`make run`), then the development defaults below (which match the sandbox's seed), so `make run` works with or
without a `.env` file; `cp .env.example .env` works too. Relative paths (the SQLite files under `./var`) are
relative to the working directory. Stop everything with Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

DEV_DEFAULTS = {
    "ENVIRONMENT": "development",
    "WHATSAPP_GRAPH_URL": "http://127.0.0.1:8009",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "100000000000001",
    "WHATSAPP_ACCESS_TOKEN": "sandbox-access-token",
    "WHATSAPP_APP_SECRET": "sandbox-app-secret",
    "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "sandbox-verify-token",
    "WHATSAPP_HTTP_TRANSPORT": "aiohttp",  # the Graph client over aiohttp: 5-9x cheaper (docs/benchmarks.md)
    "TENANT_SERVICE_URL": "http://127.0.0.1:8001",
    "NOTIFICATION_SERVICE_URL": "http://127.0.0.1:8002",
    "SANDBOX_WEBHOOK_URL": "http://127.0.0.1:8002/api/v1/whatsapp/webhook",
}


def read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def build_env() -> dict[str, str]:
    env = {**DEV_DEFAULTS, **read_dotenv(Path.cwd() / ".env"), **os.environ}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def local_url(env: dict[str, str], port_variable: str, default_port: int, path: str) -> str:
    return f"http://127.0.0.1:{env.get(port_variable) or default_port}{path}"


def wait_healthy(name: str, url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - local health URL
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{name} did not become healthy at {url} within {timeout:.0f}s")


def main() -> int:
    env = build_env()
    py = sys.executable
    for step in ("tenant_service.migrate", "notification_service.migrate", "tenant_service.seed_demo"):
        subprocess.run([py, "-m", step], env=env, check=True)  # noqa: S603 - our own modules

    services = [
        ("sandbox", "wa_sandbox", local_url(env, "SANDBOX_PORT", 8009, "/_sandbox/health")),
        ("tenant", "tenant_service", local_url(env, "TENANT_PORT", 8001, "/health/live")),
        ("notification", "notification_service", local_url(env, "NOTIFICATION_PORT", 8002, "/health/live")),
    ]
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def stop(*_: object) -> None:
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        for name, module, health in services:
            proc = subprocess.Popen([py, "-m", module], env=env)  # noqa: S603 - our own modules
            procs.append((name, proc))
            wait_healthy(name, health, proc)
            print(f"[make run] {name} is up ({health.rsplit('/', 2)[0]})", flush=True)
        base = {name: health.rsplit("/", 2)[0] for name, _, health in services}
        print(
            f"\n[make run] ready. Tenant service {base['tenant']} (pages at /app/), notification service "
            f"{base['notification']}, WhatsApp sandbox {base['sandbox']}.\n"
            "[make run] get a token with: make token ROLE=admin   (Ctrl-C stops everything)\n",
            flush=True,
        )
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(f"[make run] {name} stopped with code {proc.returncode}; stopping the rest", flush=True)
                    stop()
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n[make run] stopping", flush=True)
        return 0
    finally:
        stop()


if __name__ == "__main__":
    raise SystemExit(main())
