"""One seeded hub for the whole directory (tests/dashkit.py); each module serves it on its own
uvicorn (its own rate limiters); one headless Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dashkit import Seeded, launch_browser, seed_hub, serve
from hubkit import HubServer


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    hub = seed_hub(tmp_path_factory.mktemp("dashboard-hub"))
    yield hub
    hub.storage.close()


@pytest.fixture(scope="module")
def live(seeded: Seeded) -> Iterator[HubServer]:
    with serve(seeded.hub) as server:
        yield server


# Module scope, not session (nor "package", which is the session for a directory without
# __init__.py): Playwright's sync API keeps its event loop marked as running in the main thread
# while it is open, so every asyncio test after it (the TUI's) would fail with "Cannot run the
# event loop while another loop is running".
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()
