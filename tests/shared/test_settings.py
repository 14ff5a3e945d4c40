"""bakery_shared.settings: the production guard (issue 13 item 5) and empty values (item 10)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bakery_shared.settings import (
    DEV_JWT_SECRET,
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_APP_SECRET,
    SANDBOX_VERIFY_TOKEN,
    BaseServiceSettings,
    ProductionConfigError,
    WhatsAppSettings,
)
from notification_service.config import NotificationSettings
from tenant_service.config import TenantSettings
from wa_sandbox.settings import SandboxSettings

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET = "Zq7-real-production-jwt-secret-0123456789"
REAL = {
    "jwt_secret": REAL_SECRET,
    "whatsapp_access_token": "EAAGm0PX4ZCpsBAreal",
    "whatsapp_app_secret": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "whatsapp_webhook_verify_token": "a-verify-token-we-chose",
}


def production(**overrides: Any) -> WhatsAppSettings:
    values = {**REAL, "environment": "production", **overrides}
    return WhatsAppSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_accepts_real_values() -> None:
    assert production().is_production


@pytest.mark.parametrize("length", [0, 1, 16, 31])
def test_production_refuses_a_jwt_secret_shorter_than_32_bytes(length: int) -> None:
    secret = "k" * length
    with pytest.raises(ProductionConfigError, match="JWT_SECRET is .* bytes long.*at least 32") as info:
        production(jwt_secret=secret)
    if secret:
        assert secret not in str(info.value)
    assert production(jwt_secret="k" * 32).is_production
    assert production(jwt_secret="ñ" * 16).is_production, "bytes, not characters: 16 × ñ is 32 bytes"


def test_production_refuses_the_dev_jwt_secret() -> None:
    with pytest.raises(ProductionConfigError, match="JWT_SECRET still has its development default"):
        BaseServiceSettings(_env_file=None, environment="production", jwt_secret=DEV_JWT_SECRET)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("whatsapp_access_token", SANDBOX_ACCESS_TOKEN, "WHATSAPP_ACCESS_TOKEN"),
        ("whatsapp_app_secret", SANDBOX_APP_SECRET, "WHATSAPP_APP_SECRET"),
        ("whatsapp_webhook_verify_token", SANDBOX_VERIFY_TOKEN, "WHATSAPP_WEBHOOK_VERIFY_TOKEN"),
    ],
)
def test_production_refuses_the_sandbox_credentials(field: str, value: str, variable: str) -> None:
    with pytest.raises(ProductionConfigError, match=f"{variable} holds the WhatsApp sandbox's") as info:
        production(**{field: value})
    assert value not in str(info.value)
    for settings_class in (TenantSettings, NotificationSettings):  # both services load through the same base
        with pytest.raises(ProductionConfigError):
            settings_class(_env_file=None, **{**REAL, "environment": "production", field: value})  # type: ignore[call-arg]
    # development and test keep the sandbox's values (make run, the test suite)
    WhatsAppSettings(_env_file=None, **{**REAL, field: value})  # type: ignore[call-arg]


def test_production_refuses_the_sandbox_token_in_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(SANDBOX_ACCESS_TOKEN + "\n")
    with pytest.raises(ProductionConfigError, match="WHATSAPP_ACCESS_TOKEN_FILE holds"):
        production(whatsapp_access_token="", whatsapp_access_token_file=token_file)
    token_file.write_text("EAAGm0PX4ZCpsBArealfromfile")
    assert production(whatsapp_access_token="", whatsapp_access_token_file=token_file).is_production


def test_production_refusal_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "short")
    with pytest.raises(ProductionConfigError, match="JWT_SECRET is 5 bytes long"):
        TenantSettings(_env_file=None)  # type: ignore[call-arg]


# ---------------------------------------------------------------- item 10: empty means "not set"


def _clean_environment(monkeypatch: pytest.MonkeyPatch, env_file: Path) -> None:
    for line in env_file.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            monkeypatch.delenv(line.split("=", 1)[0].strip(), raising=False)


def _paths(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in type(settings).model_fields if "file" in name}


def test_settings_loaded_from_a_copy_of_env_example_have_no_path_dot(tmp_path, monkeypatch) -> None:
    """`cp .env.example .env`: ``WHATSAPP_ACCESS_TOKEN_FILE=`` was read as ``Path('.')`` and every Graph call
    failed with IsADirectoryError."""
    env_file = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", env_file)
    _clean_environment(monkeypatch, env_file)
    monkeypatch.chdir(tmp_path)
    for settings_class in (TenantSettings, NotificationSettings, SandboxSettings):
        settings = settings_class()  # reads ./.env like the services do
        paths = _paths(settings)
        assert paths, settings_class
        assert all(value is None for value in paths.values()), (settings_class.__name__, paths)
        assert settings.whatsapp_access_token.get_secret_value() == SANDBOX_ACCESS_TOKEN
        assert settings.missing_master_account_variables() == []
    assert SandboxSettings().sandbox_webhook_url == "http://127.0.0.1:8002/api/v1/whatsapp/webhook"


def test_an_empty_environment_value_means_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WHATSAPP_ACCESS_TOKEN_FILE", "WHATSAPP_RATE_CARD_FILE", "LOG_LEVEL", "TENANT_SETTINGS_TTL_SECONDS"):
        monkeypatch.setenv(name, "")
    settings = NotificationSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.whatsapp_access_token_file is None
    assert settings.whatsapp_rate_card_file is None
    assert settings.log_level == "INFO"
    assert settings.tenant_settings_ttl_seconds == 60


def test_sandbox_webhooks_are_turned_off_with_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_WEBHOOK_URL", "off")
    assert SandboxSettings(_env_file=None).sandbox_webhook_url == ""  # type: ignore[call-arg]
