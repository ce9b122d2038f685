"""Schemathesis over the hub's committed OpenAPI document, against a live hub on each backend:
whatever a client sends, valid for the schema or not, signed or not, the hub never answers 5xx,
and every 4xx is JSON `{"error", "detail"}`.

Requests are signed (RFC 9421, docs/sync.md) by an enrolled station's key over the exact bytes
`requests` puts on the wire, so the generated cases get past authentication into the handlers;
each case is sent unsigned as well. Cases are generated with path parameters left free and
with them pinned to the enrolled station, its office and a half-uploaded blob (so that the
push, status, feed and blob handlers see their own data, not only 403s and 404s). The number
of examples is bounded to keep the whole module well under a minute.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hubkit import HubServer, RawStation, add_office, batch_from_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from stationkit import OFFICE

from commune_client.station import Session, Station
from ledger.encoding import b64url
from ledger.httpsig import sign_request
from ledger.keys import SigningKey
from sync_server.openapi import OPENAPI_PATH

SCHEMA = schemathesis.openapi.from_path(OPENAPI_PATH)


def _operations() -> dict[str, schemathesis.APIOperation[Any, Any, Any, Any]]:
    found = {}
    for result in SCHEMA.get_all_operations():
        if isinstance(result, Err):  # the committed document does not load: say why
            raise result.err()
        found[result.ok().label] = result.ok()
    return found


OPERATIONS = _operations()
MAX_EXAMPLES = 25
SID = f"{OFFICE}-1"
BLOB = bytes(range(256)) * 64
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()


class StationSignature(requests.auth.AuthBase):
    """Sign the prepared request (method, path without query, body bytes) with a station key;
    the audit API's requests carry an auditor's bearer token instead (docs/audit.md)."""

    def __init__(self, key: SigningKey, auditor_token: str = "") -> None:
        self.key = key
        self.auditor_token = auditor_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.auditor_token and request.path_url.startswith("/v1/audit/"):
            request.headers["Authorization"] = f"Bearer {self.auditor_token}"
            return request
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert isinstance(body, bytes), type(body)
        request.headers.update(
            sign_request(
                self.key,
                method=str(request.method),
                path=request.path_url.split("?", 1)[0],
                body=body,
                keyid=self.key.key_id,
                nonce=b64url(os.urandom(12)),
            )
        )
        return request


@dataclass
class Target:
    url: str
    auth: StationSignature


@pytest.fixture
def target(live_hub: HubServer, station: Station, session: Session) -> Iterator[Target]:
    """A hub with station 1 enrolled, its log pushed, and a blob upload half done."""
    token = add_office(live_hub.hub, OFFICE)
    raw = RawStation(live_hub.url, session.station_key)
    assert raw.enrol(token, OFFICE, 1, station.info.origin).status_code == 201
    n = station.store.size()
    batch = batch_from_store(station.store, station.info.ref, station.info.origin, 0, n)
    assert raw.push(SID, batch).status_code == 200
    half = raw.request(
        "PATCH",
        f"/v1/blobs/{BLOB_SHA}",
        BLOB[:8000],
        headers={"Upload-Offset": "0", "Upload-Length": str(len(BLOB))},
    )
    assert half.status_code == 200, half.text
    auditor = live_hub.hub.auditor_token("schemathesis")["token"]
    try:
        yield Target(live_hub.url, StationSignature(session.station_key, auditor))
    finally:
        raw.client.close()


def _check(case: Any, response: Any) -> None:
    case.validate_response(response, checks=[not_a_server_error])
    if 400 <= response.status_code < 500 and case.method.upper() != "HEAD":
        headers = {name.lower(): values for name, values in response.headers.items()}
        assert headers["content-type"][0].startswith("application/json"), response.text
        body = response.json()
        assert isinstance(body, dict) and {"error", "detail"} <= set(body), response.text
        assert "Traceback" not in response.text


def _upload_headers() -> st.SearchStrategy[dict[str, str]]:
    """`PATCH /v1/blobs/{sha}` reads Upload-Offset and Upload-Length, which the OpenAPI
    document does not describe (so Schemathesis would never send them): draw them here."""
    number = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.sampled_from(["0", "8000", str(len(BLOB)), "", "+1", "01", "1_0", "1e3", "0x10", "-0"]),
    )
    return st.fixed_dictionaries({}, optional={"Upload-Offset": number, "Upload-Length": number})


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_error(target: Target, label: str) -> None:
    operation = OPERATIONS[label]
    pinned = {
        name: value
        for name, value in (("sid", SID), ("office", OFFICE), ("sha", BLOB_SHA))
        if f"{{{name}}}" in operation.path
    }
    # Negative cases need something the schema constrains (a query or a body): a path made of
    # free strings has no invalid value, and Hypothesis would report it unsatisfiable.
    modes = [GenerationMode.POSITIVE]
    if len(operation.query) or len(operation.body):
        modes.append(GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(mode) for mode in modes]
    strategies += [operation.as_strategy(mode, path_parameters=pinned) for mode in modes if pinned]
    if operation.method.upper() == "PATCH":
        extra = st.fixed_dictionaries(
            {"headers": _upload_headers(), "data": st.binary(max_size=2 * 8000)}
        )
    else:
        extra = st.just({})
    sent: dict[bool, list[int]] = {True: [], False: []}  # signed? -> statuses
    with requests.Session() as http:
        for strategy in strategies:

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, kwargs=extra)
            def run(case: Any, kwargs: dict[str, Any]) -> None:
                for auth in (target.auth, None):
                    response = case.call(base_url=target.url, session=http, auth=auth, **kwargs)
                    sent[auth is not None].append(response.status_code)
                    _check(case, response)

            run()
    assert sent[True] and sent[False], f"no case was generated for {label}"
    # The signature (or the auditor's token) worked: signed cases reached the handler, not only
    # the 401 of the check.
    assert set(sent[True]) != {401}, f"every signed {label} was refused at the signature"
