"""WhatsApp sandbox: a faithful local fake of Meta's WhatsApp Cloud API (Graph API) for development and tests."""

from .seed import load_seed

__all__ = ["create_app", "load_seed"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
