"""``bakery-admin templates submit`` reports each result and exits 1 when Meta refused one (the notification
service's answer mocked at the HTTP edge; the real path runs in tests/e2e/test_templates_stack.py)."""

from __future__ import annotations

import json

import httpx
import respx
from click.testing import Result
from typer.testing import CliRunner

from bakery_cli.main import app

URL = "http://notification.test"


def run(*args: str) -> Result:
    return CliRunner().invoke(
        app, ["--notification-url", URL, "--token", "t", *args], env={"COLUMNS": "200"}, catch_exceptions=False
    )


@respx.mock
def test_submit_reports_a_refusal_with_metas_error_and_exits_1() -> None:
    answer = {
        "waba_id": "100",
        "results": [
            {"name": "po_notification", "language": "es", "result": "skipped", "status": "APPROVED", "id": "1"},
            {
                "name": "po_notification",
                "language": "en",
                "result": "refused",
                "error_code": 100,
                "error_subcode": 2388019,
                "error": "Invalid parameter: The WhatsApp Business Account already has 250 message templates.",
            },
        ],
        "created": 0,
        "skipped": 1,
        "refused": 1,
    }
    route = respx.post(f"{URL}/api/v1/admin/whatsapp/templates/submit").mock(
        return_value=httpx.Response(200, json=answer)
    )
    result = run("templates", "submit")
    assert route.calls[0].request.headers["Authorization"] == "Bearer t"
    assert result.exit_code == 1
    out = result.stdout
    assert "(100/2388019)" in out and "250 message templates" in out and "0 created, 1 skipped, 1 refused" in out

    as_json = run("--json", "templates", "submit")
    assert json.loads(as_json.stdout) == answer


@respx.mock
def test_plan_shows_each_state_and_the_examples() -> None:
    respx.get(f"{URL}/api/v1/admin/whatsapp/templates/plan").mock(
        return_value=httpx.Response(
            200,
            json={
                "waba_id": "100",
                "templates": [
                    {
                        "name": "po_notification",
                        "language": "es",
                        "category": "UTILITY",
                        "components": [
                            {"type": "BODY", "text": "Hola {{1}}.", "example": {"body_text": [["Harinas"]]}}
                        ],
                        "state": "differs",
                        "waba": {"id": "1", "status": "APPROVED", "category": "MARKETING"},
                    }
                ],
                "extra": [],
            },
        )
    )
    result = run("templates", "plan")
    assert result.exit_code == 0
    out = result.stdout
    assert "differs" in out and "MARKETING" in out and "Harinas" in out
