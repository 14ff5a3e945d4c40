"""JWT bearer auth (PyJWT) as FastAPI dependencies.

Claims: ``sub``, ``role`` (admin | owner | service), ``tenant_id`` (owners only), ``exp``.
401 without a token or with a bad one, 403 for a wrong role; owners only ever reach their own tenant.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from bakery_shared.errors import Forbidden, Unauthorized
from bakery_shared.settings import BaseServiceSettings
from bakery_shared.text import control_characters

#: Longest ``sub`` accepted: it is stored as the actor of audit entries, re-drives and hold overrides.
MAX_SUB_LENGTH = 128


class Role(StrEnum):
    ADMIN = "admin"
    OWNER = "owner"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    tenant_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def issue_token(
    settings: BaseServiceSettings,
    *,
    role: Role | str,
    sub: str | None = None,
    tenant_id: uuid.UUID | str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    role = Role(role)
    if role is Role.OWNER and tenant_id is None:
        raise ValueError("an owner token needs a tenant_id")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": sub or f"{role.value}-dev",
        "role": role.value,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if tenant_id is not None:
        claims["tenant_id"] = str(uuid.UUID(str(tenant_id)))
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm)


#: Tokens already verified, by their exact text (and the key and algorithm that verified them) → the principal and
#: the token's ``exp``. A service calls with the same token for hours: the HMAC, base64, JSON and claim checks run
#: once per token instead of once per request. Only a token that passed every check is kept; ``exp`` (the one check
#: whose answer changes with time once a token is valid) is checked again on every use.
_VERIFIED: dict[tuple[str, str, str], tuple[Principal, float]] = {}
_VERIFIED_MAX = 1024


def decode_token(settings: BaseServiceSettings, token: str) -> Principal:
    secret = settings.jwt_secret.get_secret_value()
    key = (token, secret, settings.jwt_algorithm)
    hit = _VERIFIED.get(key)
    if hit is not None:
        if time.time() < hit[1]:
            return hit[0]
        _VERIFIED.pop(key, None)  # expired since: verified again below, which answers token_expired
    principal, expires = _verify(secret, settings.jwt_algorithm, token)
    while len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.pop(next(iter(_VERIFIED)), None)  # the oldest entries
    _VERIFIED[key] = (principal, expires)
    return principal


def _verify(secret: str, algorithm: str, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The bearer token has expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The bearer token is not valid", code="invalid_token") from exc
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise Unauthorized("The bearer token has an unknown role", code="invalid_token") from exc
    tenant_id: uuid.UUID | None = None
    if claims.get("tenant_id") is not None:
        try:
            tenant_id = uuid.UUID(str(claims["tenant_id"]))
        except ValueError as exc:
            raise Unauthorized("The bearer token has a malformed tenant_id", code="invalid_token") from exc
    if role is Role.OWNER and tenant_id is None:
        raise Unauthorized("An owner token must carry a tenant_id", code="invalid_token")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_LENGTH or control_characters(sub):
        raise Unauthorized(
            f"The bearer token's sub must be 1-{MAX_SUB_LENGTH} characters without control characters",
            code="invalid_token",
        )
    return Principal(sub=sub, role=role, tenant_id=tenant_id), float(claims["exp"])


_BEARER_DESCRIPTION = "JWT signed by the platform (roles admin, owner, service)"
_bearer = HTTPBearer(auto_error=False, description=_BEARER_DESCRIPTION)

SettingsGetter = Callable[[Request], BaseServiceSettings]


def settings_from_app(request: Request) -> BaseServiceSettings:
    settings: BaseServiceSettings = request.app.state.settings
    return settings


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'", code="missing_token")
    return decode_token(settings_from_app(request), credentials.credentials)


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller, or None without a token (public routes that show more to some roles). A bad token is a 401."""
    if credentials is None or not credentials.credentials:
        return None
    return await current_principal(request, credentials)


class RoleBearer(HTTPBearer):
    """The check "a valid bearer token with one of ``roles``" as ONE dependency: FastAPI resolves every level of a
    dependency chain (bearer credentials → principal → role check) on every request, at a cost per level larger
    than the checks themselves. Same rules and errors as :func:`current_principal` followed by the role check, and
    the same OpenAPI security scheme as ``HTTPBearer`` (it is one)."""

    def __init__(self, *roles: Role) -> None:
        super().__init__(auto_error=False, description=_BEARER_DESCRIPTION, scheme_name="HTTPBearer")
        self.allowed = frozenset(roles)
        self.names = " or ".join(r.value for r in roles)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return self.authenticate(request.headers.get("Authorization"), settings_from_app(request))

    def authenticate(self, authorization: str | None, settings: BaseServiceSettings) -> Principal:
        """The check itself, from the ``Authorization`` header's value: for a route served without a ``Request``
        (a lean ASGI route), with the same errors and the same token cache as the dependency."""
        scheme, token = get_authorization_scheme_param(authorization)
        if not token or scheme.lower() != "bearer":
            raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'", code="missing_token")
        principal = decode_token(settings, token)
        if principal.role not in self.allowed:
            raise Forbidden(f"This endpoint needs the {self.names} role", code="wrong_role")
        return principal


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """The dependency "a bearer token with one of ``roles``" (401 without a valid token, 403 for another role)."""
    return RoleBearer(*roles)


def ensure_tenant_access(principal: Principal, tenant_id: uuid.UUID) -> None:
    """Admins reach every tenant; an owner only its own; nobody else any."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is Role.OWNER and principal.tenant_id == tenant_id:
        return
    raise Forbidden("You may only access your own bakery's data", code="tenant_forbidden")


AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
#: The service-token check, also used directly by lean routes (``RoleBearer.authenticate``)
SERVICE_BEARER = RoleBearer(Role.SERVICE)
ServicePrincipal = Annotated[Principal, Depends(SERVICE_BEARER)]
AdminOrOwner = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.OWNER))]
AnyPrincipal = Annotated[Principal, Depends(current_principal)]
