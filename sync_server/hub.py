"""The hub's services: enrolment, authentication, push (ingest), feeds, blobs, trust kit.

Plain methods over a `Storage`; `app.py` is a thin HTTP layer over them and the CLI uses them
directly. Everything a request changes happens in one storage transaction (`Storage.run`), so a
hub killed mid-push has either stored the whole run or nothing, and a retried push finds the
same state. Protocol: docs/sync.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import orjson
from pydantic import ValidationError

from ledger.certs import issue_certificate
from ledger.checkpoint import cosign, ed25519_verifier, open_checkpoint
from ledger.encoding import EncodingError, b64, b64url, key_id, unb64url
from ledger.errors import LedgerError
from ledger.httpsig import HttpSignatureError, verify_request
from ledger.keys import SigningKey, check_public_key
from ledger.merkle import MerkleTree, leaf_hash
from ledger.records import sign_record
from ledger.tlogproof import TlogProof, encode_proof
from ledger.verify import LogVerifier, SignatureWorkers
from schemas.batch import Batch
from schemas.canonical import CanonicalError, canonical_parsed
from schemas.event import EVENT_ADAPTER
from schemas.lifecycle import TransitionError, apply_event
from sync_server.aggregates import CLOCK_TOLERANCE, Aggregates
from sync_server.errors import HubError
from sync_server.storage import EntryRow, StationRow, Storage, Tx

__all__ = ["Hub"]

VN = timezone(timedelta(hours=7))
NONCE_TTL = 600  # longer than the signature's 5-minute age window, so a replay is always seen
TOKEN_TTL_DAYS = 14
MAX_FEED_PAGE = 500
MAX_BLOB = 32 * 1024 * 1024
MAX_CHUNK = 1024 * 1024
TRUST_KIT_TYPE = "commune.trust-kit/v1"
LEDGER_EXPORT_TYPE = "commune.ledger-export/v1"  # the format of `commune export-ledger`
COSIGNED_TYPE = "commune.cosigned/v1"
AUDITOR_TOKEN_DAYS = 90
AUDITOR_TOKEN_PREFIX = "cla_"  # recognisable in a leaked-secret scan
MAX_AUDIT_PAGE = 1000
AUDIT_LEAF_PAGE = 2000


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), VN).isoformat()


_POOL: list[SignatureWorkers] = []


def _verify_pool() -> SignatureWorkers:
    """Worker processes that check a push's signatures while the request thread does the rest
    (`ledger.verify.SignatureWorkers`: threads would wait on the GIL), one per core so that
    concurrent pushes each get one."""
    if not _POOL:
        _POOL.append(SignatureWorkers(os.cpu_count() or 2))
    return _POOL[0]


def station_sid(office: str, number: int, epoch: int = 0) -> str:
    """The station's name in URLs: `<office>-<n>`, and `<office>-<n>e<k>` for epoch k >= 1 (a
    replacement PC's log is a new log of the same station: docs/audit.md "Lost or stolen")."""
    return f"{office}-{number}" if epoch == 0 else f"{office}-{number}e{epoch}"


_EPOCH = re.compile(r"/e(0|[1-9][0-9]{0,3})$")


def origin_epoch(origin: str) -> int:
    """The epoch of a log origin `.../office/<code>/<n>/e<epoch>`."""
    found = _EPOCH.search(origin)
    if found is None:
        raise ValueError(f"no epoch in origin {origin!r}")
    return int(found[1])


class _TxNodes:
    """`NodeStore` over the hub's `nodes` table inside one transaction; writes are buffered
    and flushed in one statement."""

    def __init__(self, tx: Tx, sid: str) -> None:
        self.tx, self.sid = tx, sid
        self.buffer: dict[tuple[int, int], bytes] = {}
        # Nodes written or read in this transaction: the feed's inclusion proofs read the
        # run's fresh nodes again right after they are flushed.
        self.cache: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        hit = self.cache.get((level, index))
        if hit is not None:
            return hit
        value = self.tx.get_node(self.sid, level, index)
        if value is None:
            raise KeyError((level, index))
        self.cache[(level, index)] = value
        return value

    def put(self, nodes: Any) -> None:
        for level, index, digest in nodes:
            self.buffer[(level, index)] = digest
            self.cache[(level, index)] = digest

    def flush(self) -> None:
        self.tx.put_nodes(self.sid, [(lv, i, h) for (lv, i), h in self.buffer.items()])
        self.buffer.clear()


class Hub:
    def __init__(
        self, storage: Storage, *, name: str = "hub.local", clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.name = name
        self.clock = clock
        self.issuer, self.cosigner = self._keys()
        self.issuer_cert = self._issuer_cert()
        self.metrics: dict[str, int] = {}

    def warm(self) -> None:
        """Start the signature workers now, so the first pushes do not wait for them (`serve`
        does; a command that never ingests does not pay for them)."""
        _verify_pool().warm()

    # -- identity --
    def _keys(self) -> tuple[SigningKey, SigningKey]:
        """The issuer and cosigner keys, made by the first process that starts on this database.
        Kept in the database (raw seeds) so that every hub process signs with the same keys:
        protect the database as you would the keys."""
        proposal = orjson.dumps(
            {
                "issuer": b64url(SigningKey.generate().seed()),
                "cosigner": b64url(SigningKey.generate().seed()),
            }
        ).decode()
        with self.storage.transaction() as tx:
            keys = orjson.loads(tx.set_meta_once("keys", proposal))
        return (
            SigningKey.from_seed(unb64url(keys["issuer"], 32)),
            SigningKey.from_seed(unb64url(keys["cosigner"], 32)),
        )

    def _issuer_cert(self) -> dict[str, Any]:
        with self.storage.transaction() as tx:
            raw = tx.meta(f"issuer_cert:{self.issuer.key_id}")
            if raw is None:
                cert = issue_certificate(
                    self.issuer,
                    self.issuer.public,
                    role="issuer",
                    name=self.name,
                    office=None,
                    station=None,
                    not_before=_iso(self.clock()),
                )
                raw = tx.set_meta_once(
                    f"issuer_cert:{self.issuer.key_id}", orjson.dumps(cert).decode()
                )
        result: dict[str, Any] = orjson.loads(raw)
        return result

    def now(self) -> int:
        return int(self.clock())

    def info(self) -> dict[str, Any]:
        now = self.now()
        return {
            "name": self.name,
            "issuer_cert": self.issuer_cert,
            "cosigner": {
                "name": self.name,
                "public_key": b64url(self.cosigner.public),
                "key_id": self.cosigner.key_id,
            },
            "hub_time": _iso(now),
            "hub_unix": now,
        }

    def count(self, metric: str, n: int = 1) -> None:
        self.metrics[metric] = self.metrics.get(metric, 0) + n

    # -- offices and enrolment --
    def add_office(self, code: str, name: str, *, ttl_days: int = TOKEN_TTL_DAYS) -> dict[str, Any]:
        from pydantic import TypeAdapter

        from schemas.types import OfficeCode

        try:
            TypeAdapter(OfficeCode).validate_python(code)
        except ValidationError as exc:
            raise HubError(400, "bad-office", f"not an office code: {code!r}") from exc
        if not name.strip():
            raise HubError(400, "bad-office", "the office needs a name")
        token = secrets.token_urlsafe(24)
        now = self.now()
        with self.storage.transaction() as tx:
            tx.add_office(code, name.strip(), _iso(now))
            tx.add_token(_token_hash(token), code, now + ttl_days * 86400, _iso(now))
        return {
            "office": code,
            "name": name.strip(),
            "token": token,
            "expires": _iso(now + ttl_days * 86400),
        }

    def enrol(self, body: Mapping[str, Any], signer_key_id: str) -> tuple[int, dict[str, Any]]:
        """Certify a station key with the issuer key (docs/sync.md `POST /v1/enrol`)."""
        try:
            token = str(body["token"])
            office = str(body["office"])
            number = body["station"]
            origin = str(body["origin"])
            public = unb64url(str(body["public_key"]), 32)
            name = str(body.get("name") or office)
        except (KeyError, TypeError, EncodingError, LedgerError) as exc:
            raise HubError(
                400,
                "bad-request",
                f"enrolment needs token, office, station, origin, public_key: {exc}",
            ) from exc
        if type(number) is not int or not 1 <= number <= 9:
            raise HubError(400, "bad-request", "station must be a number from 1 to 9")
        if key_id(public) != signer_key_id:
            raise HubError(401, "bad-signature", "the request must be signed by the key enrolled")
        try:
            check_public_key(public)
        except LedgerError as exc:
            raise HubError(422, "bad-key", exc.message) from exc
        found_epoch = _EPOCH.search(origin)
        if (
            found_epoch is None
            or not origin[: found_epoch.start()].endswith(f"/office/{office}/{number}")
            or " " in origin
        ):
            raise HubError(
                400, "bad-request", f"origin must end with /office/{office}/{number}/e<epoch>"
            )
        epoch = int(found_epoch[1])
        now = self.now()

        def run(tx: Tx) -> tuple[int, dict[str, Any]]:
            found = tx.token(_token_hash(token))
            sid = station_sid(office, number, epoch)
            existing = tx.station(sid, lock=True)
            if existing is not None:
                if existing.key_id == signer_key_id and existing.enrol_answer is not None:
                    return 200, existing.enrol_answer  # the answer was lost: send it again
                raise HubError(409, "station-exists", f"station {sid} is already enrolled")
            if found is None or found[0] != office:
                raise HubError(403, "bad-token", "unknown enrolment token for this office")
            if found[2] is not None:
                raise HubError(403, "bad-token", "this enrolment token was already used")
            if found[1] < now:
                raise HubError(403, "bad-token", "this enrolment token has expired")
            if tx.station_by_key(signer_key_id) is not None:
                raise HubError(409, "station-exists", "this key is already enrolled")
            previous = self._previous_epoch(tx, office, number, epoch) if epoch else None
            off = tx.office(office)
            assert off is not None
            cert = issue_certificate(
                self.issuer,
                public,
                role="station",
                name=name,
                office=office,
                station=number,
                not_before=_iso(now),
            )
            answer = {
                "station_cert": cert,
                "hub": self.info(),
                "office": {"code": office, "name": off["name"]},
            }
            if previous is not None:
                answer["previous"] = previous
            row = StationRow(
                sid=sid,
                ref=f"{office}/{number}",
                office=office,
                number=number,
                origin=origin,
                key_id=signer_key_id,
                public_key=b64url(public),
                cert=cert,
                size=0,
                root=b64(hashlib.sha256(b"").digest()),
                verify_state=None,
                checkpoint=None,
                cosigned=None,
                forked=False,
                revoked_through=None,
                enrolled_at=_iso(now),
                last_push_unix=None,
                clock_offset=None,
                enrol_answer=None,
            )
            tx.add_station(row)
            tx.use_token(_token_hash(token), signer_key_id)
            if previous is not None:
                self._hand_over(tx, previous["station"], office)
            # The station's own kit: the roots plus its own certificate. (The province-wide kit,
            # `sync-server trust-kit`, is for auditors; sending it to every enrolling station
            # would cost O(stations) bytes on a 2G link.)
            # A replacement station's kit also has its earlier epochs' certificates and their
            # revocation points: what `commune reattest` checks old receipts against.
            answer["trust_kit"] = self._trust_kit(
                tx, only=[station_sid(office, number, e) for e in range(epoch + 1)]
            )
            tx.update_station(sid, enrol_answer=answer)
            return 201, answer

        return self.storage.run(run)

    def authenticate(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[StationRow | None, str]:
        """Check the request signature and its nonce; returns the station (None while it is
        enrolling: then the key id is returned for the enrolment to check) and the key id."""
        now = self.now()
        found: dict[str, StationRow] = {}
        enrolling = path == "/v1/enrol"

        def public_key_for(kid: str) -> bytes | None:
            with self.storage.transaction() as tx:
                st = tx.station_by_key(kid)
            if st is not None:
                found["st"] = st
                return unb64url(st.public_key, 32)
            if enrolling:
                try:
                    body_key = unb64url(str(orjson.loads(body).get("public_key")), 32)
                except (orjson.JSONDecodeError, EncodingError, LedgerError, AttributeError):
                    return None
                return body_key if key_id(body_key) == kid else None
            return None

        try:
            verified = verify_request(
                method=method,
                path=path,
                headers=headers,
                body=body,
                public_key_for=public_key_for,
                now=now,
            )
        except HttpSignatureError as exc:
            raise HubError(401, exc.code, exc.message) from exc
        with self.storage.transaction() as tx:
            fresh = tx.remember_nonce(f"{verified.keyid}:{verified.nonce}", now + NONCE_TTL)
            if now % 64 == 0:
                tx.purge_nonces(now)
        if not fresh:
            raise HubError(401, "replayed", "this request was already received (replay)")
        st = found.get("st")
        if st is not None and st.revoked_through is not None:
            raise HubError(403, "revoked", f"the key of station {st.sid} is revoked")
        return st, verified.keyid

    # -- station status and push --
    def status(self, st: StationRow, sid: str) -> dict[str, Any]:
        if st.sid != sid:
            raise HubError(403, "forbidden", "a station may only read its own status")
        with self.storage.transaction() as tx:
            fresh = tx.station(sid)
        assert fresh is not None
        now = self.now()
        return {
            "station": fresh.ref,
            "origin": fresh.origin,
            "size": fresh.size,
            "checkpoint": fresh.cosigned,
            "forked": fresh.forked,
            "revoked_through": fresh.revoked_through,
            "hub_time": _iso(now),
            "hub_unix": now,
        }

    def push(self, st: StationRow, sid: str, raw: bytes) -> dict[str, Any]:
        if st.sid != sid:
            raise HubError(403, "forbidden", "a station may only write its own log")
        try:
            batch = Batch.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[:3]
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in first)
            raise HubError(400, "bad-request", f"not a commune.batch/v1 body: {detail}") from exc
        if batch.station != st.ref or batch.origin != st.origin:
            raise HubError(
                403, "forbidden", f"station {sid} may only write its own log {st.origin}"
            )
        try:
            # Parsed from JSON, so no NaN or infinity: the fast path; the verifier still checks
            # that each leaf is canonical.
            leaves = [canonical_parsed(e) for e in batch.entries]
        except CanonicalError as exc:
            raise HubError(400, "bad-request", f"an entry is not canonical JSON: {exc}") from exc
        try:
            signed = open_checkpoint(
                batch.checkpoint, ed25519_verifier(st.origin, unb64url(st.public_key, 32))
            )
        except LedgerError as exc:
            raise HubError(
                422, "bad-checkpoint", f"the checkpoint does not verify: {exc.message}"
            ) from exc
        if signed.checkpoint.origin != st.origin or signed.checkpoint.size != batch.to:
            raise HubError(
                422, "bad-checkpoint", f"the checkpoint must be of {st.origin} at size {batch.to}"
            )
        now = self.now()
        try:
            answer = self.storage.run(lambda tx: self._ingest(tx, sid, batch, leaves, now))
        except _ForkFound as fork:
            raise self._record_fork(fork, now) from None
        self.count("pushes")
        return answer

    def _answer(self, tx: Tx, st: StationRow, start: int, now: int) -> dict[str, Any]:
        beacon = None
        if st.cosigned:
            beacon = {"origin": st.origin, "size": st.size, "root": st.root}
        return {
            "accepted": st.size,
            "checkpoint": st.cosigned,
            "hub_time": _iso(now),
            "hub_unix": now,
            "quarantined": tx.quarantined(st.sid, start, st.size),
            "beacon": beacon,
        }

    def _ingest(
        self, tx: Tx, sid: str, batch: Batch, leaves: list[bytes], now: int
    ) -> dict[str, Any]:
        st = tx.station(sid, lock=True)
        assert st is not None
        if st.forked:
            raise HubError(409, "forked", "this station's log forked; an operator must act")
        size, start, end = st.size, batch.from_, batch.to
        if start > size:
            raise HubError(409, "gap", f"the hub holds {size} entries; send from {size}", size=size)
        if start < size:  # entries the hub already holds: a chunk whose answer was lost
            self.count("entries_resent", min(end, size) - start)
            self.count("pushes_resending")
        nodes = _TxNodes(tx, sid)
        tree = MerkleTree(nodes, size)
        overlap = tx.leaves(sid, start, min(end, size))
        differs = next(
            (
                i
                for i, (held, sent) in enumerate(zip(overlap, leaves, strict=False))
                if held != sent
            ),
            None,
        )
        held_sent = (overlap[differs], leaves[differs]) if differs is not None else None
        index = start + differs if differs is not None else None
        if end <= size:
            if tree.root(end) != open_checkpoint_root(batch.checkpoint):
                self._fork(tx, st, tree, index, held_sent, batch, leaves, now)
            if index is not None:  # the checkpoint agrees with the accepted log, the entries not
                _mismatch(index, end)
            return self._answer(tx, st, start, now)
        if index is not None:
            self._fork(tx, st, tree, index, held_sent, batch, leaves, now)

        fresh = leaves[size - start :]
        events = batch.entries[size - start :]  # parsed from the body; `fresh` are their bytes
        verifier = LogVerifier(st.cert, st.origin, state=st.verify_state)
        # A worker process on another core checks the run's signatures, and validates its first
        # part against the schema, while this thread verifies the rest, validates the other
        # part, folds and writes the run; `finish` waits for the signatures before anything is
        # committed or answered. (The split evens the two cores' work: the worker's signatures
        # cost about as much as this thread's fold and writes.)
        deferred = len(fresh) >= 64
        shared = len(fresh) * 3 // 8 if deferred else 0
        if deferred:
            verifier.preverify(fresh, _verify_pool(), parsed=events, validate=shared)
        # `fresh` are `canonical_parsed` of `events` (push made them so): nothing to compare.
        verifier.extend(fresh, [batch.checkpoint], parsed=events, canonical=True, defer=deferred)
        if any(f.severity == "error" for f in verifier.report.findings):
            self._refuse(verifier, size, end)  # nothing is stored: the run is not even folded
        for leaf in fresh:
            tree.append_hash(leaf_hash(leaf))
        nodes.flush()
        root = tree.root()
        cosig = cosign(batch.checkpoint, self.cosigner, self.name, now)
        cosigned = batch.checkpoint + cosig.line
        found = verifier.schema_errors() if shared else None
        if found is None:
            schema_errors = _schema_errors(events, fresh)
        else:
            schema_errors = {events[i].get("seq", -1): f"{loc}: {msg}" for i, loc, msg in found}
            schema_errors.update(_schema_errors(events[shared:], fresh[shared:]))
        router = _Router(self, tx, st, tree, end, cosigned)
        quarantine = router.route(events, schema_errors)
        router.agg.add(st.office, "entries", len(fresh))
        router.agg.add(st.office, "quarantined", len(quarantine))
        router.agg.write(tx)
        if batch.held is not None:
            tx.report_station_size(sid, batch.held, now)
        tx.append_entries(
            sid,
            [
                EntryRow(
                    seq=ev["seq"],
                    leaf=leaf,
                    action=str(ev.get("action")),
                    dossier=ev.get("dossier"),
                    officer=str(ev.get("officer")),
                    claimed_time=str(ev.get("claimed_time")),
                    quarantine=quarantine.get(ev["seq"], (None, None))[0],
                    detail=quarantine.get(ev["seq"], (None, None))[1],
                )
                for ev, leaf in zip(events, fresh, strict=True)
            ],
        )
        # The deferred signature checks: a bad one refuses the run and the transaction (all of
        # the above) is rolled back, so nothing unverified is ever committed, cosigned to the
        # station or routed.
        verifier.finish()
        if not verifier.report.ok:
            self._refuse(verifier, size, end)
        tx.add_checkpoint(sid, end, batch.checkpoint, cosigned, now)
        root_b64 = b64(root)
        tx.update_station(
            sid,
            size=end,
            root=root_b64,
            verify_state=verifier.state(),
            checkpoint=batch.checkpoint,
            cosigned=cosigned,
            last_push_unix=now,
        )
        st.size, st.root, st.cosigned = end, root_b64, cosigned
        self.count("entries", len(fresh))
        self.count("quarantined", len(quarantine))
        return self._answer(tx, st, start, now)

    def _refuse(self, verifier: LogVerifier, size: int, end: int) -> NoReturn:
        report = verifier.finish()
        errors = [f for f in report.findings if f.severity == "error"]
        self.count("refused_runs")
        raise HubError(
            422,
            "invalid-entries",
            f"{len(errors)} problem(s) in entries {size}..{end - 1}; nothing was stored",
            findings=[
                {"index": f.index, "code": f.code, "message": f.message_en} for f in errors[:50]
            ],
        )

    def _fork(
        self,
        tx: Tx,
        st: StationRow,
        tree: MerkleTree,
        index: int | None,
        held_sent: tuple[bytes, bytes] | None,
        batch: Batch,
        leaves: list[bytes],
        now: int,
    ) -> NoReturn:
        """Two station-signed checkpoints that cannot both be true: the one just received and
        one the hub accepted (and cosigned) earlier. The evidence is kept so that anyone can
        check it without the hub (`commune.fork-evidence/v1`, docs/audit.md): the accepted
        checkpoint of the same size when there is one, else the latest accepted one plus an
        RFC 6962 consistency proof, from the larger of the two trees, whose old root is not the
        smaller checkpoint's root."""
        start, end, note = batch.from_, batch.to, batch.checkpoint
        claimed = open_checkpoint_root(note)
        consistency: dict[str, Any] | None = None
        assert st.cosigned is not None or end == 0
        if end == 0:
            raise HubError(422, "bad-checkpoint", "the empty log has one root, SHA-256 of nothing")
        if end <= st.size:
            held = tx.checkpoint(st.sid, end)
            if held is not None:
                accepted = held[1]
            else:  # the hub's tree of size st.size has another root at `end` than `claimed`
                accepted = str(st.cosigned)
                consistency = _consistency(tree.root(end), tree.consistency_proof(end, st.size))
        else:
            # A different entry below the accepted size, and the sent log goes further: the
            # sent log's tree (the hub's first `start` leaves, then the batch) must give the
            # sent checkpoint, else the batch is merely invalid. Its nodes stay in the buffer
            # of a store that is never flushed (the transaction is rolled back anyway).
            assert index is not None
            forked = MerkleTree(_TxNodes(tx, st.sid), start)
            for leaf in leaves:
                forked.append_hash(leaf_hash(leaf))
            if forked.root() != claimed:
                _mismatch(index, end)
            accepted = str(st.cosigned)
            consistency = _consistency(forked.root(st.size), forked.consistency_proof(st.size, end))
        evidence = {
            "type": "commune.fork/v1",
            "origin": st.origin,
            "station_cert": st.cert,
            "accepted": accepted,
            "conflicting": note,
            "consistency": consistency,
            "index": index,
            "held_leaf": held_sent[0].decode() if held_sent else None,
            "sent_leaf": held_sent[1].decode() if held_sent else None,
            "found_at": _iso(now),
        }
        raise _ForkFound(st.sid, index, evidence)

    def _record_fork(self, fork: _ForkFound, now: int) -> HubError:
        """Keep the evidence and refuse the station until an operator acts (in a transaction
        of its own: the push's transaction was rolled back)."""
        with self.storage.transaction() as tx:
            tx.add_fork(fork.sid, now, fork.evidence)
            tx.update_station(fork.sid, forked=True)
        self.count("forks")
        where = f" at entry {fork.index}" if fork.index is not None else ""
        return HubError(
            409, "fork", f"the log differs from what the hub accepted{where}", index=fork.index
        )

    # -- feeds --
    def feed(self, st: StationRow, office: str, after: int, limit: int) -> bytes:
        if st.office != office:
            raise HubError(403, "forbidden", "a station may only read its own office's feed")
        limit = max(1, min(limit, MAX_FEED_PAGE))
        with self.storage.transaction() as tx:
            rows = tx.feed(office, after, limit + 1, st.sid)
            fresh = tx.station(st.sid)
        assert fresh is not None
        more = len(rows) > limit
        rows = rows[:limit]
        now = self.now()
        items = b",".join(item for _, item in rows)
        head = {
            "next": rows[-1][0] if rows else after,
            "more": more,
            "hub_time": _iso(now),
            "hub_unix": now,
            "beacon": (
                {"origin": fresh.origin, "size": fresh.size, "root": fresh.root}
                if fresh.cosigned
                else None
            ),
        }
        # The items are stored as JSON text: splice them in rather than parse and re-dump.
        return orjson.dumps(head)[:-1] + b',"items":[' + items + b"]}"

    def publish(self, kind: str, body: dict[str, Any], offices: list[str] | None = None) -> int:
        """Sign a record with the issuer key and put it in the feeds of `offices` (all if None)."""
        record_type = {
            "catalog": "commune.catalog-update/v1",
            "calendar": "commune.calendar-update/v1",
            "revocation": "commune.revocations/v1",
        }[kind]
        record = sign_record(
            {
                **body,
                "type": record_type,
                "issued_at": _iso(self.now()),
                "issuer": self.issuer.key_id,
            },
            self.issuer,
        )
        with self.storage.transaction() as tx:
            targets = offices or [o["code"] for o in tx.offices()]
            tx.feed_append([(o, None, {"kind": kind, "record": record}) for o in targets])
        return len(targets)

    # -- revocation and trust kit --
    def revoke(self, sid: str, reason: str, through: int | None = None) -> dict[str, Any]:
        with self.storage.transaction() as tx:
            st = tx.station(sid, lock=True)
            if st is None:
                raise HubError(404, "unknown-station", f"no station {sid}")
            last = st.size if through is None else through
            tx.update_station(sid, revoked_through=last)
            revocations = _revocations(tx.stations())
        self.publish("revocation", {"revocations": revocations, "reason": reason})
        return {"station": sid, "through": last}

    def replace(self, sid: str, reason: str, *, ttl_days: int = TOKEN_TTL_DAYS) -> dict[str, Any]:
        """A lost or stolen station PC (DESIGN 4 "Keys"): its key is revoked by position at the
        hub's accepted size (the last checkpoint the hub cosigned), unless an earlier point was
        already set, and a one-time token enrols the replacement as the station's next epoch,
        whose log opens with a `continuity` event naming that checkpoint."""
        if not reason.strip():
            raise HubError(400, "bad-request", "a replacement needs a reason")
        token = secrets.token_urlsafe(24)
        now = self.now()
        with self.storage.transaction() as tx:
            st = tx.station(sid, lock=True)
            if st is None:
                raise HubError(404, "unknown-station", f"no station {sid}")
            epoch = origin_epoch(st.origin) + 1
            if tx.station(station_sid(st.office, st.number, epoch)) is not None:
                raise HubError(409, "already-replaced", f"station {sid} was already replaced")
            through = st.size if st.revoked_through is None else min(st.revoked_through, st.size)
            tx.update_station(sid, revoked_through=through)
            tx.add_token(_token_hash(token), st.office, now + ttl_days * 86400, _iso(now))
            revocations = _revocations(tx.stations())
        self.publish("revocation", {"revocations": revocations, "reason": reason.strip()})
        return {
            "station": sid,
            "through": through,
            "epoch": epoch,
            "new_station": station_sid(st.office, st.number, epoch),
            "token": token,
            "expires": _iso(now + ttl_days * 86400),
        }

    def _previous_epoch(self, tx: Tx, office: str, number: int, epoch: int) -> dict[str, Any]:
        """What the replacement of epoch `epoch - 1` is told at enrolment: the old origin, its
        revocation point, and the last checkpoint the hub cosigned within it."""
        prev = tx.station(station_sid(office, number, epoch - 1), lock=True)
        if prev is None or prev.revoked_through is None:
            raise HubError(
                409,
                "not-replaced",
                f"epoch {epoch - 1} of station {office}/{number} is not revoked: run "
                f"`sync-server station replace` first",
            )
        return {
            "origin": prev.origin,
            "station": prev.sid,
            "through": prev.revoked_through,
            "checkpoint": self._last_cosigned(tx, prev),
        }

    def _hand_over(self, tx: Tx, sid: str, office: str) -> int:
        """The replaced epoch's dossier events (up to its last cosigned checkpoint within the
        revocation point) go into the office's feed, each with its proof against that
        checkpoint, so the replacement PC verifies them and carries on with the dossiers the
        lost one had synced (it reads the feed from the start). Returns how many."""
        st = tx.station(sid)
        note = self._last_cosigned(tx, st) if st is not None else None
        if st is None or note is None:
            return 0
        size = int(note.split("\n", 2)[1])
        # as in the routing: refused entries stay out, conflicts are facts every fold keeps
        skip = {q["seq"] for q in tx.quarantined(sid, 0, size) if q["reason"] != "conflict"}
        tree = MerkleTree(_TxNodes(tx, sid), st.size)
        officers: dict[str, Any] = {}
        items: list[tuple[str, str | None, dict[str, Any]]] = []
        for start in range(0, size, MAX_AUDIT_PAGE):
            for seq, leaf in enumerate(tx.leaves(sid, start, min(size, start + MAX_AUDIT_PAGE))):
                seq += start
                event = orjson.loads(leaf)
                if event.get("dossier") is None or seq in skip:
                    continue
                officer = officers.get(event["officer"])
                if officer is None:
                    officer = officers[event["officer"]] = tx.cert(event["officer"])
                hashes = tree.inclusion_proof(seq, size)
                items.append(
                    (
                        office,
                        sid,
                        {
                            "kind": "event",
                            "station": event["station"],
                            "seq": seq,
                            "event": event,
                            "officer_cert": officer,
                            "station_cert": st.cert,
                            "proof": encode_proof(TlogProof(seq, tuple(hashes), note)),
                        },
                    )
                )
        tx.feed_append(items)
        return len(items)

    def _last_cosigned(self, tx: Tx, st: StationRow) -> str | None:
        """The cosigned text of the largest checkpoint within the revocation point."""
        through = st.size if st.revoked_through is None else st.revoked_through
        if st.size <= through:
            return st.cosigned
        best, after = None, 0
        while True:
            rows = tx.checkpoint_page(st.sid, after, MAX_AUDIT_PAGE)
            for size, _note, cosigned, _unix in rows:
                if size <= through:
                    best = cosigned
            if len(rows) < MAX_AUDIT_PAGE or rows[-1][0] > through:
                return best
            after = rows[-1][0]

    def _continuity_problem(self, tx: Tx, st: StationRow, event: Mapping[str, Any]) -> str | None:
        """Why a pushed `continuity` event does not name the hub's own record of the previous
        epoch (None when it does)."""
        epoch = origin_epoch(st.origin)
        if epoch == 0:
            return "a continuity event opens an epoch after the first"
        prev = tx.station(station_sid(st.office, st.number, epoch - 1))
        data = event.get("data") or {}
        if prev is None or data.get("previous_origin") != prev.origin:
            return f"continuity must name the previous epoch's log of {st.ref}"
        if data.get("checkpoint") != self._last_cosigned(tx, prev):
            return "continuity must name the last checkpoint the hub cosigned in the previous epoch"
        return None

    def trust_kit(self) -> dict[str, Any]:
        with self.storage.transaction() as tx:
            return self._trust_kit(tx)

    def _trust_kit(self, tx: Tx, only: list[str] | None = None) -> dict[str, Any]:
        if only is not None:
            stations = [s for s in map(tx.station, only) if s is not None]
        else:
            stations = tx.stations()
        kit = {
            "type": TRUST_KIT_TYPE,
            "issued_at": _iso(self.now()),
            "issuer": self.issuer_cert,
            "hub": {
                "name": self.name,
                "cosigner": b64url(self.cosigner.public),
                "cosigner_key_id": self.cosigner.key_id,
            },
            "stations": [s.cert for s in stations],
            "origins": [
                {"origin": s.origin, "station": s.ref, "key_id": s.key_id} for s in stations
            ],
            "revocations": _revocations(stations),
        }
        return sign_record(kit, self.issuer)

    # -- auditors: read-only bearer tokens and the audit API (docs/audit.md) --
    def auditor_token(self, name: str, *, days: int = AUDITOR_TOKEN_DAYS) -> dict[str, Any]:
        """Issue the bearer token of auditor `name` (a new one replaces the old). Only its
        SHA-256 is kept: the token itself is shown once."""
        name = name.strip()
        if not 1 <= len(name) <= 100 or any(not c.isprintable() or c.isspace() for c in name):
            raise HubError(400, "bad-request", "an auditor's name is 1-100 characters, no spaces")
        if not 1 <= days <= 3650:
            raise HubError(400, "bad-request", "a token is valid for 1 to 3650 days")
        token = AUDITOR_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.now()
        expires = now + days * 86400
        with self.storage.transaction() as tx:
            tx.put_auditor_token(name, _token_hash(token), expires, _iso(now))
        return {"name": name, "token": token, "expires": _iso(expires), "expires_unix": expires}

    def auditor_revoke(self, name: str) -> dict[str, Any]:
        with self.storage.transaction() as tx:
            found = tx.revoke_auditor_token(name.strip())
        if not found:
            raise HubError(404, "unknown-auditor", f"no auditor token named {name!r}")
        return {"name": name.strip(), "revoked": True}

    def auditors(self) -> list[dict[str, Any]]:
        with self.storage.transaction() as tx:
            rows = tx.auditor_tokens()
        return [{**r, "expires": _iso(r["expires_unix"])} for r in rows]

    def auditor(self, authorization: str | None) -> str:
        """The auditor named by an `Authorization: Bearer <token>` header, or 401."""
        if not authorization or not authorization.strip():
            raise HubError(
                401,
                "missing-token",
                "the audit API needs an auditor's token: Authorization: Bearer <token>",
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            raise HubError(401, "invalid-token", "give the token as Authorization: Bearer <token>")
        with self.storage.transaction() as tx:
            found = tx.auditor_token(_token_hash(token))
        if found is None:
            raise HubError(401, "invalid-token", "this is not an auditor token of this hub")
        name, expires, revoked = found
        if revoked:
            raise HubError(401, "token-revoked", f"the token of auditor {name} was revoked")
        if expires < self.now():
            raise HubError(401, "token-expired", f"the token of auditor {name} has expired")
        self.count("audit_requests")
        return name

    def _audited(self, tx: Tx, sid: str) -> StationRow:
        st = tx.station(sid)
        if st is None:
            raise HubError(404, "unknown-station", f"no station {sid}")
        return st

    def audit_office(self, office: str) -> dict[str, Any]:
        """The office's stations: origins, sizes, certificates, revocation, forks."""
        with self.storage.transaction() as tx:
            found = tx.office(office)
            if found is None:
                raise HubError(404, "unknown-office", f"no office {office}")
            stations = [
                {
                    "station": s.ref,
                    "sid": s.sid,
                    "origin": s.origin,
                    "size": s.size,
                    "root": s.root,
                    "checkpoint": s.cosigned,
                    "checkpoints": tx.checkpoint_count(s.sid, s.size),
                    "station_cert": s.cert,
                    "officer_certs": tx.station_certs(s.sid),
                    "revoked_through": s.revoked_through,
                    "forked": s.forked,
                    "forks": len(tx.forks(s.sid)),
                    "enrolled_at": s.enrolled_at,
                    "last_push_unix": s.last_push_unix,
                }
                for s in tx.stations(office)
            ]
        return {
            "office": {"code": found["code"], "name": found["name"]},
            "hub": self.info(),
            "stations": stations,
        }

    def audit_checkpoints(self, sid: str, after: int, limit: int) -> dict[str, Any]:
        """Every station checkpoint the hub accepted, as the station signed it and with the
        hub's cosignature, by size (paged: sizes > `after`)."""
        if not 0 <= after < 2**63:
            raise HubError(400, "bad-request", "after must be a log size >= 0")
        limit = max(1, min(limit, MAX_AUDIT_PAGE))
        with self.storage.transaction() as tx:
            st = self._audited(tx, sid)
            rows = tx.checkpoint_page(sid, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "station": st.ref,
            "origin": st.origin,
            "size": st.size,
            "checkpoints": [
                {"size": size, "note": note, "cosigned": cosigned, "hub_unix": unix}
                for size, note, cosigned, unix in rows
            ],
            "next": rows[-1][0] if rows else after,
            "more": more,
        }

    def audit_consistency(self, sid: str, first: int, second: int) -> dict[str, Any]:
        """RFC 6962 consistency proof between two sizes of the hub's copy of the log."""
        with self.storage.transaction() as tx:
            st = self._audited(tx, sid)
            if not 1 <= first <= second <= st.size:
                raise HubError(
                    400,
                    "bad-request",
                    f"need 1 <= first <= second <= {st.size} (the entries the hub holds)",
                    size=st.size,
                )
            tree = MerkleTree(_TxNodes(tx, sid), st.size)
            proof = tree.consistency_proof(first, second)
            roots = tree.root(first), tree.root(second)
        return {
            "station": st.ref,
            "origin": st.origin,
            "first": first,
            "second": second,
            "first_root": b64(roots[0]),
            "second_root": b64(roots[1]),
            "proof": [b64(h) for h in proof],
        }

    def audit_forks(self, sid: str) -> dict[str, Any]:
        """The fork evidence the hub kept (`commune.fork/v1` records, docs/sync.md "Forks")."""
        with self.storage.transaction() as tx:
            st = self._audited(tx, sid)
            forks = tx.forks(sid)
        return {
            "station": st.ref,
            "origin": st.origin,
            "forked": st.forked,
            "issuer_cert": self.issuer_cert,
            "forks": [
                {"n": f["n"], "at_unix": f["at_unix"], "at": _iso(f["at_unix"]), **f} for f in forks
            ],
        }

    def audit_ledger(self, sid: str) -> Iterator[bytes]:
        """The hub's copy of the log in the format of `commune export-ledger` (JSON lines,
        docs/audit.md): the header (`entries`, `checkpoints` and `cosigned` counts), every leaf
        byte for byte, each hub-cosigned checkpoint as `{"type": "commune.cosigned/v1", "size",
        "hub_unix", "note"}`, then every station-signed checkpoint as a JSON string. (The
        station's export also has the foreign entries and dossier states it holds; the hub's
        copy of a log has neither.) Read in pages, one short transaction each: the log only
        grows, so the size read first bounds one consistent copy. The station is looked up
        before the first byte, so an unknown one is a 404."""
        with self.storage.transaction() as tx:
            st = self._audited(tx, sid)
            checkpoints = tx.checkpoint_count(sid, st.size)
        header = {
            "type": LEDGER_EXPORT_TYPE,
            "origin": st.origin,
            "station": st.ref,
            "station_cert": st.cert,
            "entries": st.size,
            "checkpoints": checkpoints,
            "cosigned": checkpoints,
        }

        def lines() -> Iterator[bytes]:
            yield orjson.dumps(header) + b"\n"
            for pos in range(0, st.size, AUDIT_LEAF_PAGE):
                with self.storage.transaction() as tx:
                    leaves = tx.leaves(sid, pos, min(st.size, pos + AUDIT_LEAF_PAGE))
                yield b"".join(leaf + b"\n" for leaf in leaves)
            for rows in self._checkpoint_pages(sid, st.size):
                yield b"".join(
                    orjson.dumps(
                        {"type": COSIGNED_TYPE, "size": size, "hub_unix": unix, "note": cosigned}
                    )
                    + b"\n"
                    for size, _, cosigned, unix in rows
                )
            for rows in self._checkpoint_pages(sid, st.size):
                yield b"".join(orjson.dumps(note) + b"\n" for _, note, _, _ in rows)

        return lines()

    def _checkpoint_pages(
        self, sid: str, through: int
    ) -> Iterator[list[tuple[int, str, str, int]]]:
        after = 0
        while True:
            with self.storage.transaction() as tx:
                rows = [
                    r for r in tx.checkpoint_page(sid, after, MAX_AUDIT_PAGE) if r[0] <= through
                ]
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    # -- blobs --
    def blob_offset(self, sha: str) -> tuple[int, int, bool]:
        _check_sha(sha)
        with self.storage.transaction() as tx:
            found = tx.blob(sha)
        if found is None:
            raise HubError(404, "not-found", f"no upload of blob {sha}")
        return found

    def blob_append(self, sha: str, offset: int, length: int, data: bytes) -> dict[str, Any]:
        _check_sha(sha)
        if length <= 0:
            raise HubError(400, "bad-request", "Upload-Length must be at least 1 byte")
        if length > MAX_BLOB:
            raise HubError(413, "too-large", f"a blob is at most {MAX_BLOB} bytes")
        if len(data) > MAX_CHUNK:
            raise HubError(413, "too-large", f"a chunk is at most {MAX_CHUNK} bytes")
        now = self.now()

        def run(tx: Tx) -> dict[str, Any]:
            tx.start_blob(sha, length, now)
            found = tx.blob(sha, lock=True)
            assert found is not None
            held_length, received, complete = found
            if complete:
                return {"offset": held_length, "complete": True}
            if held_length != length:
                raise HubError(409, "length-mismatch", f"this upload is {held_length} bytes long")
            if offset != received:
                raise HubError(
                    409, "offset-mismatch", f"the hub holds {received} bytes", offset=received
                )
            if received + len(data) > length:
                raise HubError(400, "bad-request", "the chunk goes past Upload-Length")
            tx.add_blob_chunk(sha, offset, data, now)
            if received + len(data) < length:
                return {"offset": received + len(data), "complete": False}
            ok = hashlib.sha256(tx.blob_data(sha)).hexdigest() == sha
            tx.finish_blob(sha, ok)
            if not ok:
                return {"error": "digest-mismatch"}
            return {"offset": length, "complete": True}

        answer = self.storage.run(run)
        if answer.get("error"):
            raise HubError(
                422, "digest-mismatch", "the blob's bytes do not match its SHA-256; upload again"
            )
        return answer

    def blob_get(self, sha: str) -> bytes:
        _check_sha(sha)
        with self.storage.transaction() as tx:
            found = tx.blob(sha)
            if found is None or not found[2]:
                raise HubError(404, "not-found", f"no complete blob {sha}")
            return tx.blob_data(sha)

    # -- the portal's view (docs/portal.md) --
    def portal_accepted(
        self, st: StationRow, office: str, after: int, limit: int
    ) -> dict[str, Any]:
        from sync_server.portal import store as portal_store

        if st.office != office:
            raise HubError(403, "forbidden", "a station may only read its own office's dossiers")
        limit = max(1, min(limit, 5000))
        with self.storage.transaction() as tx:
            rows = portal_store.accepted_since(tx, office, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "accepted": {code: version for code, version, _ in rows},
            "next": rows[-1][2] if rows else after,
            "more": more,
        }

    def portal_file(self, sha: str, expires: int, sig: str) -> bytes:
        """A scan for the portal, behind an expiring link (`FileLinks`)."""
        import hmac

        from sync_server.portal.store import link_signature

        _check_sha(sha)
        with self.storage.transaction() as tx:
            key = tx.meta("portal_link_key")
        expected = link_signature(bytes.fromhex(key), sha, expires) if key else ""
        if not key or not hmac.compare_digest(sig, expected):
            raise HubError(403, "bad-link", "the link is not one the hub gave")
        if self.now() > expires:
            raise HubError(410, "link-expired", "the link has expired; the hub sends a new one")
        return self.blob_get(sha)


class _ForkFound(Exception):
    """Raised inside the ingest transaction after the fork evidence is written."""

    def __init__(self, sid: str, index: int | None, evidence: dict[str, Any]) -> None:
        super().__init__(sid)
        self.sid, self.index, self.evidence = sid, index, evidence


def open_checkpoint_root(note: str) -> bytes:
    from ledger.checkpoint import parse_checkpoint_text
    from ledger.note import parse_note

    return parse_checkpoint_text(parse_note(note).text).root


def _consistency(old_root: bytes, proof: list[bytes]) -> dict[str, Any]:
    """The fork evidence's proof: `old_root` is the larger tree's root at the smaller size."""
    return {"old_root": b64(old_root), "proof": [b64(h) for h in proof]}


def _mismatch(index: int, end: int) -> NoReturn:
    """Entry `index` differs from the accepted one, but the sent entries do not give the sent
    checkpoint: not a fork (nothing signed by the station disagrees), just an invalid batch."""
    message = (
        f"entry {index} differs from the accepted one, and the sent entries do not give the "
        f"sent checkpoint of size {end}"
    )
    raise HubError(
        422,
        "invalid-entries",
        f"{message}; nothing was stored",
        findings=[{"index": index, "code": "checkpoint-root", "message": message}],
    )


def _revocations(stations: list[StationRow]) -> list[dict[str, Any]]:
    """Revocation by log position: key K is valid through size S of origin O."""
    return [
        {"key_id": s.key_id, "station": s.ref, "origin": s.origin, "through": s.revoked_through}
        for s in stations
        if s.revoked_through is not None
    ]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_sha(sha: str) -> None:
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise HubError(400, "bad-request", "a blob is named by its SHA-256 in lowercase hex")


def _schema_errors(events: list[dict[str, Any]], leaves: list[bytes]) -> dict[int, str]:
    """Entries that break the data contract (quarantined: kept in the log, not acted on).
    Validated from the bytes: pydantic is a quarter faster on JSON than on dicts. (A push of
    64 entries or more has its worker process do the same: `LogVerifier.schema_errors`.)"""
    out = {}
    for ev, leaf in zip(events, leaves, strict=True):
        try:
            EVENT_ADAPTER.validate_json(leaf)
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            out[ev.get("seq", -1)] = f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return out


class _Router:
    """Folds a pushed run's dossier events into the hub's dossier states and routes them to the
    participant offices' feeds (docs/sync.md "Routing"). Returns what it quarantined."""

    def __init__(
        self, hub: Hub, tx: Tx, st: StationRow, tree: MerkleTree, size: int, cosigned: str
    ) -> None:
        self.hub, self.tx, self.st, self.tree, self.size = hub, tx, st, tree, size
        self.cosigned = cosigned
        self.multi = tx.office_station_count(st.office) > 1
        self.feed: list[tuple[str, str | None, dict[str, Any]]] = []
        self.batch_events: dict[int, dict[str, Any]] = {}
        self.agg = Aggregates()
        self.certs: dict[str, Any] = {}

    def route(
        self, events: list[dict[str, Any]], schema_errors: dict[int, str]
    ) -> dict[int, tuple[str, str]]:
        tx, st = self.tx, self.st
        quarantine: dict[int, tuple[str, str]] = {}
        codes = [ev["dossier"] for ev in events if ev.get("dossier")]
        dossiers = tx.dossiers(codes, lock=True)
        before = {code: d["state"] for code, d in dossiers.items()}  # apply_event copies
        touched: set[str] = set()
        dossier_events: list[tuple[str, int, str, int]] = []
        for ev in events:
            seq = ev["seq"]
            self.batch_events[seq] = ev
            if seq in schema_errors:
                quarantine[seq] = ("schema", schema_errors[seq])
                continue
            code = ev.get("dossier")
            action = ev["action"]
            if code is None:
                if action == "continuity":
                    problem = self.hub._continuity_problem(tx, st, ev)
                    if problem is not None:
                        quarantine[seq] = ("continuity", problem)
                        continue
                if action == "officer-enrol":
                    cert = ev["data"]["cert"]
                    tx.add_cert(cert["key_id"], st.sid, cert)
                continue
            d = dossiers.get(code)
            new_office: str | None = None
            if action == "receive":
                if d is not None:
                    quarantine[seq] = ("conflict", f"dossier {code} was already received")
                    continue
                d = {
                    "code": code,
                    "office": st.office,
                    "state": None,
                    "participants": [st.office],
                    "events": 0,
                    "conflicts": 0,
                }
                dossiers[code] = d
            elif d is None or st.office not in d["participants"]:
                quarantine[seq] = (
                    "foreign-dossier",
                    f"office {st.office} never received dossier {code} nor was sent it",
                )
                continue
            elif action == "transfer":
                to = ev["data"]["to"]
                if tx.office(to) is None:
                    quarantine[seq] = ("unknown-office", f"office {to} is not known to the hub")
                    continue
                if to not in d["participants"]:
                    new_office = to
            try:
                d["state"] = apply_event(d["state"], ev)
            except TransitionError as exc:
                d["conflicts"] += 1
                quarantine[seq] = ("conflict", exc.message_en)
            if new_office is not None:
                for author, author_seq in tx.dossier_events(code) + [
                    (s, n) for (c, _, s, n) in dossier_events if c == code
                ]:
                    self.feed.append((new_office, author, self._item(author, author_seq)))
                d["participants"] = [*d["participants"], new_office]
            dossier_events.append((code, d["events"], st.sid, seq))
            d["events"] += 1
            touched.add(code)
            for office in d["participants"]:
                if office != st.office or self.multi:
                    self.feed.append((office, st.sid, self._item(st.sid, seq)))
        changed: list[tuple[str, str, int, str, str]] = []
        written: list[dict[str, Any]] = []
        now = self.hub.now()
        for code in sorted(touched):
            d = dossiers[code]
            if d["state"] is None:
                continue
            version = d["state"].get("version", d["events"])
            status = d["state"]["status"]
            written.append({**d, "status": status, "version": version})
            self.agg.dossier(d["office"], before.get(code), d["state"])
            changed.append((code, d["office"], version, status, d["state"]["received_at"]))
        tx.put_dossiers(written, now)
        # The portal outbox row is written in the same transaction as the state it forwards, so
        # a crash can never leave a stored change that the portal will not get (docs/portal.md).
        tx.outbox_enqueue(changed, now)
        tx.add_dossier_events(dossier_events)
        tx.feed_append(self.feed)
        conflicts = sum(1 for reason, _ in quarantine.values() if reason == "conflict")
        self.agg.add(st.office, "conflicts", conflicts)
        self.agg.add(st.office, "clock_anomalies", self._clock_anomalies(events, now))
        return quarantine

    def _clock_anomalies(self, events: list[dict[str, Any]], now: int) -> int:
        """Events whose claimed time falls outside [the hub time of the checkpoint named in
        their beacon, now] by more than the tolerance (DESIGN section 4, "time brackets")."""
        found = 0
        not_before: dict[int, int | None] = {}
        for ev in events:
            try:
                claimed = datetime.fromisoformat(str(ev.get("claimed_time"))).timestamp()
            except ValueError:
                continue  # quarantined by the schema check already
            beacon = ev.get("beacon")
            low: int | None = None
            if isinstance(beacon, dict) and beacon.get("origin") == self.st.origin:
                size = beacon.get("size")
                if isinstance(size, int):
                    if size not in not_before:
                        held = self.tx.checkpoint(self.st.sid, size)
                        not_before[size] = held[2] if held else None
                    low = not_before[size]
            if claimed > now + CLOCK_TOLERANCE or (
                low is not None and claimed < low - CLOCK_TOLERANCE
            ):
                found += 1
        return found

    def _item(self, sid: str, seq: int) -> dict[str, Any]:
        tx = self.tx
        if sid == self.st.sid and seq in self.batch_events:
            event = self.batch_events[seq]
            station_cert = self.st.cert
            hashes = self.tree.inclusion_proof(seq, self.size)
            note = self.cosigned
        else:
            author = tx.station(sid)
            assert author is not None and author.cosigned is not None
            event = orjson.loads(tx.leaves(sid, seq, seq + 1)[0])
            station_cert = author.cert
            tree = MerkleTree(_TxNodes(tx, sid), author.size)
            hashes = tree.inclusion_proof(seq, author.size)
            note = author.cosigned
        officer = self.certs.get(event["officer"])
        if officer is None:
            officer = self.certs[event["officer"]] = tx.cert(event["officer"])
        return {
            "kind": "event",
            "station": event["station"],
            "seq": seq,
            "event": event,
            "officer_cert": officer,
            "station_cert": station_cert,
            "proof": encode_proof(TlogProof(seq, tuple(hashes), note)),
        }
