"""Issue 13 item 10: a newcomer's `cp .env.example .env` then `make run` (scripts/run_stack.py), and the seed's
flow: the admin lists the master account's numbers, assigns one, the owner turns WhatsApp on, a purchase-order
event goes out through the sandbox. ``WHATSAPP_ACCESS_TOKEN_FILE=`` (empty) used to be read as ``Path('.')``: the
phone-numbers endpoint answered 500 (IsADirectoryError) and nothing could be sent."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bakery_shared.settings import DEV_JWT_SECRET
from tenant_service.seed_demo import DEMO_BAKERIES
from tests.e2e.flows import wait_for
from tests.helpers import Tokens
from tests.stack import ROOT, free_port

pytestmark = pytest.mark.e2e


class MakeRun:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = {"8001": str(free_port()), "8002": str(free_port()), "8009": str(free_port())}
        self.tenant = f"http://127.0.0.1:{self.ports['8001']}"
        self.notification = f"http://127.0.0.1:{self.ports['8002']}"
        self.sandbox = f"http://127.0.0.1:{self.ports['8009']}"
        self.log = workdir / "make-run.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_env(self) -> None:
        """`cp .env.example .env`, then only the ports moved to free ones (other agents may hold 8001/8002/8009)."""
        env_file = self.workdir / ".env"
        shutil.copy(ROOT / ".env.example", env_file)
        text = env_file.read_text()
        for default, port in self.ports.items():
            text = text.replace(f":{default}", f":{port}").replace(f"={default}\n", f"={port}\n")
        env_file.write_text(text)
        assert "\nWHATSAPP_ACCESS_TOKEN_FILE=\n" in text, "the case of the issue: an empty value in .env"

    def port_variables(self) -> dict[str, str]:
        """Only TENANT_PORT / NOTIFICATION_PORT / SANDBOX_PORT, no `.env`: the URLs between services must follow."""
        return {
            "TENANT_PORT": self.ports["8001"],
            "NOTIFICATION_PORT": self.ports["8002"],
            "SANDBOX_PORT": self.ports["8009"],
        }

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(self.workdir))}
        env.update(extra_env or {})
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own script
                [sys.executable, str(ROOT / "scripts" / "run_stack.py")],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.ready, timeout=120, interval=0.3, what=f"make run ready; log:\n{self.log_text()}")

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"make run exited with {self.proc.returncode}:\n{self.log_text()}")
        return "[make run] ready" in self.log_text()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    run = MakeRun(tmp_path)
    run.write_env()
    try:
        run.start()
        yield run
    finally:
        run.stop()


@pytest.fixture
def make_run_on_ports(tmp_path: Path) -> Iterator[MakeRun]:
    run = MakeRun(tmp_path)
    try:
        run.start(run.port_variables())
        yield run
    finally:
        run.stop()


def send_the_seed_flow(make_run: MakeRun, wanted: tuple[str, ...] = ("sent", "delivered", "read")) -> dict:
    """Assign a number, switch WhatsApp on, post a PO event and wait for the message in one of `wanted`."""
    tokens = Tokens(DEV_JWT_SECRET)  # the JWT secret .env.example ships
    tenant_id, name = DEMO_BAKERIES[0]
    numbers = httpx.get(f"{make_run.tenant}/api/v1/admin/whatsapp/phone-numbers", headers=tokens.admin(), timeout=30)
    assert numbers.status_code == 200, numbers.text
    phone_number_id = numbers.json()[0]["id"]
    r = httpx.post(
        f"{make_run.tenant}/api/v1/admin/whatsapp/tenants/{tenant_id}/assign-phone",
        json={"phone_number_id": phone_number_id},
        headers=tokens.admin(),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    r = httpx.put(
        f"{make_run.tenant}/api/v1/tenants/{tenant_id}/settings/notifications",
        json={"whatsapp_enabled": True},
        headers=tokens.owner(tenant_id),
        timeout=30,
    )
    assert r.status_code == 200, r.text

    event = {
        "event_id": "7f1d0a43-5d0e-4f5e-9a55-000000000001",
        "tenant_id": str(tenant_id),
        "occurred_at": "2026-03-01T10:00:00Z",
        "purchase_order": {"id": "po-1", "number": "PO-2026-0001", "total_amount": "1250.00", "currency": "EUR"},
        "supplier": {"name": "Harinas Ana", "phone": "+34 612 000 111"},
    }
    r = httpx.post(
        f"{make_run.notification}/api/v1/events/purchase-orders", json=event, headers=tokens.service(), timeout=30
    )
    assert r.status_code == 202, r.text
    nid = r.json()["notification_id"]

    def sent() -> dict | None:
        m = httpx.get(f"{make_run.notification}/api/v1/messages/{nid}", headers=tokens.admin(), timeout=30).json()
        return m if m["status"] in wanted else None

    message = wait_for(sent, timeout=30, interval=0.2, what=f"the PO message {wanted}; log:\n{make_run.log_text()}")
    assert message["phone_number_id"] == phone_number_id
    in_sandbox = httpx.get(f"{make_run.sandbox}/_sandbox/messages", timeout=30).json()
    assert any(m.get("wamid") == message["wamid"] for m in in_sandbox), in_sandbox
    return message


def test_cp_env_example_then_make_run_sends_the_seed_flow(make_run: MakeRun) -> None:
    send_the_seed_flow(make_run)
    assert (make_run.workdir / "var" / "tenant.db").exists(), "relative paths are the working directory's"
    started = time.monotonic()
    make_run.stop()
    assert time.monotonic() - started < 40
    assert make_run.proc is not None and make_run.proc.returncode == 0, make_run.log_text()


def test_make_run_on_other_ports_links_the_services_through_them(make_run_on_ports: MakeRun) -> None:
    """TENANT_PORT / NOTIFICATION_PORT / SANDBOX_PORT alone (no .env), none of them the defaults."""
    run = make_run_on_ports
    assert not {"8001", "8002", "8009"} & set(run.ports.values())
    for url in (f"{run.tenant}/health/live", f"{run.notification}/health/live", f"{run.sandbox}/_sandbox/health"):
        assert httpx.get(url, timeout=30).status_code == 200, url
    assert f"http://localhost:{run.ports['8001']} (pages at /app/)" in run.log_text()
    # Graph URL -> the sandbox's port; the sandbox's status webhook -> the notification service's port.
    send_the_seed_flow(run, wanted=("delivered", "read"))
    # The pages get the notification service's URL on its port, and it allows them (CORS) from the tenant's port.
    page = httpx.get(f"{run.tenant}/app/", timeout=30)
    assert f'data-notification-url="{run.notification}"' in page.text
    assert run.notification in page.headers["content-security-policy"]
    preflight = httpx.options(
        f"{run.notification}/api/v1/messages",
        headers={"Origin": run.tenant, "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert preflight.headers.get("access-control-allow-origin") == run.tenant, preflight.headers


def _run_stack_module():
    spec = importlib.util.spec_from_file_location("run_stack", ROOT / "scripts" / "run_stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("env", "dotenv", "expected"),
    [
        # the ports alone: every link follows them
        (
            {"TENANT_PORT": "9101", "NOTIFICATION_PORT": "9102", "SANDBOX_PORT": "9109"},
            "",
            {
                "WHATSAPP_GRAPH_URL": "http://127.0.0.1:9109",
                "TENANT_SERVICE_URL": "http://127.0.0.1:9101",
                "NOTIFICATION_SERVICE_PUBLIC_URL": "http://127.0.0.1:9102",
                "SANDBOX_WEBHOOK_URL": "http://127.0.0.1:9102/api/v1/whatsapp/webhook",
                "NOTIFICATION_CORS_ORIGINS": '["http://localhost:9101", "http://127.0.0.1:9101"]',
            },
        ),
        # `.env` as .env.example ships it (URLs at the default ports), a port moved in the environment: followed
        (
            {"NOTIFICATION_PORT": "9102"},
            "NOTIFICATION_SERVICE_URL=http://127.0.0.1:8002\nTENANT_PORT=8001\n",
            {"NOTIFICATION_SERVICE_URL": "http://127.0.0.1:9102", "TENANT_SERVICE_URL": "http://127.0.0.1:8001"},
        ),
        # a URL set to something else is kept
        (
            {"SANDBOX_PORT": "9109", "WHATSAPP_GRAPH_URL": "https://graph.facebook.com"},
            "",
            {"WHATSAPP_GRAPH_URL": "https://graph.facebook.com", "SANDBOX_PORT": "9109"},
        ),
    ],
)
def test_run_stack_derives_the_links_from_the_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], dotenv: str, expected: dict[str, str]
) -> None:
    run_stack = _run_stack_module()
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(dotenv)
    for name in [*run_stack.DEFAULT_PORTS, *run_stack.linked_urls(1, 2, 3)]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    built = run_stack.build_env()
    assert {name: built[name] for name in expected} == expected


def test_run_stack_refuses_a_port_that_is_not_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_stack = _run_stack_module()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TENANT_PORT", "80o1")
    with pytest.raises(SystemExit, match="TENANT_PORT='80o1' is not a port"):
        run_stack.build_env()
