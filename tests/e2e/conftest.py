from __future__ import annotations

import pytest

from tests.stack import Stack


@pytest.fixture(scope="module")
def admin_stack(tmp_path_factory):
    """Sandbox + tenant service as real processes on SQLite (the `make run` shape)."""
    workdir = tmp_path_factory.mktemp("admin-stack")
    stack = Stack.sqlite(workdir)
    stack.migrate()
    stack.start_sandbox()
    stack.start_tenant()
    yield stack
    stack.stop_all()
