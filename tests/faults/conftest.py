"""Fault-injection suite (issue 7): one real stack on PostgreSQL shared by the scenarios, and the summary report.

The stack: the WhatsApp sandbox, the tenant service, the notification API (``DISPATCHER_ENABLED=false``) and one
stand-alone dispatcher process, each a real subprocess on a free port, two fresh PostgreSQL databases. The
scenarios (``test_faults.py``) run one after the other against it and each adds a row to ``SUMMARY``; at the end
of the session the rows are printed (whether or not ``-s`` was given) and written to
``bench-results/faults-summary.json``.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create_postgres_database, drop_postgres_database
from tests.e2e.flows import enable_whatsapp
from tests.faults.support import FAULT_ENV, TENANTS
from tests.stack import ROOT, SANDBOX_TOKEN, Stack

#: scenario name → its figures (filled by the tests, printed and written at the end of the session)
SUMMARY: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def fault_summary() -> dict[str, dict[str, Any]]:
    return SUMMARY


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("faults")
    token_file = workdir / "access-token"
    token_file.write_text(SANDBOX_TOKEN + "\n")
    tenant_db = create_postgres_database()
    notification_db = create_postgres_database()
    stack = Stack(
        workdir,
        tenant_db=tenant_db,
        notification_db=notification_db,
        extra_env={**FAULT_ENV, "WHATSAPP_ACCESS_TOKEN_FILE": str(token_file)},
    )
    stack.token_file = token_file  # type: ignore[attr-defined]
    try:
        stack.migrate()
        stack.start_sandbox()
        stack.start_tenant()
        stack.start_notification(DISPATCHER_ENABLED="false")
        stack.start_dispatcher()
        for tenant_id, phone_number_id in TENANTS:
            enable_whatsapp(stack, tenant_id, phone_number_id)
        yield stack
    finally:
        stack.stop_all()
        drop_postgres_database(tenant_db)
        drop_postgres_database(notification_db)


COLUMNS = [
    ("scenario", "scenario"),
    ("events", "events"),
    ("sent", "sent"),
    ("delivered", "deliv."),
    ("read", "read"),
    ("failed", "failed"),
    ("duplicates", "dup sends"),
    ("kills", "kills"),
    ("drain_seconds", "drain s"),
]


def _table(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    cells = [[name] + [str(row.get(key, "")) for key, _ in COLUMNS[1:]] for name, row in rows.items()]
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, (_, title) in enumerate(COLUMNS)]
    lines.append("  ".join(title.ljust(w) for (_, title), w in zip(COLUMNS, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    for row_cells in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row_cells, widths, strict=True)).rstrip())
    for name, row in rows.items():
        if row.get("failed_by_reason"):
            lines.append(f"{name}: failed by reason {row['failed_by_reason']}")
        if row.get("notes"):
            lines.append(f"{name}: {row['notes']}")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not SUMMARY:
        return
    terminalreporter.section("fault-injection summary")
    for line in _table(SUMMARY):
        terminalreporter.write_line(line)
    out = Path(os.environ.get("FAULTS_SUMMARY_DIR", ROOT / "bench-results"))
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "generated_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "exit_status": int(exitstatus),
        "scenarios": SUMMARY,
    }
    path = out / "faults-summary.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    terminalreporter.write_line(f"written to {path}")
