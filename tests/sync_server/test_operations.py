"""The hub's operations endpoints (docs/sync.md "Operations") and its error answers: every
refusal is JSON `{"error", "detail"}` and no answer ever carries a traceback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hubkit import HubServer, RawStation, add_office, batch_from_store
from prometheus_client.parser import text_string_to_metric_families
from stationkit import OFFICE

from commune_client.station import Session, Station
from ledger.keys import SigningKey
from sync_server.storage import StorageError


def _json_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"], body
    return body


def _metrics(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = httpx.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):  # raises on bad Prometheus text
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def test_healthz(live_hub: HubServer) -> None:
    r = httpx.get(f"{live_hub.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_follows_the_database(live_hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{live_hub.url}/readyz"
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ready"}

    storage = live_hub.hub.storage

    def refuse() -> Any:
        raise StorageError("the database server is down")

    # The database goes away: open connections are lost and no new one can be made.
    monkeypatch.setattr(storage, "connect", refuse)
    storage.close()
    _json_error(httpx.get(url, timeout=10), 503, "not-ready")
    # /healthz is about the process, not the database
    assert httpx.get(f"{live_hub.url}/healthz", timeout=10).status_code == 200

    # It comes back: the hub reconnects by itself.
    monkeypatch.undo()
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_metrics_count_requests_and_entries(
    live_hub: HubServer, station: Station, session: Session
) -> None:
    token = add_office(live_hub.hub, OFFICE)
    with httpx.Client(base_url=live_hub.url, timeout=30) as client:
        raw = RawStation(live_hub.url, session.station_key, client=client)
        assert raw.enrol(token, OFFICE, 1, station.info.origin).status_code == 201
        n = station.store.size()
        batch = batch_from_store(station.store, station.info.ref, station.info.origin, 0, n)
        assert raw.push(f"{OFFICE}-1", batch).status_code == 200
        assert client.get("/no/such/route").status_code == 404

    after = _metrics(live_hub.url)
    requests = {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in after["hub_http_requests_total"]
    }
    assert requests[("POST", "/v1/enrol", "201")] == 1
    assert requests[("POST", "/v1/stations/{sid}/entries", "200")] == 1
    assert requests[("GET", "unmatched", "404")] == 1
    assert after["hub_entries_total"] == [({}, n)]
    assert after["hub_pushes_total"] == [({}, 1)]
    assert "hub_entries_resent_total" not in after  # nothing was sent twice yet
    with httpx.Client(base_url=live_hub.url, timeout=30) as client:
        raw = RawStation(live_hub.url, session.station_key, client=client)
        assert raw.push(f"{OFFICE}-1", batch).status_code == 200  # its answer was "lost"
    again = _metrics(live_hub.url)
    assert again["hub_entries_resent_total"] == [({}, n)]
    assert again["hub_pushes_resending_total"] == [({}, 1)]
    assert again["hub_entries_total"] == [({}, n)]
    assert any(
        labels.get("route") == "/v1/stations/{sid}/entries" and value == 1
        for labels, value in after["hub_http_request_seconds_count"]
    )


def test_unknown_route_and_method_are_json(live_hub: HubServer) -> None:
    with httpx.Client(base_url=live_hub.url, timeout=10) as client:
        _json_error(client.get("/v2/hub"), 404, "not-found")
        _json_error(client.get("/nothing-here"), 404, "not-found")
        # the site's root is for citizens: it leads to the public receipt check
        root = client.get("/")
        assert (root.status_code, root.headers["location"]) == (303, "/check")
        _json_error(client.post("/v1/hub", content=b"{}"), 405, "method-not-allowed")
        _json_error(client.delete("/v1/blobs/" + "a" * 64), 405, "method-not-allowed")
        _json_error(client.get("/v1/offices/X/feed?after=x"), 400, "bad-request")


def test_errors_are_json_without_tracebacks(live_hub: HubServer) -> None:
    """A sample of every kind of refusal, unsigned and signed: JSON, no traceback."""
    token = add_office(live_hub.hub, OFFICE)
    with httpx.Client(base_url=live_hub.url, timeout=10) as client:
        key_station = RawStation(live_hub.url, SigningKey.generate(), client=client)
        answers = [
            client.get(f"/v1/stations/{OFFICE}-1"),
            client.post(f"/v1/stations/{OFFICE}-1/entries", content=b"\xff\xfe"),
            client.post("/v1/enrol", content=b"{"),
            client.get(f"/v1/offices/{OFFICE}/feed"),
            client.request("PATCH", "/v1/blobs/zz", content=b"x"),
            client.get("/v1/blobs/" + "0" * 64),
            key_station.enrol(token, OFFICE, 0, "x"),
            key_station.enrol("nope", OFFICE, 1, f"local/office/{OFFICE}/1/e0"),
            key_station.request("POST", "/v1/enrol", b"\x00\x01"),
            key_station.request("GET", f"/v1/stations/{OFFICE}-1"),
        ]
    for r in answers:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        body = r.json()
        assert set(body) >= {"error", "detail"}, body
        assert "Traceback" not in r.text and 'File "' not in r.text


def test_a_crash_is_a_json_500_without_its_traceback(
    live_hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "password=hunter2 at /srv/hub/secret.py"

    def crash() -> Any:
        raise RuntimeError(secret)

    monkeypatch.setattr(live_hub.hub, "info", crash)
    r = httpx.get(f"{live_hub.url}/v1/hub", timeout=10)
    body = _json_error(r, 500, "internal")
    assert secret not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    assert set(body) == {"error", "detail"}
    # and the hub carries on
    monkeypatch.undo()
    assert httpx.get(f"{live_hub.url}/v1/hub", timeout=10).status_code == 200


def test_hub_info_is_public(live_hub: HubServer) -> None:
    r = httpx.get(f"{live_hub.url}/v1/hub", timeout=10)
    assert r.status_code == 200
    info = r.json()
    assert {"name", "issuer_cert", "cosigner", "hub_time", "hub_unix"} <= set(info)
    assert info["issuer_cert"]["role"] == "issuer"
    assert {"name", "public_key", "key_id"} <= set(info["cosigner"])
