"""Schemathesis against both services' OpenAPI schemas, over real HTTP: no 5xx, every response matches its schema.

Each generated request is sent with a token of every role, so that it reaches past authentication into validation
and the handlers (an admin token alone would stop at 403 on service and owner routes). Schemathesis' pytest plugin
does not support pytest 9 yet, so the operations are driven through its Python API with Hypothesis directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tenant_service.seed_demo import DEMO_BAKERIES
from tests.helpers import Tokens

pytestmark = pytest.mark.e2e

TENANT, _ = DEMO_BAKERIES[0]
TOKENS = Tokens()
ROLE_HEADERS = [TOKENS.admin(), TOKENS.owner(TENANT), TOKENS.service()]
CHECKS = [schemathesis.checks.not_a_server_error, response_schema_conformance, content_type_conformance]
SETTINGS = settings(
    max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


def fuzz(base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @SETTINGS
        def run(case) -> None:
            for headers in ROLE_HEADERS:
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations > 5, "the schema should expose the service's operations"
    return failures


def test_tenant_service_api(live_stack):
    failures = fuzz(live_stack.tenant_url)
    assert not failures, "\n\n".join(failures)


def test_notification_service_api(live_stack):
    failures = fuzz(live_stack.notification_url)
    assert not failures, "\n\n".join(failures)
