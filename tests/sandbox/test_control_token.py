"""The sandbox's control API off loopback (issue 13 item 5): a token is required, and then asked for."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from wa_sandbox.app import create_app
from wa_sandbox.settings import SandboxConfigError, SandboxSettings

from .conftest import AUTH, PNID, make_settings, template_body

CONTROL_TOKEN = "a-sandbox-control-token-0123456789"


def test_listens_on_loopback_by_default() -> None:
    settings = SandboxSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.sandbox_host == "127.0.0.1"
    assert settings.control_token == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "sandbox.internal"])  # noqa: S104 - the test
def test_any_other_address_needs_a_control_token(host: str) -> None:
    with pytest.raises(SandboxConfigError, match="set SANDBOX_CONTROL_TOKEN"):
        make_settings(sandbox_host=host)
    assert make_settings(sandbox_host=host, sandbox_control_token=CONTROL_TOKEN).control_token == CONTROL_TOKEN


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_none(host: str) -> None:
    assert make_settings(sandbox_host=host).control_token == ""


def test_python_m_wa_sandbox_refuses_to_start_on_0000_without_a_token() -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback
        "SANDBOX_HOST": "0.0.0.0",  # noqa: S104 - the refused configuration
        "SANDBOX_PORT": "9",
    }
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "wa_sandbox"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "set SANDBOX_CONTROL_TOKEN" in done.stderr


async def test_with_a_token_the_control_api_asks_for_it_and_the_graph_api_does_not_change() -> None:
    settings = make_settings(sandbox_host="0.0.0.0", sandbox_control_token=CONTROL_TOKEN)  # noqa: S104
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": CONTROL_TOKEN}, AUTH):
                for method, path in [
                    ("GET", "/_sandbox/messages"),
                    ("POST", "/_sandbox/reset"),
                    ("GET", "/_sandbox/state"),
                ]:
                    r = await client.request(method, path, headers=headers)
                    assert r.status_code == 401, (headers, path, r.text)
                    assert CONTROL_TOKEN not in r.text
            control = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
            assert (await client.get("/_sandbox/health")).status_code == 200, "health stays open"
            sent = await client.post(f"/v23.0/{PNID}/messages", json=template_body(), headers=AUTH)
            assert sent.status_code == 200, sent.text
            r = await client.get("/_sandbox/messages", headers=control)
            assert r.status_code == 200 and len(r.json()) == 1
            assert (await client.post("/_sandbox/reset", headers=control)).status_code == 200
    finally:
        await app.state.dispatcher.aclose()
