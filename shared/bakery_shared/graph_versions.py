"""The Graph API versions the product knows, with the dates Meta publishes for them: the one table of them.

Source: Meta's "Graph API changelog: Versions" page (https://developers.facebook.com/docs/graph-api/changelog/versions/),
read on 2026-12-03: the release date of each version and the date it stops working ("expiration date"). A version
whose end Meta has not announced yet has ``expires=None`` (the page says "TBD").

Rules built on it (used by the services' settings, their readiness and the sandbox):

* a version that is not in this table is a configuration error (settings refuse it at start-up);
* a version past its end is *expired*: the services report not ready, the sandbox refuses it as Meta does;
* a version that ends within :data:`WARN_DAYS` days is *ending*: readiness is degraded and the admin page warns.

Update this table when Meta releases a version or announces an end date (and :data:`DEFAULT_GRAPH_API_VERSION`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

#: Warn this many days before the configured version's end.
WARN_DAYS = 90
#: The version the services call when ``WHATSAPP_API_VERSION`` is not set.
DEFAULT_GRAPH_API_VERSION = "v25.0"
VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)$")


@dataclass(frozen=True, slots=True)
class GraphVersion:
    name: str
    released: date
    expires: date | None  # None: Meta has not announced the end yet


#: Oldest first. Versions that ended before 2025 are left out: nothing can call them any more.
GRAPH_API_VERSIONS: dict[str, GraphVersion] = {
    v.name: v
    for v in (
        GraphVersion("v17.0", date(2023, 5, 23), date(2025, 9, 12)),
        GraphVersion("v18.0", date(2023, 9, 12), date(2026, 1, 26)),
        GraphVersion("v19.0", date(2024, 1, 23), date(2026, 5, 21)),
        GraphVersion("v20.0", date(2024, 5, 21), date(2026, 9, 24)),
        GraphVersion("v21.0", date(2024, 10, 2), date(2027, 1, 21)),
        GraphVersion("v22.0", date(2025, 1, 21), date(2027, 5, 20)),
        GraphVersion("v23.0", date(2025, 5, 29), date(2027, 10, 8)),
        GraphVersion("v24.0", date(2025, 10, 8), date(2028, 2, 18)),
        GraphVersion("v25.0", date(2026, 2, 18), date(2028, 7, 29)),
        GraphVersion("v26.0", date(2026, 7, 29), None),
    )
}
LATEST_GRAPH_API_VERSION = max(GRAPH_API_VERSIONS.values(), key=lambda v: v.released).name


class VersionState(StrEnum):
    CURRENT = "current"  # more than WARN_DAYS days left (or no end announced)
    ENDING = "ending"  # ends within WARN_DAYS days: warn
    EXPIRED = "expired"  # past its end: Meta refuses every call
    UNKNOWN = "unknown"  # not in the table (or not a version at all)


@dataclass(frozen=True, slots=True)
class VersionStatus:
    version: str
    state: VersionState
    released: date | None
    expires: date | None
    days_left: int | None  # days until the end (negative once expired); None when no end is known

    @property
    def ok(self) -> bool:
        """The version can be called today."""
        return self.state in (VersionState.CURRENT, VersionState.ENDING)

    @property
    def message(self) -> str | None:
        """Words for an operator (None when there is nothing to say)."""
        fix = f"set WHATSAPP_API_VERSION to a current version (e.g. {DEFAULT_GRAPH_API_VERSION})"
        if self.state is VersionState.ENDING:
            return (
                f"Graph API {self.version} stops working on {self.expires} ({self.days_left} days left): {fix} "
                "before then"
            )
        if self.state is VersionState.EXPIRED:
            return f"Graph API {self.version} stopped working on {self.expires}: Meta refuses every call; {fix}"
        if self.state is VersionState.UNKNOWN:
            return f"Graph API version {self.version!r} is not one the product supports ({supported_list()}); {fix}"
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "state": self.state.value,
            "released": self.released.isoformat() if self.released else None,
            "expires": self.expires.isoformat() if self.expires else None,
            "days_left": self.days_left,
            "warn_days": WARN_DAYS,
            "detail": self.message,
        }


def normalize_version(value: str) -> str:
    """``25.0`` and ``v25.0`` name the same version; anything else comes back stripped, unchanged."""
    text = value.strip()
    match = VERSION_RE.match(text)
    return f"v{int(match.group(1))}.{int(match.group(2))}" if match else text


def version_status(version: str, today: date) -> VersionStatus:
    """Where ``version`` stands on ``today`` (a date: callers pass their clock, tests a fixed day)."""
    name = normalize_version(version)
    info = GRAPH_API_VERSIONS.get(name)
    if info is None:
        return VersionStatus(name, VersionState.UNKNOWN, None, None, None)
    if info.expires is None:
        return VersionStatus(name, VersionState.CURRENT, info.released, None, None)
    days_left = (info.expires - today).days
    if days_left <= 0:
        state = VersionState.EXPIRED
    elif days_left <= WARN_DAYS:
        state = VersionState.ENDING
    else:
        state = VersionState.CURRENT
    return VersionStatus(name, state, info.released, info.expires, days_left)


def supported_list() -> str:
    return ", ".join(GRAPH_API_VERSIONS)
