"""Test helpers for the dashboard (tests/dashboard/): a seeded hub served on loopback, logins,
and a headless Chromium (Debian's, driven by Playwright).

`seed_hub(root)` builds the hub once (SQLite in `root`): offices with signed whole lifecycles
(`hubfill.fill_hub`; some only half pushed, so they have open and overdue dossiers in different
numbers), one office whose station is the real `commune` command line enrolled over HTTP and
synced (its receipt, JSON and QR payload, is what a citizen brings to the public check), and
two accounts. `serve(hub)` runs it with uvicorn on a free port: each server has its own
in-memory rate limiters, so a test module (or a test that spends the login budget) takes its
own server over the same hub; sessions live in the database and are valid on all of them.

    seeded = seed_hub(tmp_path)
    with serve(seeded.hub) as server:
        with logged_in(server.url, AGGREGATOR) as http: ...
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from hubfill import HUB_NAME, FilledOffice, fill_hub
from hubkit import HubServer

from commune_client.clock import VN_TZ, iso
from sync_server.dashboard import accounts
from sync_server.hub import Hub
from sync_server.storage import Storage, open_storage

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_SCREENSHOTS = ROOT / "docs" / "screenshots"
PUBLISH_ENV = "DASHBOARD_DOC_SCREENSHOTS"  # =1: copy the key screenshots into docs/screenshots
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

AGGREGATOR, AUDITOR = "tonghop", "thanhtra"
PASSWORD = "mat-khau-dai-1"
PERIOD = ("2026-11-01", "2026-11-30")  # the filled lifecycles start on 2 November 2026

FULL_OFFICES = 3  # offices 01..03: every lifecycle pushed (nothing open)
HALF_SIZES = {4: 20, 5: 40, 6: 60, 7: 80}  # office number: dossiers, half pushed (open ones)
STATION_OFFICE = "000.00.17.H56"
STATION_OFFICE_NAME = "UBND xã Tân Lập"
OFFICER = "Nguyễn Thị Hoa"
APPLICANT_NAME = "Hoàng Thị Bích Ngọc"
APPLICANT_ID = "001199054321"
EXE = str(Path(sys.executable).with_name("commune"))


@dataclass
class Seeded:
    root: Path
    storage: Storage
    hub: Hub
    filled: list[FilledOffice]
    code: str  # the CLI station's dossier
    receipt: dict[str, Any]
    receipt_text: str  # the receipt file as `commune receipt CODE` writes it
    qr: str  # `commune receipt CODE --text`
    station_dir: Path
    offices_at_start: list[str] = field(default_factory=list)

    def office_codes(self) -> list[str]:
        """Every office the hub knows now (tests may register more)."""
        with self.hub.storage.transaction() as tx:
            return sorted(o["code"] for o in tx.offices())

    def filled_office(self, code: str) -> FilledOffice:
        return next(o for o in self.filled if o.office == code)

    def events_of(self, code: str) -> list[dict[str, Any]]:
        """The pushed events of a filled dossier, from the station's own log."""
        for office in self.filled:
            events = [e for e in office.station.events[: office.pushed] if e.get("dossier")]
            found = [e for e in events if e["dossier"] == code]
            if found:
                return found
        raise KeyError(code)


class Cli:
    """The real `commune` command line on one data directory, with a device clock that moves
    on a minute per command (an hour behind the wall clock, like tests/e2e's desks)."""

    def __init__(self, data: Path, passphrase: str = "hoa-mat-khau") -> None:
        self.data = data
        self.passphrase = passphrase
        self.clock = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(hours=1)

    def run(self, *args: str, as_json: bool = True) -> str:
        self.clock += timedelta(minutes=1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNE_")}
        env.update(
            {
                "COMMUNE_DATA_DIR": str(self.data),
                "COMMUNE_NOW": iso(self.clock),
                "COMMUNE_PASSPHRASE": self.passphrase,
            }
        )
        argv = [EXE, *(["--json"] if as_json else []), *args]
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def ok(self, *args: str) -> Any:
        return json.loads(self.run(*args))


def seed_hub(root: Path) -> Seeded:
    """The dashboard's test hub in `root` (see the module docstring). About 5 s on 2 cores,
    most of it the command line's start-ups."""
    root.mkdir(parents=True, exist_ok=True)
    storage = open_storage(f"sqlite:///{root / 'hub.db'}")
    hub = Hub(storage, name=HUB_NAME)
    filled = fill_hub(hub, FULL_OFFICES, 40)
    for number, size in HALF_SIZES.items():
        filled += fill_hub(hub, 1, size, half=True, first=number)
    with hub.storage.transaction() as tx:
        accounts.add_user(tx, AGGREGATOR, PASSWORD, "aggregator")
        accounts.add_user(tx, AUDITOR, PASSWORD, "auditor")

    desk = Cli(root / "station")
    with serve(hub) as server:
        token = str(hub.add_office(STATION_OFFICE, STATION_OFFICE_NAME)["token"])
        desk.ok(
            "init", "--office", STATION_OFFICE, "--office-name", STATION_OFFICE_NAME,
            "--officer", OFFICER, "--server", server.url, "--enroll", token,
        )  # fmt: skip
        desk.ok("catalog", "demo")
        code = desk.ok(
            "receive", "--procedure", "1.001193", "--applicant-name", APPLICANT_NAME,
            "--applicant-id", APPLICANT_ID, "--phone", "0987654321",
        )["code"]  # fmt: skip
        synced = desk.ok("sync")
        assert synced["ok"] and synced["accepted"] == synced["local_size"], synced
    receipt_text = desk.run("receipt", code)
    receipt = json.loads(receipt_text)
    qr = desk.run("receipt", code, "--text", as_json=False).strip()
    assert qr.startswith("CLR1."), qr
    with hub.storage.transaction() as tx:
        assert code in tx.dossiers([code]), "the hub did not receive the station's dossier"
    seeded = Seeded(root, storage, hub, filled, code, receipt, receipt_text, qr, desk.data)
    seeded.offices_at_start = seeded.office_codes()
    return seeded


@contextmanager
def serve(hub: Hub) -> Iterator[HubServer]:
    """The hub (API and dashboard) on a free loopback port, with fresh rate limiters."""
    server = HubServer(hub).start()
    try:
        yield server
    finally:
        server.stop()


# -- plain HTTP ------------------------------------------------------------------------------
CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def client(url: str) -> httpx.Client:
    """A client that does not follow redirects (the tests look at them)."""
    return httpx.Client(base_url=url, follow_redirects=False, timeout=30)


def login(http: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """Fetch the login form (its anonymous CSRF cookie and token) and post it."""
    form = http.get("/dashboard/login")
    assert form.status_code == 200, form.status_code
    data = {
        "csrf": csrf_of(form.text),
        "next": "/dashboard/",
        "username": username,
        "password": password,
    }
    return http.post("/dashboard/login", data=data)


@contextmanager
def logged_in(url: str, username: str) -> Iterator[httpx.Client]:
    """A client with `username`'s session."""
    with client(url) as http:
        answer = login(http, username)
        assert answer.status_code == 303, (answer.status_code, answer.text[:500])
        yield http


# -- the browser ------------------------------------------------------------------------------
def launch_browser(playwright: Any) -> Any:
    """Debian's Chromium, headless (no Playwright browser download)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True)


def browser_login(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/dashboard/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[action='/dashboard/login'] button[type=submit]")
    page.wait_for_url("**/dashboard/")


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """`test-artifacts/screenshots/NAME.png`; with DASHBOARD_DOC_SCREENSHOTS=1 the key ones
    (`dashboard-*`) are also copied into docs/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if name.startswith("dashboard-") and os.environ.get(PUBLISH_ENV) == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SCREENSHOTS / path.name)
    return path
