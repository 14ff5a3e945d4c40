"""Web pages under ``/app/`` for platform admins and bakery owners (plain HTML, CSS and JS modules, no build step).

The pages hold no data: they are public, and every piece of data comes from the token-protected APIs, called
from the browser with the bearer token kept in ``sessionStorage``. The notification service is called
cross-origin (CORS) at ``notification_service_public_url``, which is written into each page's ``<body>``.

The dev sign-in (``/app/dev/*``) mints tokens for the demo users; it is registered only when
``dev_login_enabled`` is true and the environment is not production, so anywhere else it answers 404.
"""

from __future__ import annotations

import html
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from bakery_shared.auth import Role, issue_token
from bakery_shared.contracts import StrictModel
from bakery_shared.errors import InvalidInput, NotFound
from tenant_service.api.deps import Service
from tenant_service.config import TenantSettings
from tenant_service.seed_demo import DEMO_BAKERIES

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"
FAVICON = STATIC / "img" / "favicon.svg"

#: path under /app → (template, page script, title)
PAGES: dict[str, tuple[str, str, str]] = {
    "/app/": ("signin.html", "signin.js", "Entrar"),
    "/app/admin/whatsapp": ("admin_whatsapp.html", "admin_whatsapp.js", "Números de WhatsApp"),
    "/app/admin/whatsapp/messages": ("admin_messages.html", "admin_messages.js", "Mensajes, costes y calidad"),
    "/app/settings/notifications": ("owner_settings.html", "owner_settings.js", "Notificaciones"),
}


def dev_login_active(settings: TenantSettings) -> bool:
    return settings.dev_login_enabled and not settings.is_production


@lru_cache(maxsize=16)
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def render_page(settings: TenantSettings, template: str, script: str, title: str) -> str:
    values = {
        "title": html.escape(title),
        "script": html.escape(script),
        "notification_url": html.escape(settings.notification_service_public_url.rstrip("/"), quote=True),
        "dev_login": "true" if dev_login_active(settings) else "false",
        "body": _template(template),
    }
    page = _template("layout.html")
    for key, value in values.items():
        page = page.replace("{{ " + key + " }}", value)
    return page


def _security_headers(settings: TenantSettings) -> dict[str, str]:
    connect = " ".join(filter(None, ["'self'", _origin(settings.notification_service_public_url)]))
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


router = APIRouter(include_in_schema=False)


@router.get("/favicon.ico")
async def favicon() -> Response:
    """The pages name their icon (``<link rel="icon">``); this answers tools that ask for /favicon.ico anyway.

    Public like the static files: an SVG (browsers go by the Content-Type, not the name)."""
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(_favicon(), media_type="image/svg+xml", headers=headers)


@lru_cache(maxsize=1)
def _favicon() -> bytes:
    return FAVICON.read_bytes()


@router.get("/app")
async def app_root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


def _page_route(path: str, template: str, script: str, title: str) -> None:
    async def page(request: Request) -> HTMLResponse:
        settings: TenantSettings = request.app.state.settings
        return HTMLResponse(render_page(settings, template, script, title), headers=_security_headers(settings))

    page.__name__ = f"page_{script.removesuffix('.js')}"
    router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


for _path, (_template_name, _script, _title) in PAGES.items():
    _page_route(_path, _template_name, _script, _title)


# -- dev sign-in (never in production) ------------------------------------------------------------------------

dev_router = APIRouter(prefix="/app/dev", tags=["dev sign-in (not in production)"])


class DevTokenRequest(StrictModel):
    role: Literal["admin", "owner"]
    tenant_id: uuid.UUID | None = None


class DevToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    tenant_id: uuid.UUID | None = None


class DevUser(BaseModel):
    role: str
    tenant_id: uuid.UUID | None = None
    name: str


@dev_router.get("/users", response_model=list[DevUser])
async def dev_users(service: Service) -> list[DevUser]:
    """The demo admin and an owner for each demo bakery and each other tenant in the database."""
    users = [DevUser(role="admin", name="Platform admin")]
    seen: set[uuid.UUID] = set()
    for tenant_id, name in DEMO_BAKERIES:
        users.append(DevUser(role="owner", tenant_id=tenant_id, name=name))
        seen.add(tenant_id)
    rows, _ = await service.list_tenants(500, 0)
    for row in rows:
        if row.id not in seen:
            users.append(DevUser(role="owner", tenant_id=row.id, name=row.name))
    return users


@dev_router.post("/token", response_model=DevToken)
async def dev_token(body: DevTokenRequest, request: Request, service: Service) -> DevToken:
    """A signed token for a demo user (development only: this route does not exist in production)."""
    settings: TenantSettings = request.app.state.settings
    if not dev_login_active(settings):  # defence in depth: the router is not even mounted then
        raise NotFound("Not Found", code="not_found")
    if body.role == "owner":
        if body.tenant_id is None:
            raise InvalidInput("an owner token needs the bakery's tenant_id", field="tenant_id")
        await service.get_tenant(body.tenant_id)  # 404 for an unknown bakery
        token = issue_token(settings, role=Role.OWNER, sub=f"dev-owner-{body.tenant_id}", tenant_id=body.tenant_id)
        return DevToken(access_token=token, role="owner", tenant_id=body.tenant_id)
    return DevToken(access_token=issue_token(settings, role=Role.ADMIN, sub="dev-admin"), role="admin")


def install(app: FastAPI, settings: TenantSettings) -> None:
    """Mounts the pages, their static files and (outside production, when enabled) the dev sign-in."""
    app.include_router(router)
    if dev_login_active(settings):
        app.include_router(dev_router)
    app.mount("/app/static", StaticFiles(directory=STATIC), name="app-static")
