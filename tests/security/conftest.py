from __future__ import annotations

import pytest

from tests.stack import Stack


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory):
    """Sandbox, tenant and notification services as real processes on SQLite."""
    workdir = tmp_path_factory.mktemp("security-stack")
    stack = Stack.sqlite(workdir, RECIPIENT_MIN_INTERVAL_SECONDS="0", WHATSAPP_WEBHOOK_RATE_PER_SECOND="1000")
    stack.start_all()
    yield stack
    stack.stop_all()
