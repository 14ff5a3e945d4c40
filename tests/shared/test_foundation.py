from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from bakery_shared.auth import Role, decode_token
from bakery_shared.contracts import StrictModel
from bakery_shared.errors import Unauthorized
from bakery_shared.http import create_service_app
from bakery_shared.logging import RedactSecretsFilter
from bakery_shared.phone import InvalidPhoneNumber, normalize_e164
from bakery_shared.settings import DEV_JWT_SECRET, BaseServiceSettings, ProductionConfigError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+34 612 345 678", "+34612345678"),
        ("612345678", "+34612345678"),  # no country code → Spanish
        ("0034612345678", "+34612345678"),
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_e164(raw, expected):
    assert normalize_e164(raw) == expected


@pytest.mark.parametrize("raw", ["", "hello", "123", "+34 000"])
def test_e164_rejects_garbage(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_e164(raw)


def test_production_refuses_dev_secret():
    with pytest.raises(ProductionConfigError):
        BaseServiceSettings(_env_file=None, environment="production", jwt_secret=DEV_JWT_SECRET)
    ok = BaseServiceSettings(
        _env_file=None, environment="production", jwt_secret="a-real-secret-0123456789abcdef-0123456789"
    )
    assert ok.is_production


def test_token_cli_prints_token_last(monkeypatch):
    env = {"JWT_SECRET": "cli-secret-0123456789abcdef0123456789-long", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bakery_shared.token_cli",
            "--role",
            "owner",
            "--tenant",
            "00000000-0000-4000-8000-000000000001",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    token = out.stdout.strip().splitlines()[-1]
    principal = decode_token(BaseServiceSettings(_env_file=None, jwt_secret=env["JWT_SECRET"]), token)
    assert principal.role is Role.OWNER and str(principal.tenant_id).endswith("000000000001")
    with pytest.raises(Unauthorized):
        decode_token(
            BaseServiceSettings(_env_file=None, jwt_secret="another-secret-0123456789abcdef-long-enough"), token
        )
    bad = subprocess.run(
        [sys.executable, "-m", "bakery_shared.token_cli", "--role", "owner"], capture_output=True, text=True, env=env
    )
    assert bad.returncode != 0 and "--tenant" in bad.stderr


class Body(StrictModel):
    name: str


def small_app() -> FastAPI:
    app = create_service_app(title="t", max_body_bytes=1024)

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return app


async def test_body_limit_and_validation_messages():
    async with AsyncClient(transport=ASGITransport(app=small_app()), base_url="http://t") as c:
        r = await c.post(
            "/echo", content=b'{"name": "' + b"x" * 5000 + b'"}', headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

        async def chunks():
            for _ in range(10):
                yield b"x" * 500

        r = await c.post("/echo", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = await c.post("/echo", json={"name": "a", "extra": 1})
        assert r.status_code == 422 and r.json()["detail"] == "body.extra: unknown field, remove it"
        r = await c.post("/echo", json={})
        assert r.json()["detail"] == "body.name: field required"
        r = await c.get("/nope")
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_log_redaction():
    import logging

    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "call with Bearer abc.def.ghi and %s", ("s3cr3t-value",), None
    )
    RedactSecretsFilter(["s3cr3t-value"]).filter(record)
    assert record.getMessage() == "call with Bearer [REDACTED] and [REDACTED]"


def test_log_redaction_of_meta_tokens_and_jwts():
    import logging

    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "token EAAGm0PX4ZCpsBAKZCabc123def456ghi and %s",
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ",),
        None,
    )
    RedactSecretsFilter([]).filter(record)
    assert record.getMessage() == "token [REDACTED] and [REDACTED]"


def test_tracebacks_and_extra_fields_in_json_logs_are_redacted():
    """The JSON formatter renders ``exc_info`` itself: the traceback (an exception whose message carries a secret)
    and ``extra=`` fields must go through the same redaction as the message."""
    import io
    import json
    import logging

    from bakery_shared.logging import configure_logging

    configure_logging("INFO", secrets=["configured-secret-value"], service="test-service")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_bakery", False))
    stream = io.StringIO()
    original = handler.stream  # type: ignore[attr-defined]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        try:
            raise RuntimeError("Malformed access token configured-secret-value / EAAGm0PX4ZCpsBAKZCabc123def456ghi")
        except RuntimeError:
            logging.getLogger("test.trace").exception("send failed", extra={"graph_error": "configured-secret-value"})
    finally:
        handler.stream = original  # type: ignore[attr-defined]
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "RuntimeError" in line["exc_info"] and "[REDACTED]" in line["exc_info"]
    assert line["graph_error"] == "[REDACTED]"
    text = stream.getvalue()
    assert "configured-secret-value" not in text and "EAAGm0PX4ZC" not in text
