"""``python -m wa_sandbox``: serve the sandbox with uvicorn on SANDBOX_HOST:SANDBOX_PORT (127.0.0.1:8009)."""

from __future__ import annotations

import uvicorn

from .app import create_app
from .settings import SandboxSettings


def main() -> None:
    settings = SandboxSettings()
    app = create_app(settings)
    uvicorn.run(app, host=settings.sandbox_host, port=settings.sandbox_port, log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
