"""Helpers shared by the test packages (tokens, settings)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from bakery_shared.auth import Role, issue_token
from bakery_shared.settings import BaseServiceSettings

TEST_JWT_SECRET = "test-jwt-secret-for-the-suite-0123456789abcdef"


class Tokens:
    def __init__(self, secret: str = TEST_JWT_SECRET):
        self.settings = BaseServiceSettings(jwt_secret=secret, environment="test")

    def _h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> dict[str, str]:
        return self._h(issue_token(self.settings, role=Role.ADMIN, sub="admin@test"))

    def owner(self, tenant_id: uuid.UUID | str) -> dict[str, str]:
        return self._h(issue_token(self.settings, role=Role.OWNER, sub=f"owner-{tenant_id}", tenant_id=tenant_id))

    def service(self) -> dict[str, str]:
        return self._h(issue_token(self.settings, role=Role.SERVICE, sub="notification-service"))

    def expired(self, role: Role = Role.ADMIN) -> dict[str, str]:
        return self._h(issue_token(self.settings, role=role, ttl=timedelta(seconds=-60)))

    def foreign(self, role: Role = Role.ADMIN) -> dict[str, str]:
        other = BaseServiceSettings(jwt_secret="some-other-secret-that-is-not-ours-0123456789", environment="test")
        return self._h(issue_token(other, role=role))
