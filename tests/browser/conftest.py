"""Browser fixtures: Debian's Chromium driven by Playwright (never ``playwright install``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import stack as stack_fixtures
from tests.browser.stack import Stack

# The session-scoped services and the "needs …" guards, defined in stack.py.
stack = stack_fixtures.stack
needs_sandbox = stack_fixtures.needs_sandbox
needs_notification = stack_fixtures.needs_notification
needs_notification_webhooks = stack_fixtures.needs_notification_webhooks

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _require_browser() -> bool:
    return os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false")


def _unavailable(reason: str) -> None:
    if _require_browser():
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped on purpose: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would break every async test that runs after it (pytest-asyncio) if it lived for the session."""
    if not CHROMIUM.exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def context(browser: Any, stack: Stack) -> Iterator[Any]:
    ctx = browser.new_context(viewport=DESKTOP, base_url=stack.tenant_url, locale="es-ES")
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A tab; any uncaught JavaScript error in it fails the test."""
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shoot(tmp_path: Path):
    """Screenshots a page at desktop and phone width, and checks nothing overflows sideways at 375 px.

    Saved under the test's tmp dir; with ``UPDATE_SCREENSHOTS=1`` also copied to ``docs/screenshots/``.
    """

    def take(page: Any, name: str) -> None:
        page.set_viewport_size(DESKTOP)
        desktop = tmp_path / f"{name}-desktop.png"
        page.screenshot(path=str(desktop), full_page=True)
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(100)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        phone = tmp_path / f"{name}-phone.png"
        page.screenshot(path=str(phone), full_page=True)
        page.set_viewport_size(DESKTOP)
        if os.environ.get("UPDATE_SCREENSHOTS", "") not in ("", "0", "false"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(desktop, SCREENSHOTS / desktop.name)
            shutil.copy(phone, SCREENSHOTS / phone.name)
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than a 375px phone screen"

    return take
