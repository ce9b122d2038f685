"""The dashboard in a real browser (Debian's Chromium, headless, via Playwright) against a live
seeded hub: the aggregator's walk from the overview to an office, a dossier, the portal and
the xlsx export, the English switch, the phone layout, and a citizen's public receipt check.

Screenshots land in test-artifacts/screenshots/ (DASHBOARD_DOC_SCREENSHOTS=1 also refreshes
docs/screenshots/dashboard-*.png)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from dashkit import (
    AGGREGATOR,
    APPLICANT_NAME,
    PERIOD,
    PHONE,
    STATION_OFFICE,
    STATION_OFFICE_NAME,
    VIEWPORT,
    Seeded,
    browser_login,
    screenshot,
)
from hubkit import HubServer
from openpyxl import load_workbook

from sync_server.dashboard import queries
from sync_server.dashboard.export import HEADERS

BUSIEST = "000.00.05.H56"  # the half-pushed office with the most overdue dossiers


@pytest.fixture(scope="module")
def signed_in(browser: Any, live: HubServer) -> Iterator[Any]:
    """One logged-in aggregator context for the module (one login: the limits are real)."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live.url, locale="vi-VN")
    page = context.new_page()
    browser_login(page, AGGREGATOR)
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(signed_in: Any) -> Iterator[Any]:
    page = signed_in.new_page()
    yield page
    page.close()


@pytest.fixture
def public(browser: Any, live: HubServer) -> Iterator[Any]:
    """A citizen: nobody logged in."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live.url)
    page = context.new_page()
    yield page
    context.close()


def row_codes(page: Any) -> list[str]:
    rows = page.locator("#offices tbody tr[data-office]")
    return [str(c) for c in rows.evaluate_all("rows => rows.map(r => r.dataset.office)")]


def column(page: Any, n: int) -> list[str]:
    """The text of the n-th (1-based) cell of every office row."""
    cells = page.locator(f"#offices tbody tr[data-office] td:nth-child({n})")
    return [t.strip() for t in cells.all_inner_texts()]


def bieu06(seeded: Seeded, office: str) -> dict[str, Any]:
    with seeded.hub.storage.transaction() as tx:
        report = queries.office_bieu06(
            tx, office, date.fromisoformat(PERIOD[0]), date.fromisoformat(PERIOD[1])
        )
    return dict(report)


def test_overview_lists_filters_and_sorts(page: Any, seeded: Seeded) -> None:
    page.goto("/dashboard/")
    assert page.locator("html").get_attribute("lang") == "vi"
    expected = seeded.office_codes()
    for code in seeded.offices_at_start:
        assert page.locator(f'#offices tr[data-office="{code}"]').count() == 1, code
    assert sorted(row_codes(page)) == expected
    name = page.locator(f'#offices tr[data-office="{STATION_OFFICE}"] td:nth-child(2)')
    assert name.inner_text().strip() == STATION_OFFICE_NAME
    screenshot(page, "dashboard-overview")

    # filter: no diacritics needed ("tan lap" finds "Tân Lập")
    for query, found in (("tan lap", [STATION_OFFICE]), ("05", [BUSIEST]), ("", expected)):
        page.fill("input[name=q]", query)
        with page.expect_navigation():
            page.click("form.filters button")
        assert sorted(row_codes(page)) == found, query

    # sort by overdue (9th column): most overdue first, then the other way round
    with seeded.hub.storage.transaction() as tx:
        overdue = {r.code: r.overdue for r in queries.overview(tx, seeded.hub.now())}
    assert overdue[BUSIEST] == max(overdue.values()) > 0
    page.click("#offices thead th:nth-child(9) a")
    page.wait_for_url("**sort=overdue**")
    shown = [int(v) for v in column(page, 9)]
    assert shown == sorted(shown, reverse=True) and len(set(shown)) > 2
    assert row_codes(page)[0] == BUSIEST
    assert [overdue[c] for c in row_codes(page)] == shown
    assert page.locator("#offices thead th:nth-child(9) a").get_attribute("aria-sort") == (
        "descending"
    )
    screenshot(page, "overview-by-overdue")
    page.click("#offices thead th:nth-child(9) a")
    page.wait_for_url("**desc=0**")
    shown = [int(v) for v in column(page, 9)]
    assert shown == sorted(shown) and row_codes(page)[-1] == BUSIEST


def test_office_page_bieu06_chart_and_a_dossier(page: Any, seeded: Seeded) -> None:
    page.goto("/dashboard/")
    page.click(f'#offices tr[data-office="{BUSIEST}"] a')
    page.wait_for_url(f"**/dashboard/offices/{BUSIEST}")
    page.fill("input[name=from]", PERIOD[0])
    page.fill("input[name=to]", PERIOD[1])
    page.click("main form.filters button")
    page.wait_for_url(f"**from={PERIOD[0]}**")

    rows = page.locator("#bieu06 tbody tr")
    assert rows.count() >= 2  # at least one field and the total
    total_row = page.locator("#bieu06 tbody tr.sum")
    assert total_row.count() == 1
    received = [int(t) for t in page.locator("#bieu06 tbody tr td:nth-child(2)").all_inner_texts()]
    *fields, total = received
    expected = bieu06(seeded, BUSIEST)
    assert total == sum(fields) == expected["received"]["total"] > 0
    assert len(fields) == len(expected["by_field"])
    chart = page.locator("svg.trend")
    assert chart.count() == 1 and chart.is_visible()
    screenshot(page, "dashboard-office")

    # a dossier from the office's lists (an overdue one: this office has some)
    link = page.locator("main a[href^='/dashboard/dossiers/']").first
    code = link.inner_text().strip()
    link.click()
    page.wait_for_url(f"**/dashboard/dossiers/{code}")
    assert page.locator("h1").inner_text().strip() == code
    events = seeded.events_of(code)
    assert page.locator("#timeline tbody tr").count() == len(events) >= 1
    assert "good" in (page.locator("#verified").get_attribute("class") or "")
    assert page.locator("#timeline tbody").inner_text().count("✘") == 0
    assert page.locator("#status").inner_text().strip()
    assert page.locator("#portal").is_visible()
    screenshot(page, "dashboard-dossier")


def test_station_dossier_and_lookup(page: Any, seeded: Seeded) -> None:
    page.goto("/dashboard/")
    page.fill("header form.lookup input[name=code]", seeded.code)
    page.press("header form.lookup input[name=code]", "Enter")
    page.wait_for_url(f"**/dashboard/dossiers/{seeded.code}")
    assert page.locator("#timeline tbody tr").count() == 1  # received, synced
    assert "good" in (page.locator("#verified").get_attribute("class") or "")
    assert STATION_OFFICE_NAME in page.locator("main").inner_text()


def test_portal_page(page: Any) -> None:
    page.goto("/dashboard/portal")
    assert page.locator("#outbox").is_visible()
    assert page.locator("h1").inner_text().strip() == "Cổng DVC tỉnh"
    screenshot(page, "portal")


def test_export_bieu06_xlsx(page: Any, seeded: Seeded, tmp_path: Path) -> None:
    page.goto("/dashboard/exports")
    page.fill("input[name=from]", PERIOD[0])
    page.fill("input[name=to]", PERIOD[1])
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    assert download.suggested_filename == f"bieu06-{PERIOD[0]}-{PERIOD[1]}.xlsx"
    target = tmp_path / download.suggested_filename
    download.save_as(target)

    sheet = load_workbook(target)["Biểu 06"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert PERIOD[0] in str(rows[0][0]) and PERIOD[1] in str(rows[0][0])
    assert tuple(rows[1]) == HEADERS
    assert rows[1][:3] == ["Mã đơn vị", "Tên đơn vị", "Tiếp nhận: tổng"]
    by_code = {r[0]: r for r in rows[2:-1]}
    busiest = by_code[BUSIEST]
    expected = bieu06(seeded, BUSIEST)
    assert busiest[1] == f"UBND xã {BUSIEST}"
    assert busiest[2] == expected["received"]["total"]
    assert busiest[12] == expected["pending"]["overdue"]
    assert rows[-1][1] == "Tổng cộng"
    assert rows[-1][2] == sum(r[2] for r in by_code.values())


def test_english(page: Any) -> None:
    try:
        page.goto("/dashboard/?lang=en")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text().startswith("Overview")
        heads = page.locator("#offices thead th").all_inner_texts()
        assert "Overdue" in heads and "On-time rate" in heads
        page.goto("/dashboard/portal")  # remembered in a cookie
        assert page.locator("h1").inner_text().strip() == "Provincial portal"
        screenshot(page, "overview-en")
    finally:
        page.goto("/dashboard/?lang=vi")
    assert page.locator("h1").inner_text().startswith("Tổng quan")


def test_phone_layout(browser: Any, signed_in: Any, live: HubServer) -> None:
    context = browser.new_context(
        viewport=PHONE,
        base_url=live.url,
        storage_state=signed_in.storage_state(),
        device_scale_factor=2,
        has_touch=True,
    )
    try:
        page = context.new_page()
        for path in ("/dashboard/", f"/dashboard/offices/{BUSIEST}", "/check"):
            page.goto(path)
            overflow = page.evaluate(
                "() => ({doc: document.documentElement.scrollWidth,"
                " body: document.body.scrollWidth, view: window.innerWidth})"
            )
            assert overflow["view"] == PHONE["width"]
            assert overflow["doc"] <= overflow["view"], (path, overflow)
            assert overflow["body"] <= overflow["view"], (path, overflow)
        page.goto("/dashboard/")
        assert page.locator("#offices tr[data-office]").count() >= 8
        box = page.locator("#offices").evaluate(
            "t => ({table: t.scrollWidth, box: t.parentElement.clientWidth,"
            " scroll: getComputedStyle(t.parentElement).overflowX})"
        )
        if box["table"] > box["box"]:  # a wide table scrolls inside its own box
            assert box["scroll"] in ("auto", "scroll"), box
        screenshot(page, "overview-phone")
    finally:
        context.close()


def tampered(receipt: dict[str, Any], where: str) -> str:
    changed = copy.deepcopy(receipt)
    event = changed["event"]
    if where == "applicant":
        name = event["data"]["applicant"]["name"]
        event["data"]["applicant"]["name"] = name[:-1] + ("c" if name[-1] != "c" else "d")
    else:
        code = event["dossier"]
        event["dossier"] = code[:-1] + ("2" if code[-1] != "2" else "3")
    return json.dumps(changed, ensure_ascii=False, indent=2)


def verify(page: Any, payload: str) -> str:
    """Paste into the public check, press the button: the verdict's class."""
    page.goto("/check")
    page.fill("textarea[name=payload]", payload)
    page.click("#verify")
    page.wait_for_selector("#verdict")
    return str(page.locator("#verdict").get_attribute("class"))


def test_public_check_genuine_receipt(public: Any, seeded: Seeded) -> None:
    page = public
    assert "good" in verify(page, seeded.receipt_text).split()
    assert page.locator("#code").inner_text().strip() == seeded.code
    assert page.locator("#current").inner_text().strip()
    assert "chưa nhận" not in page.locator("#current").inner_text()  # the hub has it
    checks = page.locator("li[data-check]")
    assert checks.count() >= 5
    assert page.locator("li[data-check].bad").count() == 0
    assert APPLICANT_NAME not in page.content()
    screenshot(page, "dashboard-check")

    assert "good" in verify(page, seeded.qr).split()  # what the phone scanned from the QR
    assert page.locator("#code").inner_text().strip() == seeded.code
    screenshot(page, "check-qr")


@pytest.mark.parametrize("where", ["applicant", "dossier"])
def test_public_check_refuses_a_tampered_receipt(public: Any, seeded: Seeded, where: str) -> None:
    page = public
    assert "bad" in verify(page, tampered(seeded.receipt, where)).split()
    assert page.locator("#code").count() == 0  # nothing about any dossier
    assert page.locator("li[data-check].bad").count() >= 1
    screenshot(page, f"check-tampered-{where}")


def test_public_check_uploaded_file(public: Any, seeded: Seeded, tmp_path: Path) -> None:
    page = public
    receipt = tmp_path / f"bien-nhan-{seeded.code}.json"
    receipt.write_text(seeded.receipt_text, encoding="utf-8")
    page.goto("/check")
    page.set_input_files("input[name=file]", str(receipt))
    page.click("#verify")
    page.wait_for_selector("#verdict")
    assert "good" in str(page.locator("#verdict").get_attribute("class")).split()
    assert page.locator("#code").inner_text().strip() == seeded.code
    screenshot(page, "check-upload")
