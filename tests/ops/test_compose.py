"""No Docker engine runs here, so check what can be checked statically: the compose file parses, names only
Dockerfiles that exist, images built by this file, variables documented in .env.example, and settings fields the
services really read."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def env_example_keys() -> set[str]:
    keys = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            keys.add(line.split("=", 1)[0])
    return keys


def settings_fields() -> dict[str, set[str]]:
    from notification_service.config import NotificationSettings as NotificationServiceSettings
    from tenant_service.config import TenantSettings
    from wa_sandbox.settings import SandboxSettings

    def names(cls) -> set[str]:
        return {name.upper() for name in cls.model_fields}

    return {
        "bakery/tenant-service:latest": names(TenantSettings),
        "bakery/notification-service:latest": names(NotificationServiceSettings),
        "bakery/whatsapp-sandbox:latest": names(SandboxSettings),
    }


def test_compose_parses_and_has_the_seed_names():
    services = COMPOSE["services"]
    assert services["notification-service"]["container_name"] == "notification-service"
    assert services["tenant-service"]["container_name"] == "tenant-service"
    assert services["sandbox"]["profiles"] == ["dev"]
    assert "container_name" not in services["dispatcher"], "a container_name would stop --scale dispatcher=N"
    assert services["postgres"]["healthcheck"]["test"]
    assert "pgdata" in COMPOSE["volumes"]


def test_dockerfiles_exist_and_images_are_built_here():
    services = COMPOSE["services"]
    built = set()
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            assert build["context"] == ".", f"{name} must build from the repository root"
            dockerfile = ROOT / build["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
            text = dockerfile.read_text()
            assert "uv sync --frozen" in text and "FROM python:3.11" in text
            built.add(svc["image"])
    for name, svc in services.items():
        image = svc.get("image", "")
        official = image.startswith(("postgres:", "rabbitmq:"))
        assert official or image in built, f"{name} uses image {image!r} that nothing builds"


def test_migrations_run_before_services():
    services = COMPOSE["services"]
    assert services["tenant-service"]["depends_on"]["tenant-migrate"]["condition"] == "service_completed_successfully"
    for name in ("notification-service", "dispatcher"):
        assert services[name]["depends_on"]["notification-migrate"]["condition"] == "service_completed_successfully"
    for name in ("tenant-migrate", "notification-migrate"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["command"][2].endswith(".migrate")


def test_rabbitmq_has_a_healthcheck_and_the_notification_service_its_url():
    """Issue 16: purchase orders over RabbitMQ; the service waits for a healthy broker (and copes without one)."""
    services = COMPOSE["services"]
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert "rabbitmqdata" in COMPOSE["volumes"]
    assert all(port.startswith("127.0.0.1:") for port in rabbitmq["ports"]), "the broker stays on loopback"
    notification = services["notification-service"]
    assert notification["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert notification["environment"]["RABBITMQ_URL"].startswith("amqp://")
    assert "@rabbitmq:5672/" in notification["environment"]["RABBITMQ_URL"]


def test_every_variable_is_documented_in_env_example():
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    missing = used - env_example_keys()
    assert not missing, f"variables used in docker-compose.yml but not in .env.example: {sorted(missing)}"


def test_service_environment_names_real_settings():
    fields = settings_fields()
    for name, svc in COMPOSE["services"].items():
        image = svc.get("image", "")
        if image not in fields:
            continue
        env = svc.get("environment") or {}
        unknown = {key for key in env if key not in fields[image] and key != "PYTHONUNBUFFERED"}
        assert not unknown, f"{name} sets variables its settings do not read: {sorted(unknown)}"


def test_commands_name_real_modules():
    import importlib.util

    for name, svc in COMPOSE["services"].items():
        command = svc.get("command")
        if command and command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, f"{name}: module {command[2]} does not exist"


def test_service_images_default_to_production_and_the_dev_sandbox_has_a_control_token():
    """Issue 13 item 5: an image started without ENVIRONMENT is production (dev secrets refused at start)."""
    for service in ("tenant", "notification"):
        text = (ROOT / "services" / service / "Dockerfile").read_text()
        assert "ENV ENVIRONMENT=production" in text, service
    sandbox = COMPOSE["services"]["sandbox"]["environment"]
    assert sandbox["SANDBOX_HOST"] == "0.0.0.0"
    assert "SANDBOX_CONTROL_TOKEN" in sandbox, "off loopback the sandbox refuses to start without it"
