"""One seeded hub for the whole directory (tests/dashkit.py); each module serves it on its own
uvicorn (its own rate limiters); one headless Chromium for the session."""

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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()
