"""Who may see and do what on the dashboard, over plain HTTP against a live hub (no browser):
login redirects, roles, CSRF, login rate limits, logout, security headers, and the public
check that never shows the applicant."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from dashkit import (
    AGGREGATOR,
    APPLICANT_ID,
    APPLICANT_NAME,
    AUDITOR,
    PASSWORD,
    Seeded,
    client,
    csrf_of,
    logged_in,
    login,
    serve,
)
from hubkit import HubServer

from sync_server.dashboard.security import COOKIE


def pages(seeded: Seeded) -> list[str]:
    office = seeded.filled[0].office
    return [
        "/dashboard/",
        "/dashboard/?q=05&sort=overdue",
        f"/dashboard/offices/{office}",
        f"/dashboard/offices/{office}?from=2026-11-01&to=2026-11-30",
        f"/dashboard/dossiers/{seeded.code}",
        f"/dashboard/dossiers?code={seeded.code}",
        "/dashboard/portal",
        "/dashboard/exports",
        "/dashboard/exports/bieu06.xlsx?from=2026-11-01&to=2026-11-30",
    ]


@pytest.fixture(scope="module")
def auditor(live: HubServer) -> Iterator[httpx.Client]:
    with logged_in(live.url, AUDITOR) as http:
        yield http


@pytest.fixture(scope="module")
def aggregator(live: HubServer) -> Iterator[httpx.Client]:
    with logged_in(live.url, AGGREGATOR) as http:
        yield http


def office_count(seeded: Seeded) -> int:
    return len(seeded.office_codes())


def test_anonymous_is_sent_to_the_login_page(live: HubServer, seeded: Seeded) -> None:
    with client(live.url) as http:
        for path in pages(seeded):
            answer = http.get(path)
            assert answer.status_code == 303, (path, answer.status_code)
            assert answer.headers["location"].startswith("/dashboard/login?next="), path
            assert not answer.content.startswith(b"PK"), path  # no workbook for anyone
        # after logging in, the browser lands where it was going
        target = f"/dashboard/offices/{seeded.filled[0].office}"
        form = http.get(http.get(target).headers["location"])
        assert f'value="{target}"' in form.text
        data = {"csrf": csrf_of(form.text), "next": target}
        logged = http.post(
            "/dashboard/login", data={**data, "username": AUDITOR, "password": PASSWORD}
        )
        assert logged.status_code == 303 and logged.headers["location"] == target


def test_auditor_reads_everything_and_changes_nothing(
    auditor: httpx.Client, seeded: Seeded
) -> None:
    for path in pages(seeded):
        answer = auditor.get(path)
        if path.startswith("/dashboard/dossiers?"):  # the header's lookup box
            assert answer.status_code == 303, (path, answer.status_code)
            assert answer.headers["location"] == f"/dashboard/dossiers/{seeded.code}"
            continue
        assert answer.status_code == 200, (path, answer.status_code)
    page = auditor.get("/dashboard/exports")
    assert 'action="/dashboard/offices"' not in page.text  # no form it may not use
    csrf = csrf_of(page.text)  # the auditor's own, valid session token
    before = office_count(seeded)
    refused = auditor.post(
        "/dashboard/offices", data={"csrf": csrf, "code": "000.00.41.H56", "name": "UBND xã Mới"}
    )
    assert refused.status_code == 403
    assert auditor.post("/dashboard/portal/reconcile", data={"csrf": csrf}).status_code == 403
    assert office_count(seeded) == before
    assert "000.00.41.H56" not in seeded.office_codes()


def test_aggregator_registers_an_office_only_with_the_csrf_token(
    aggregator: httpx.Client, seeded: Seeded
) -> None:
    csrf = csrf_of(aggregator.get("/dashboard/exports").text)
    before = office_count(seeded)
    office = {"code": "000.00.42.H56", "name": "UBND xã Hoà Bình"}
    assert aggregator.post("/dashboard/offices", data=office).status_code == 403
    assert aggregator.post("/dashboard/offices", data={**office, "csrf": ""}).status_code == 403
    wrong = {**office, "csrf": csrf[:-4] + ("aaaa" if not csrf.endswith("aaaa") else "bbbb")}
    assert aggregator.post("/dashboard/offices", data=wrong).status_code == 403
    assert office_count(seeded) == before
    made = aggregator.post("/dashboard/offices", data={**office, "csrf": csrf})
    assert made.status_code == 200, made.text[:500]
    assert 'id="token"' in made.text
    assert office_count(seeded) == before + 1
    assert office["code"] in seeded.office_codes()
    # reconcile needs a portal; this hub has none: refused, and not for want of a role
    assert aggregator.post("/dashboard/portal/reconcile", data={"csrf": csrf}).status_code == 409


def test_login_refusals(live: HubServer) -> None:
    with client(live.url) as http:
        form = http.get("/dashboard/login")
        assert form.status_code == 200
        good = {"username": AUDITOR, "password": PASSWORD, "next": "/dashboard/"}
        assert http.post("/dashboard/login", data=good).status_code == 403  # no csrf
        forged = {**good, "csrf": "x" * 43}  # not the cookie's value
        assert http.post("/dashboard/login", data=forged).status_code == 403
        assert COOKIE not in http.cookies
        wrong = login(http, AUDITOR, "mat-khau-sai-99")
        assert wrong.status_code == 401
        assert COOKIE not in http.cookies
    with client(live.url) as other:  # a post with no cookie at all (another site's form)
        blind = other.post("/dashboard/login", data={**good, "csrf": csrf_of(form.text)})
        assert blind.status_code == 403


def test_eleven_bad_logins_from_one_address_are_throttled(seeded: Seeded) -> None:
    with serve(seeded.hub) as own, client(own.url) as http:  # fresh limiters
        codes = [login(http, f"khach{i:02d}", "mat-khau-sai-99").status_code for i in range(11)]
        assert codes == [401] * 10 + [429]
        throttled = login(http, AGGREGATOR)  # even the right password now waits
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["Retry-After"]) <= 300
        assert COOKIE not in http.cookies


def test_five_bad_logins_for_one_user_are_throttled(seeded: Seeded) -> None:
    with serve(seeded.hub) as own, client(own.url) as http:
        codes = [login(http, AUDITOR, f"mat-khau-sai-{i:02d}").status_code for i in range(6)]
        assert codes == [401] * 5 + [429]
        assert int(login(http, AUDITOR).headers["Retry-After"]) >= 1


def test_public_check_needs_the_csrf_token(live: HubServer, seeded: Seeded) -> None:
    with client(live.url) as http:
        form = http.get("/check")
        assert form.status_code == 200
        bare = http.post("/check", data={"payload": seeded.receipt_text})
        assert bare.status_code == 403
        assert APPLICANT_NAME not in bare.text


def test_logout_ends_the_session(live: HubServer) -> None:
    with logged_in(live.url, AGGREGATOR) as http:
        token = http.cookies[COOKIE]
        page = http.get("/dashboard/")
        assert page.status_code == 200
        assert http.post("/dashboard/logout", data={}).status_code == 403  # csrf needed
        out = http.post("/dashboard/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    with client(live.url) as stale:
        stale.cookies.set(COOKIE, token)
        again = stale.get("/dashboard/")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/dashboard/login")


def test_security_headers_and_cookie_flags(live: HubServer, aggregator: httpx.Client) -> None:
    with client(live.url) as http:
        for answer in (
            http.get("/check"),
            http.get("/dashboard/login"),
            aggregator.get("/dashboard/"),
            aggregator.get("/dashboard/portal"),
        ):
            assert answer.status_code == 200, answer.url
            csp = answer.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert aggregator.get("/dashboard/").headers["Cache-Control"] == "no-store"
        logged = login(http, AUDITOR)
        assert logged.status_code == 303
        cookie = next(
            c for c in logged.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")
        )
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags and "samesite=lax" in flags
        assert "secure" not in flags  # plain HTTP on loopback: a Secure cookie would be lost


@pytest.mark.parametrize("form", ["json", "qr", "upload"])
def test_public_check_shows_no_personal_data(live: HubServer, seeded: Seeded, form: str) -> None:
    with client(live.url) as http:
        csrf = csrf_of(http.get("/check").text)
        if form == "upload":
            files = {"file": ("bien-nhan.json", seeded.receipt_text.encode(), "application/json")}
            answer = http.post("/check", data={"csrf": csrf, "payload": ""}, files=files)
        else:
            payload = seeded.receipt_text if form == "json" else seeded.qr
            answer = http.post("/check", data={"csrf": csrf, "payload": payload})
    assert answer.status_code == 200, answer.text[:2000]
    html = answer.text
    assert 'class="verdict good"' in html
    assert f'<dd id="code">{seeded.code}</dd>' in html
    for secret in (APPLICANT_NAME, APPLICANT_ID, "0987654321", "Bích Ngọc"):
        assert secret not in html, secret
    assert "Đăng ký khai sinh" in html  # the procedure is shown
