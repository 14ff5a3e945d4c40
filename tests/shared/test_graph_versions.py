"""bakery_shared.graph_versions: the one table of Graph API versions and what a version means on a given day;
the settings refuse a version the table does not know."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from bakery_shared.graph_versions import (
    DEFAULT_GRAPH_API_VERSION,
    GRAPH_API_VERSIONS,
    LATEST_GRAPH_API_VERSION,
    WARN_DAYS,
    VersionState,
    normalize_version,
    version_status,
)
from bakery_shared.settings import WhatsAppSettings


def test_table_matches_metas_changelog() -> None:
    """The dates of Meta's "Graph API changelog: Versions" page (read 2026-12-03)."""
    expected = {
        "v21.0": date(2027, 1, 21),
        "v22.0": date(2027, 5, 20),
        "v23.0": date(2027, 10, 8),
        "v24.0": date(2028, 2, 18),
        "v25.0": date(2028, 7, 29),
        "v26.0": None,
    }
    for name, expires in expected.items():
        assert GRAPH_API_VERSIONS[name].expires == expires, name
    assert GRAPH_API_VERSIONS["v25.0"].released == date(2026, 2, 18)
    assert DEFAULT_GRAPH_API_VERSION == "v25.0" and LATEST_GRAPH_API_VERSION == "v26.0"
    releases = [v.released for v in GRAPH_API_VERSIONS.values()]
    assert releases == sorted(releases)


def test_states_around_the_end() -> None:
    end = GRAPH_API_VERSIONS["v21.0"].expires
    assert end is not None
    far = version_status("v21.0", end - timedelta(days=WARN_DAYS + 1))
    assert far.state is VersionState.CURRENT and far.ok and far.message is None
    near = version_status("v21.0", end - timedelta(days=WARN_DAYS))
    assert near.state is VersionState.ENDING and near.ok and near.days_left == WARN_DAYS
    assert near.message is not None and "2027-01-21" in near.message and "v25.0" in near.message
    last = version_status("v21.0", end - timedelta(days=1))
    assert last.state is VersionState.ENDING and last.days_left == 1
    gone = version_status("v21.0", end)
    assert gone.state is VersionState.EXPIRED and not gone.ok and gone.days_left == 0
    assert gone.message is not None and "stopped working on 2027-01-21" in gone.message
    open_ended = version_status("v26.0", date(2030, 1, 1))
    assert open_ended.state is VersionState.CURRENT and open_ended.expires is None and open_ended.days_left is None
    unknown = version_status("v99.0", date(2026, 12, 3))
    assert unknown.state is VersionState.UNKNOWN and not unknown.ok and "v25.0" in (unknown.message or "")
    body = near.as_dict()
    assert body["state"] == "ending" and body["expires"] == "2027-01-21" and body["warn_days"] == WARN_DAYS


def test_normalize() -> None:
    assert normalize_version("25.0") == "v25.0"
    assert normalize_version(" v25.0 ") == "v25.0"
    assert normalize_version("latest") == "latest"


def test_settings_default_and_refusal() -> None:
    assert WhatsAppSettings(_env_file=None).whatsapp_api_version == "v25.0"  # type: ignore[call-arg]
    assert WhatsAppSettings(_env_file=None, whatsapp_api_version="24.0").whatsapp_api_version == "v24.0"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="WHATSAPP_API_VERSION='v99.0' is not a Graph API version"):
        WhatsAppSettings(_env_file=None, whatsapp_api_version="v99.0")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="is not a Graph API version"):
        WhatsAppSettings(_env_file=None, whatsapp_api_version="latest")  # type: ignore[call-arg]
