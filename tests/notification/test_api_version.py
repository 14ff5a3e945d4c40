"""The configured Graph API version against the sandbox, on a chosen day (issue 15): near its end → readiness
degraded and the admin API warns, sends still work; past its end → not ready, the sandbox refuses the calls with
Meta's 2635 and messages wait on an account hold instead of failing."""

from __future__ import annotations

from datetime import date

from .sandbox_stack import DAY, NUMBER, eventually, sandbox_stack


async def test_version_near_its_end_warns(sqlite_url: str) -> None:
    async with sandbox_stack(sqlite_url, whatsapp_api_version="v21.0") as e2e:  # ends 2027-01-21: 49 days left
        ready = await e2e.api.get("/health/ready", headers=e2e.admin)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "degraded"
        check = body["checks"]["graph_api_version"]
        assert check["ok"] is True and check["state"] == "ending" and check["days_left"] == 49
        assert check["expires"] == "2027-01-21" and "v25.0" in check["detail"]
        assert body["detail"] == check["detail"]
        public = (await e2e.api.get("/health/ready")).json()
        assert public == {"status": "degraded", "not_ready": []}  # no details without a token

        admin = await e2e.api.get("/api/v1/admin/whatsapp/api-version", headers=e2e.admin)
        assert admin.status_code == 200, admin.text
        assert admin.json() | {"detail": None} == {
            "version": "v21.0",
            "state": "ending",
            "released": "2024-10-02",
            "expires": "2027-01-21",
            "days_left": 49,
            "warn_days": 90,
            "detail": None,
            "supported": ["v17.0", "v18.0", "v19.0", "v20.0", "v21.0", "v22.0", "v23.0", "v24.0", "v25.0", "v26.0"],
        }
        assert admin.json()["detail"].startswith("Graph API v21.0 stops working on 2027-01-21 (49 days left)")
        assert (await e2e.api.get("/api/v1/admin/whatsapp/api-version")).status_code == 401

        tenant = e2e.tenants.add(phone_number_id=NUMBER)
        message_id = await e2e.send_po(tenant)

        async def delivered() -> bool:
            return (await e2e.message(message_id))["status"] in ("delivered", "read")

        await eventually(delivered)
        sent = (await e2e.sandbox.get("/_sandbox/messages")).json()
        assert [m["api_version"] for m in sent] == ["v21.0"]


async def test_expired_version_is_not_ready_and_messages_wait(sqlite_url: str) -> None:
    async with sandbox_stack(sqlite_url, today=date(2027, 1, 21), whatsapp_api_version="v21.0") as e2e:
        ready = await e2e.api.get("/health/ready", headers=e2e.admin)
        assert ready.status_code == 503
        body = ready.json()
        assert "graph_api_version" in body["not_ready"]
        assert body["checks"]["graph_api_version"]["state"] == "expired"
        assert "stopped working on 2027-01-21" in body["detail"]
        public = (await e2e.api.get("/health/ready")).json()
        assert public["not_ready"] == ["graph_api_version"] and "2027" not in public["detail"]
        admin = (await e2e.api.get("/api/v1/admin/whatsapp/api-version", headers=e2e.admin)).json()
        assert admin["state"] == "expired" and admin["days_left"] == 0

        tenant = e2e.tenants.add(phone_number_id=NUMBER)
        message = await e2e.message(await e2e.send_po(tenant))
        assert message["status"] == "held" and message["error_code"] == "2635"  # waits: not failed
        quality = (await e2e.api.get("/api/v1/admin/whatsapp/quality", headers=e2e.admin)).json()
        assert quality["account"]["held"] is True


async def test_current_default_version_is_ready(sqlite_url: str) -> None:
    async with sandbox_stack(sqlite_url, today=DAY) as e2e:
        ready = await e2e.api.get("/health/ready", headers=e2e.admin)
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        check = ready.json()["checks"]["graph_api_version"]
        assert check["version"] == "v25.0" and check["state"] == "current" and check["detail"] is None
        clock = (await e2e.sandbox.get("/_sandbox/clock")).json()
        assert clock["today"] == DAY.isoformat() and clock["versions"]["v25.0"]["state"] == "current"
        sandbox_read = await e2e.sandbox.get("/v20.0/200000000000001", headers={"Authorization": "Bearer x"})
        assert sandbox_read.status_code == 400 and sandbox_read.json()["error"]["code"] == 2635  # ended 2026-09-24
