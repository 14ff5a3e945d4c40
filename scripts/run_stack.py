"""`make run`: migrate, seed the demo data and start the sandbox, the tenant and the notification service.

Configuration: the environment wins, then `.env` (of the working directory, the repository root under
`make run`), then the development defaults below (which match the sandbox's seed), so `make run` works with or
without a `.env` file; `cp .env.example .env` works too. Relative paths (the SQLite files under `./var`) are
relative to the working directory. Stop everything with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from bakery_shared.launcher import ServiceProcess, ServiceStartError, run_step, stop_all

DEV_DEFAULTS = {
    "ENVIRONMENT": "development",
    "WHATSAPP_GRAPH_URL": "http://127.0.0.1:8009",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "100000000000001",
    "WHATSAPP_ACCESS_TOKEN": "sandbox-access-token",
    "WHATSAPP_APP_SECRET": "sandbox-app-secret",
    "WHATSAPP_APP_ID": "100000000000099",  # the sandbox's app (resumable uploads, embedded signup)
    "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "sandbox-verify-token",
    "WHATSAPP_HTTP_TRANSPORT": "aiohttp",  # the Graph client over aiohttp: 5-9x cheaper (docs/benchmarks.md)
}

#: The ports of the three processes (TENANT_PORT, NOTIFICATION_PORT, SANDBOX_PORT) and their defaults.
DEFAULT_PORTS = {"TENANT_PORT": 8001, "NOTIFICATION_PORT": 8002, "SANDBOX_PORT": 8009}


def linked_urls(tenant: int, notification: int, sandbox: int) -> dict[str, str]:
    """The URLs by which the services reach each other (and the pages reach the notification service)."""
    return {
        "WHATSAPP_GRAPH_URL": f"http://127.0.0.1:{sandbox}",
        "TENANT_SERVICE_URL": f"http://127.0.0.1:{tenant}",
        "NOTIFICATION_SERVICE_URL": f"http://127.0.0.1:{notification}",
        "NOTIFICATION_SERVICE_PUBLIC_URL": f"http://127.0.0.1:{notification}",
        "SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{notification}/api/v1/whatsapp/webhook",
        "NOTIFICATION_CORS_ORIGINS": json.dumps([f"http://localhost:{tenant}", f"http://127.0.0.1:{tenant}"]),
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
    """The environment, then `.env`, then the defaults; the URLs between the services follow the ports.

    A URL that is not set, empty, or still the value the default ports give (as `.env.example` ships it) is
    derived from TENANT_PORT / NOTIFICATION_PORT / SANDBOX_PORT, so moving a port is one variable; a URL set to
    anything else (another host, https, a proxy) is kept as it is.
    """
    env = {**DEV_DEFAULTS, **read_dotenv(Path.cwd() / ".env"), **os.environ}
    env.setdefault("PYTHONUNBUFFERED", "1")
    ports: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        raw = env.get(name) or str(default)
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise SystemExit(f"{name}={raw!r} is not a port: use a number from 1 to 65535")
        ports[name] = int(raw)
        env[name] = raw
    defaults = linked_urls(*DEFAULT_PORTS.values())
    wanted = linked_urls(*ports.values())
    for name, value in wanted.items():
        current = env.get(name, "")
        if not current or _same(name, current, defaults[name]):
            env[name] = value
    return env


def _same(name: str, value: str, default: str) -> bool:
    if name == "NOTIFICATION_CORS_ORIGINS":
        try:
            return bool(json.loads(value) == json.loads(default))
        except ValueError:
            return False
    return value.rstrip("/") == default


def local_url(env: dict[str, str], port_variable: str, path: str) -> str:
    return f"http://127.0.0.1:{env[port_variable]}{path}"


def main() -> int:
    env = build_env()
    cwd = Path.cwd()
    services = [
        ("sandbox", "wa_sandbox", local_url(env, "SANDBOX_PORT", "/_sandbox/health")),
        ("tenant", "tenant_service", local_url(env, "TENANT_PORT", "/health/live")),
        ("notification", "notification_service", local_url(env, "NOTIFICATION_PORT", "/health/live")),
    ]
    try:
        for step in ("tenant_service.migrate", "notification_service.migrate", "tenant_service.seed_demo"):
            run_step(["-m", step], env, cwd=cwd)
    except ServiceStartError as exc:
        raise SystemExit(str(exc)) from None

    procs: list[ServiceProcess] = []

    def stop() -> None:
        stop_all(procs, timeout=10)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        for name, module, health in services:
            proc = ServiceProcess(name, ["-m", module], env, health_url=health, cwd=cwd).start()
            procs.append(proc)
            try:
                proc.wait_healthy(timeout=60, interval=0.2)
            except ServiceStartError as exc:
                raise SystemExit(str(exc)) from None
            print(f"[make run] {name} is up ({health.rsplit('/', 2)[0]})", flush=True)
        print(
            f"\n[make run] ready. Tenant service http://localhost:{env['TENANT_PORT']} (pages at /app/), "
            f"notification service http://localhost:{env['NOTIFICATION_PORT']}, "
            f"WhatsApp sandbox http://localhost:{env['SANDBOX_PORT']}.\n"
            "[make run] get a token with: make token ROLE=admin   (Ctrl-C stops everything)\n",
            flush=True,
        )
        while True:
            for proc in procs:
                if not proc.alive:
                    print(f"[make run] {proc.name} stopped with code {proc.returncode}; stopping the rest", flush=True)
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
