"""FastAPI application factory of the WhatsApp sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from . import accounts, control, graph, media, onboarding, uploads
from .errors import GraphError
from .faults import FaultInjectionMiddleware
from .settings import SandboxSettings
from .state import SandboxState
from .webhooks import WebhookDispatcher


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    """Build the sandbox app. Raises ``ProductionConfigError`` when ``ENVIRONMENT=production``."""
    settings = settings or SandboxSettings()
    settings.refuse_production()
    state = SandboxState(settings)
    dispatcher = WebhookDispatcher(state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await dispatcher.aclose()

    app = FastAPI(
        title="WhatsApp Cloud API sandbox",
        description="A local fake of Meta's Graph API for WhatsApp (development and tests only).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.state.dispatcher = dispatcher
    app.state.settings = settings

    @app.exception_handler(GraphError)
    async def graph_error_handler(_: Request, exc: GraphError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/_sandbox"):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        return GraphError(code=100, message="(#100) Invalid parameter", details=str(exc.errors())).response()

    @app.get("/_sandbox/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(control.router)  # before the Graph catch-all routes
    app.include_router(accounts.router)
    app.include_router(onboarding.router)  # before the Graph node route and catch-all
    app.include_router(uploads.router)  # before the Graph node route (GET /{version}/upload:<ID>)
    app.include_router(media.router)  # before the Graph node route (GET /{version}/{node_id})
    app.include_router(graph.router)
    app.add_middleware(FaultInjectionMiddleware, state=state)
    return app
