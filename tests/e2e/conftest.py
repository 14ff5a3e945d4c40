from __future__ import annotations

import pytest

from tests.stack import Stack


@pytest.fixture(scope="module")
def admin_stack(tmp_path_factory):
    """Sandbox + tenant service as real processes on SQLite (the `make run` shape)."""
    workdir = tmp_path_factory.mktemp("admin-stack")
    stack = Stack(
        workdir,
        tenant_db=f"sqlite+aiosqlite:///{workdir / 'tenant.db'}",
        notification_db=f"sqlite+aiosqlite:///{workdir / 'notification.db'}",
    )
    import subprocess
    import sys

    from tests.stack import ROOT

    subprocess.run([sys.executable, "-m", "tenant_service.migrate"], env=stack.env(), check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "tenant_service.seed_demo"], env=stack.env(), check=True, cwd=ROOT)
    stack.start_sandbox()
    stack.start_tenant()
    yield stack
    stack.stop_all()
