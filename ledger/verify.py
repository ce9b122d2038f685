"""Whole-ledger verification with precise findings (which entry, what is wrong, how bad).

Replays a station log from its leaves, in one pass and O(log n) memory: parse each leaf,
check it is canonical, check the envelope (type, station, seq, prev chain), resolve the signer
from certificates recorded earlier in the same log, verify the signature, grow the tree, and
compare every supplied signed checkpoint with the tree at its size. Nothing stops at the first
problem: the report lists them all, each at its entry.

The per-entry cost beyond the Ed25519 verify is a few microseconds (orjson parse and
re-serialisation, one SHA-256 and the tree fold), so verification runs near the raw signature
rate (`bench/ledger.py` measures the ratio).
"""

from __future__ import annotations

import binascii
import contextlib
import json
import subprocess
import sys
import threading
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import ed25519_verifier, open_checkpoint
from ledger.encoding import b64, b64url
from ledger.errors import LedgerError
from ledger.keys import verifier_for
from ledger.merkle import CompactRange
from schemas.canonical import CanonicalError, canonical_parsed, loads
from schemas.event import EVENT_TYPE, STATION_ACTIONS, parse_event
from schemas.finding import Finding, Severity

__all__ = ["LedgerReport", "LogVerifier", "verify_ledger"]


@dataclass
class LedgerReport:
    size: int = 0
    root: str = ""
    findings: list[Finding] = field(default_factory=list)
    checkpoints_verified: int = 0
    signers: dict[str, str] = field(default_factory=dict)  # key id -> certificate name

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


@dataclass(slots=True)
class _Signer:
    public: bytes
    name: str
    station_key: bool
    retired_at: int | None = None
    key: Ed25519PublicKey | None = None
    good: frozenset[tuple[bytes, bytes, bytes]] | None = None  # pre-verified (key, sig, message)

    def verify(self, sig: bytes, message: bytes) -> bool:
        if self.good is not None and (self.public, sig, message) in self.good:
            return True
        if self.key is None:
            self.key = verifier_for(self.public)
        try:
            self.key.verify(sig, message)
        except InvalidSignature:
            return False
        return True


_SIG_LAST = frozenset("AQgw")  # 64 bytes in 86 chars leave 4 spare bits, which must be zero
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _decode_sig(text: Any) -> bytes | None:
    # Strict base64url of 64 bytes, inlined for speed: 86 chars, no padding, and canonical
    # trailing bits (otherwise two leaf texts would carry one signature).
    if type(text) is not str or len(text) != 86 or text[-1] not in _SIG_LAST:
        return None
    try:
        return binascii.a2b_base64(
            text.encode("ascii").translate(_URLSAFE) + b"==", strict_mode=True
        )
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None


# Keys an event may have. In a canonical leaf only `station` and `type` (both strings, checked)
# sort after `sig`, so the last `,"sig":"` in the bytes is the top-level member and the signed
# message is the leaf without it: no second serialisation on the hot path.
_EVENT_KEYS = frozenset(
    {
        "action",
        "beacon",
        "claimed_time",
        "data",
        "dossier",
        "officer",
        "prev",
        "seq",
        "sig",
        "station",
        "type",
    }
)


def _message(event: dict[str, Any], leaf: bytes, canonical_leaf: bool) -> bytes:
    if (
        canonical_leaf
        and event.keys() <= _EVENT_KEYS
        and type(event.get("station")) is str
        and type(event.get("type")) is str
    ):
        cut = leaf.rfind(b',"sig":"')
        if cut > 0:
            return leaf[:cut] + leaf[cut + 95 :]  # 95 = len(',"sig":"') + 86 + len('"')
    body = event.copy()
    body.pop("sig", None)
    return canonical_parsed(body)


def verify_ledger(
    leaves: Iterable[bytes],
    *,
    station_cert: Mapping[str, Any],
    origin: str,
    checkpoints: Iterable[str] = (),
    schema: bool = False,
) -> LedgerReport:
    """Verify a station log given its trusted station certificate and log origin.

    `station_cert` is trusted by the caller (from a trust kit, or self-signed for a stand-alone
    station); every other key must be certified inside the log before it signs. `schema=True`
    also validates every event against the data contract (`schemas.event`), which costs about
    as much again as the signatures; the cryptographic checks never depend on it.
    """
    verifier = LogVerifier(station_cert, origin, schema=schema)
    report = verifier.report
    if verifier.broken:
        return report
    verifier.extend(leaves, checkpoints)
    if report.size == 0:
        verifier.find(
            "warning", "empty-ledger", None, "the ledger has no entries", "Sổ không có bản ghi"
        )
    verifier.finish()
    return report


class LogVerifier:
    """Replays a station log and can stop and resume: the hub verifies each pushed run of
    entries from the state it saved after the previous run (`state()` / `state=`), so a push
    costs the new entries only. Findings accumulate in `report`.
    """

    def __init__(
        self,
        station_cert: Mapping[str, Any],
        origin: str,
        *,
        state: Mapping[str, Any] | None = None,
        schema: bool = False,
    ) -> None:
        self.report = LedgerReport()
        self.origin = origin
        self.schema = schema
        self.broken = False
        self._pending: list[tuple[int, bytes, int]] = []
        self._checkpoints_seen = 0
        self._futures: list[Future[list[tuple[bytes, bytes, bytes]]]] | None = None
        self._run: _WorkerRun | None = None
        # (the leaves given to `preverify`, their (signature, message) or None): for `extend`
        self._worked_out: tuple[Sequence[bytes], list[tuple[bytes, bytes] | None]] | None = None
        # Signature checks left for `settle`: (findings position, index, signer, id, sig, message)
        self._deferred: list[tuple[int, int, _Signer, str, bytes, bytes]] = []
        try:
            self.station_public = cert_public_key(station_cert)
            if station_cert.get("issuer") == station_cert.get("key_id"):
                verify_certificate(station_cert, station_cert)  # stand-alone: self-signed
        except LedgerError as exc:
            self.find(
                "error",
                "bad-station-certificate",
                None,
                f"station certificate: {exc.message}",
                f"Chứng thư trạm không hợp lệ: {exc.message}",
            )
            self.broken = True
            self.station_public = b""
        self.station_id = f"{station_cert.get('office')}/{station_cert.get('station')}"
        self.signers: dict[str, _Signer] = {
            str(station_cert.get("key_id")): _Signer(
                self.station_public, str(station_cert.get("name")), True
            )
        }
        self.tree = CompactRange()
        self.last_time: datetime | None = None
        if state is not None:
            self._restore(state)
        self.report.size = self.tree.size
        self.report.root = b64(self.tree.root())

    # -- findings -------------------------------------------------------------------------------
    def find(
        self, sev: Severity, code: str, index: int | None, en: str, vi: str, **detail: Any
    ) -> None:
        self.report.findings.append(
            Finding(
                severity=sev, code=code, index=index, message_en=en, message_vi=vi, detail=detail
            )
        )

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-ready state to resume from: tree, last claimed time and the certified signers."""
        return {
            "size": self.tree.size,
            "stack": [b64(h) for h in self.tree.stack],
            "last_time": self.last_time.isoformat() if self.last_time else None,
            "signers": {
                kid: {
                    "public": b64url(s.public),
                    "name": s.name,
                    "station": s.station_key,
                    "retired_at": s.retired_at,
                }
                for kid, s in self.signers.items()
            },
        }

    def _restore(self, state: Mapping[str, Any]) -> None:
        from ledger.encoding import unb64, unb64url

        self.tree = CompactRange.restore(int(state["size"]), [unb64(h, 32) for h in state["stack"]])
        last = state.get("last_time")
        self.last_time = datetime.fromisoformat(last) if last else None
        for kid, s in state["signers"].items():
            self.signers[kid] = _Signer(
                unb64url(s["public"], 32), s["name"], bool(s["station"]), s.get("retired_at")
            )

    # -- verification ---------------------------------------------------------------------------
    def check_checkpoints(self, checkpoints: Iterable[str]) -> None:
        """Queue signed checkpoints: each is compared with the tree when it reaches its size
        (one at the current size is compared at once)."""
        texts = list(checkpoints)
        opened = _open_checkpoints(
            texts,
            self.origin,
            self.station_public,
            self.find,
            self.report,
            first=self._checkpoints_seen,
        )
        self._checkpoints_seen += len(texts)
        for item in opened:
            if item[0] < self.tree.size:
                self.find(
                    "error",
                    "checkpoint-before-run",
                    None,
                    f"checkpoint #{item[2]} of size {item[0]} is older than the entries given",
                    f"Điểm kiểm tra #{item[2]} (kích thước {item[0]}) cũ hơn các bản ghi được gửi",
                    size=item[0],
                )
                continue
            self._pending.append(item)
        self._pending.sort(reverse=True)  # popped smallest first
        self._check_at(self.tree.size)

    def _check_at(self, size: int) -> None:
        pending = self._pending
        while pending and pending[-1][0] == size:
            _, root, cp_index = pending.pop()
            if root != self.tree.root():
                self.find(
                    "error",
                    "checkpoint-mismatch",
                    size - 1 if size else None,
                    f"signed checkpoint #{cp_index} of size {size} does not match the log",
                    f"Điểm kiểm tra đã ký số #{cp_index} (kích thước {size}) không khớp sổ",
                    size=size,
                )
            else:
                self.report.checkpoints_verified += 1

    def preverify(
        self,
        leaves: Sequence[bytes],
        pool: Executor | SignatureWorkers,
        chunk: int = 128,
        *,
        parsed: Sequence[Any] | None = None,
        validate: int = 0,
    ) -> Callable[[], None]:
        """Start checking the signatures of a run on other cores (`cryptography` releases the
        GIL while it verifies); call the returned function before `extend`, which then only
        looks the results up (or pass `defer=True` to `extend` and let `settle`/`finish` wait
        for them). A hint only: `extend` still resolves every signer itself and verifies
        whatever was not confirmed here.

        With `parsed` (the entries already parsed, as `extend` takes them) this thread works out
        each (key, signature, message) and the pool only runs the verifications: the pool's
        threads then need the GIL only between two verifications. A `SignatureWorkers` pool
        (processes: see there) needs `parsed`; with `validate=k` its worker also validates the
        first k leaves against the event schema (`schema_errors`)."""
        keys = {kid: s.public for kid, s in self.signers.items()}
        for i, leaf in enumerate(leaves):
            if b'"officer-enrol"' in leaf:  # keys certified inside this run sign later entries
                try:
                    cert = (parsed[i] if parsed is not None else loads(leaf))["data"]["cert"]
                    keys[str(cert["key_id"])] = cert_public_key(cert)
                except (CanonicalError, LedgerError, KeyError, TypeError):
                    continue
        if isinstance(pool, SignatureWorkers):
            if parsed is None:
                raise ValueError("preverify with SignatureWorkers needs the parsed entries")
            each: list[tuple[bytes, bytes] | None] = []
            items = _signed_items(parsed, leaves, keys, each)
            self._worked_out = (leaves, each)
            self._run = pool.start(items, leaves[:validate])
            return self._install
        if parsed is None:
            futures = [
                pool.submit(_preverify, leaves[i : i + chunk], keys)
                for i in range(0, len(leaves), chunk)
            ]
        else:
            items = _signed_items(parsed, leaves, keys)
            futures = [
                pool.submit(_verify_items, items[i : i + chunk])
                for i in range(0, len(items), chunk)
            ]
        self._futures = futures
        return self._install

    def schema_errors(self) -> list[tuple[int, str, str]] | None:
        """After `preverify(..., validate=k)` with `SignatureWorkers`: (position in the
        leaves, loc, message) of each leaf that breaks the event schema (pydantic's first
        error, as `EVENT_ADAPTER.validate_json` gives it), or None when no worker did it."""
        return self._run.schema_errors() if self._run is not None else None

    def _install(self) -> None:
        """Wait for the pre-verification started by `preverify` and hand its results to every
        signer (those certified later in the run too)."""
        futures, self._futures = self._futures, None
        run, self._run = self._run, None
        if futures is None and run is None:
            return
        good: set[tuple[bytes, bytes, bytes]] = set()
        for future in futures or ():
            good.update(future.result())
        if run is not None:
            good.update(run.result())
        frozen = frozenset(good)
        for signer in self.signers.values():
            signer.good = frozen

    def extend(
        self,
        leaves: Iterable[bytes],
        checkpoints: Iterable[str] = (),
        *,
        parsed: Sequence[Any] | None = None,
        canonical: bool = False,
        defer: bool = False,
    ) -> LedgerReport:
        """Verify the next entries (the first is at index `size`), then any checkpoints.

        `parsed` may hold the entries already parsed from JSON (the hub has them from the
        request body): the leaves are still checked to be their canonical bytes, unless
        `canonical` says the caller made each leaf as `canonical_parsed` of its parsed entry
        (then the comparison would only repeat that serialisation).

        `defer=True` (after `preverify`) does not wait for the signatures of ordinary entries
        (an officer signing a dossier event with a current key): they are checked by `settle`
        (`finish` calls it), and a `bad-signature` finding lands where it would have been
        without deferral. Until then `report` lacks those findings. Entries whose signature
        decides more than a finding (station actions, signer-role findings) are checked at
        once."""
        report = self.report
        if self.broken:
            return report
        self.check_checkpoints(checkpoints)
        pending = self._pending
        find = self.find
        tree = self.tree
        signers = self.signers
        station_id = self.station_id
        schema = self.schema
        last_time = self.last_time
        root_b64 = b64(tree.root())
        next_checkpoint = pending[-1][0] if pending else -1
        index = tree.size - 1
        first = tree.size
        deferrer = self._defer if defer else None
        worked_out = None
        if canonical and self._worked_out is not None and self._worked_out[0] is leaves:
            worked_out = self._worked_out[1]  # the very leaves `preverify` saw, canonical
        self._worked_out = None
        for index, leaf in enumerate(leaves, first):
            lh = sha256(b"\x00" + leaf).digest()  # leaf_hash, inlined: this loop is the hot path
            try:
                event = parsed[index - first] if parsed is not None else loads(leaf)
            except CanonicalError:
                find(
                    "error",
                    "malformed-entry",
                    index,
                    "entry is not valid JSON",
                    "Bản ghi không phải JSON hợp lệ",
                )
                event = None
            if type(event) is not dict:
                if event is not None:
                    find(
                        "error",
                        "malformed-entry",
                        index,
                        "entry is not a JSON object",
                        "Bản ghi không phải đối tượng JSON",
                    )
            else:
                last_time = _check_entry(
                    event,
                    leaf,
                    index,
                    root_b64,
                    station_id,
                    signers,
                    last_time,
                    find,
                    canonical,
                    deferrer,
                    worked_out[index - first] if worked_out is not None else None,
                )
                if schema:
                    _schema_findings(event, index, find)
            tree.append(lh)
            root_b64 = b2a_base64(tree.root(), newline=False).decode("ascii")
            if index + 1 == next_checkpoint:
                self._check_at(index + 1)
                next_checkpoint = pending[-1][0] if pending else -1
        self.last_time = last_time
        report.size = tree.size
        report.root = root_b64
        report.signers = {k: s.name for k, s in signers.items()}
        return report

    def _defer(
        self, index: int, signer: _Signer, signer_id: str, sig: bytes, message: bytes
    ) -> bool:
        self._deferred.append((len(self.report.findings), index, signer, signer_id, sig, message))
        return True

    def settle(self) -> LedgerReport:
        """Finish the signature checks `extend(defer=True)` left: wait for the pre-verification,
        verify here whatever it did not confirm, and put each failure's finding in its place."""
        self._install()
        deferred, self._deferred = self._deferred, []
        bad = []
        for position, index, signer, signer_id, sig, message in deferred:
            if not signer.verify(sig, message):
                bad.append((position, index, signer_id))
        findings = self.report.findings
        for position, index, signer_id in reversed(bad):  # later positions first: the earlier
            findings.insert(  # ones stay valid, and equal positions keep entry order
                position,
                Finding(
                    severity="error",
                    code="bad-signature",
                    index=index,
                    message_en=f"signature by {signer_id} does not verify",
                    message_vi=f"Chữ ký của {signer_id} không hợp lệ",
                    detail={},
                ),
            )
        return self.report

    def finish(self) -> LedgerReport:
        """Settle deferred signature checks, then report checkpoints that name sizes beyond the
        entries given."""
        self.settle()
        for size, _, cp_index in self._pending:
            self.find(
                "error",
                "checkpoint-beyond-log",
                None,
                f"signed checkpoint #{cp_index} has size {size}, beyond the "
                f"{self.report.size} entries",
                f"Điểm kiểm tra #{cp_index} có kích thước {size}, vượt quá "
                f"{self.report.size} bản ghi",
                size=size,
            )
        self._pending.clear()
        self.report.signers = {k: s.name for k, s in self.signers.items()}
        return self.report


def _preverify(
    leaves: Sequence[bytes], keys: Mapping[str, bytes]
) -> list[tuple[bytes, bytes, bytes]]:
    verifiers: dict[bytes, Ed25519PublicKey] = {}
    out = []
    for leaf in leaves:
        try:
            event = loads(leaf)
            public = keys.get(event.get("officer"))
            sig = _decode_sig(event.get("sig"))
            if public is None or sig is None or canonical_parsed(event) != leaf:
                continue
            message = _message(event, leaf, True)
            key = verifiers.get(public)
            if key is None:
                key = verifiers[public] = verifier_for(public)
            key.verify(sig, message)
        except (CanonicalError, InvalidSignature, AttributeError, LedgerError):
            continue
        out.append((public, sig, message))
    return out


def _signed_items(
    parsed: Sequence[Any],
    leaves: Sequence[bytes],
    keys: Mapping[str, bytes],
    each: list[tuple[bytes, bytes] | None] | None = None,
) -> list[tuple[bytes, bytes, bytes]]:
    """(public key, signature, message) of each entry whose signer is known; `each` gets the
    (signature, message) of every entry, as `_check_entry` works them out for a canonical leaf
    (None where there is none), so that `extend` need not work them out again."""
    items = []
    for event, leaf in zip(parsed, leaves, strict=True):
        pair = None
        if type(event) is dict:
            sig = _decode_sig(event.get("sig"))
            if sig is not None:
                try:
                    pair = (sig, _message(event, leaf, True))
                except CanonicalError:
                    pair = None
            officer = event.get("officer")
            public = keys.get(officer) if type(officer) is str else None
            if public is not None and pair is not None:
                items.append((public, *pair))
        if each is not None:
            each.append(pair)
    return items


def _verify_items(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[tuple[bytes, bytes, bytes]]:
    # Runs on a pool thread: nothing but the verifications, which release the GIL.
    verifiers: dict[bytes, Ed25519PublicKey] = {}
    out = []
    for item in items:
        public, sig, message = item
        key = verifiers.get(public)
        if key is None:
            try:
                key = verifiers[public] = verifier_for(public)
            except ValueError:
                continue
        try:
            key.verify(sig, message)
        except InvalidSignature:
            continue
        out.append(item)
    return out


# The program a worker runs (`python -c`). A request on stdin: 4-byte length, then a 4-byte count
# of signature items (32-byte key, 64-byte signature, 4-byte message length, message), then
# optional leaves (4-byte length, leaf) to validate against the event schema. Answers on
# stdout, each a 4-byte length and a body: first the schema errors when leaves were sent (JSON
# list of [position, loc, msg], or null when the schema cannot be loaded), then one byte per
# signature item (1: verifies). The schema (pydantic, ~0.3 s) is imported as the worker starts,
# so a worker started ahead (`SignatureWorkers.warm`) answers the first push at full speed.
_WORKER = """
import json, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
sys.path.insert(0, sys.argv[1])
inp, out, keys, adapter = sys.stdin.buffer, sys.stdout.buffer, {}, None

def send(body):
    out.write(len(body).to_bytes(4, "big") + body)
    out.flush()

def schema_errors(data, pos, size):
    global adapter
    try:
        if adapter is None:
            from pydantic import ValidationError
            from schemas.event import EVENT_ADAPTER
            adapter = (EVENT_ADAPTER, ValidationError)
    except Exception:
        adapter = False
    if not adapter:
        return None
    errors, i = [], 0
    while pos < size:
        end = pos + 4 + int.from_bytes(data[pos : pos + 4], "big")
        try:
            adapter[0].validate_json(bytes(data[pos + 4 : end]))
        except adapter[1] as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            errors.append([i, ".".join(map(str, err["loc"])), err["msg"]])
        pos, i = end, i + 1
    return errors

schema_errors(b"", 0, 0)  # load the schema now
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    size = int.from_bytes(head, "big")
    data = memoryview(inp.read(size))
    if len(data) < size:
        break
    count, pos, items = int.from_bytes(data[:4], "big"), 4, []
    for _ in range(count):
        end = pos + 100 + int.from_bytes(data[pos + 96 : pos + 100], "big")
        public, sig = bytes(data[pos : pos + 32]), bytes(data[pos + 32 : pos + 96])
        items.append((public, sig, data[pos + 100 : end]))
        pos = end
    if pos < size:
        send(json.dumps(schema_errors(data, pos, size)).encode())
    answer = bytearray()
    for public, sig, message in items:
        key = keys.get(public)
        try:
            if key is None:
                if len(keys) > 4096:
                    keys.clear()
                key = keys[public] = Ed25519PublicKey.from_public_bytes(public)
            key.verify(sig, bytes(message))
        except (InvalidSignature, ValueError):
            answer.append(0)
        else:
            answer.append(1)
    send(bytes(answer))
"""


class SignatureWorkers:
    """Worker processes that verify Ed25519 signatures for `LogVerifier.preverify` (and, when
    asked, validate the entries against the event schema).

    Threads do not help here: `cryptography` releases the GIL while it verifies, but a thread
    needs the GIL back after every signature, and while the request thread runs Python it gets
    it only once per switch interval (5 ms), so a verify thread finishes almost nothing until
    the request thread waits. A worker process runs a whole run's checks with no GIL to share:
    the request thread writes them to its pipe, goes on, and reads the answers when it needs
    them. Up to `size` runs at once (concurrent pushes); beyond that, or when a worker cannot
    start or dies, `start` answers None (or the run answers nothing) and the caller checks
    everything itself: slower, never less checked.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[subprocess.Popen[bytes]] = []
        self._running = 0
        self._lock = threading.Lock()

    def warm(self, count: int = 2) -> None:
        """Start up to `count` workers now (in the background), so the first pushes do not
        wait for them to start; more start when concurrent runs need them."""
        while True:
            with self._lock:
                if self._running >= min(count, self.size):
                    return
                self._running += 1
            proc = self._spawn()
            if proc is None:
                return
            with self._lock:
                self._idle.append(proc)

    def start(
        self, items: Sequence[tuple[bytes, bytes, bytes]], leaves: Sequence[bytes] = ()
    ) -> _WorkerRun | None:
        """Send signature items (key, signature, message) and optionally leaves to validate."""
        with self._lock:
            proc = self._idle.pop() if self._idle else None
            if proc is None and self._running >= self.size:
                return None
            if proc is None:
                self._running += 1
        if proc is None or proc.poll() is not None:
            proc = self._spawn()
            if proc is None:
                return None
        frame = b"".join(
            [
                len(items).to_bytes(4, "big"),
                *(
                    b"".join((public, sig, len(message).to_bytes(4, "big"), message))
                    for public, sig, message in items
                ),
                *(len(leaf).to_bytes(4, "big") + leaf for leaf in leaves),
            ]
        )
        run = _WorkerRun(self, proc, items, bool(leaves))
        try:
            assert proc.stdin is not None
            proc.stdin.write(len(frame).to_bytes(4, "big") + frame)
            proc.stdin.flush()
        except OSError:
            run.discard()
            return None
        return run

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        import schemas

        root = str(Path(schemas.__file__).resolve().parent.parent)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _WORKER, root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError:
            with self._lock:
                self._running -= 1
            return None
        # A pipe that holds a whole run (Linux): the request thread writes it and goes on
        # instead of waiting for the worker to read it 64 KiB at a time.
        with contextlib.suppress(OSError, AttributeError, ImportError):
            import fcntl

            assert proc.stdin is not None
            fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        return proc

    def _release(self, proc: subprocess.Popen[bytes], healthy: bool) -> None:
        if not healthy:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        with self._lock:
            if healthy:
                self._idle.append(proc)
            else:
                self._running -= 1

    def close(self) -> None:
        """Stop the idle workers (they also stop by themselves when this process exits)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._running -= len(idle)
        for proc in idle:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.wait(timeout=1)


class _WorkerRun:
    """One run sent to a worker: its answers are read in order, once, then the worker is free.
    Any short or garbled answer stops the worker and counts as "nothing confirmed"."""

    def __init__(
        self,
        owner: SignatureWorkers,
        proc: subprocess.Popen[bytes],
        items: Sequence[tuple[bytes, bytes, bytes]],
        validating: bool,
    ) -> None:
        self.owner, self.proc, self.items = owner, proc, items
        self.done = False
        self.validating = validating
        self.errors: list[tuple[int, str, str]] | None = None

    def _read(self) -> bytes | None:
        try:
            assert self.proc.stdout is not None
            head = self.proc.stdout.read(4)
            if len(head) < 4:
                return None
            size = int.from_bytes(head, "big")
            body = self.proc.stdout.read(size)
        except OSError:
            return None
        return body if len(body) == size else None

    def schema_errors(self) -> list[tuple[int, str, str]] | None:
        """(position in the leaves sent, loc, message) of each leaf the event schema refuses
        (its first error, as pydantic orders them); None when the worker could not say."""
        if self.validating:
            self.validating = False
            body = None if self.done else self._read()
            try:
                found = json.loads(body) if body is not None else None
                self.errors = (
                    None
                    if found is None
                    else [(int(i), str(loc), str(msg)) for i, loc, msg in found]
                )
            except (ValueError, TypeError):
                self.errors = None
            if body is None:
                self.discard()
        return self.errors

    def result(self) -> list[tuple[bytes, bytes, bytes]]:
        """The signature items that verify (none when the worker failed)."""
        self.schema_errors()  # its answer comes first
        if self.done:
            return []
        answer = self._read()
        healthy = answer is not None and len(answer) == len(self.items)
        self.done = True
        self.owner._release(self.proc, healthy)
        if not healthy or answer is None:
            return []  # nothing confirmed: the verifier checks every signature itself
        return [item for item, ok in zip(self.items, answer, strict=True) if ok == 1]

    def discard(self) -> None:
        """Abandoned before its answers were read (the push failed), or broken: the worker's
        pipe may hold answers nobody will read, so the worker is stopped rather than reused."""
        if not self.done:
            self.done = True
            self.owner._release(self.proc, False)

    def __del__(self) -> None:
        self.discard()


def _open_checkpoints(
    checkpoints: Iterable[str],
    origin: str,
    station_public: bytes,
    find: Any,
    report: LedgerReport,
    first: int = 0,
) -> list[tuple[int, bytes, int]]:
    verifier = ed25519_verifier(origin, station_public)
    out = []
    for i, text in enumerate(checkpoints, first):
        try:
            signed = open_checkpoint(text, verifier)
        except LedgerError as exc:
            find(
                "error",
                "bad-checkpoint",
                None,
                f"checkpoint #{i}: {exc.message}",
                f"Điểm kiểm tra #{i} không hợp lệ: {exc.message}",
                checkpoint=i,
            )
            continue
        if signed.checkpoint.origin != origin:
            find(
                "error",
                "bad-checkpoint",
                None,
                f"checkpoint #{i} is for another log",
                f"Điểm kiểm tra #{i} thuộc sổ khác",
                checkpoint=i,
            )
            continue
        out.append((signed.checkpoint.size, signed.checkpoint.root, i))
    return out


def _check_entry(
    event: dict[str, Any],
    leaf: bytes,
    index: int,
    root_b64: str,
    station_id: str,
    signers: dict[str, _Signer],
    last_time: datetime | None,
    find: Any,
    canonical: bool = False,
    defer: Callable[[int, _Signer, str, bytes, bytes], bool] | None = None,
    worked_out: tuple[bytes, bytes] | None = None,
) -> datetime | None:
    # Hot path: one combined test per concern, details only when something is wrong.
    get = event.get
    sig: bytes | None
    if worked_out is not None and canonical:  # what the lines below would find
        sig, message = worked_out
        canonical_leaf = True
    else:
        sig = _decode_sig(get("sig"))
        try:
            canonical_leaf = canonical or canonical_parsed(event) == leaf
            message = _message(event, leaf, canonical_leaf) if sig is not None else b""
        except CanonicalError:
            message, canonical_leaf = b"", False
    if not canonical_leaf:
        find(
            "error",
            "non-canonical",
            index,
            "entry bytes are not the canonical (RFC 8785) form",
            "Bản ghi không ở dạng chuẩn tắc (RFC 8785)",
        )
    seq = get("seq")
    if (
        get("type") != EVENT_TYPE
        or get("station") != station_id
        or seq != index
        or type(seq) is not int
        or get("prev") != root_b64
    ):
        _envelope_findings(event, index, root_b64, station_id, find)

    action = get("action")
    signer_id = get("officer")
    signer = signers.get(signer_id) if type(signer_id) is str else None
    station_action = type(action) is str and action in STATION_ACTIONS  # a list: unhashable
    if (
        signer is not None
        and sig is not None
        and (
            defer(index, signer, str(signer_id), sig, message)
            if defer is not None
            and not station_action
            and not signer.station_key
            and signer.retired_at is None
            else signer.verify(sig, message)
        )
    ):
        if signer.station_key != station_action or signer.retired_at is not None:
            _signer_findings(signer, str(signer_id), action, index, find)
        if station_action:
            _apply_station_action(event, index, signers, find)
    elif signer is None:
        find(
            "error",
            "unknown-signer",
            index,
            f"signer {signer_id!r} is not certified in this log",
            f"Người ký {signer_id!r} chưa được cấp chứng thư trong sổ này",
        )
    elif sig is None:
        find(
            "error",
            "bad-signature",
            index,
            "signature missing or not base64url of 64 bytes",
            "Chữ ký thiếu hoặc sai định dạng",
        )
    else:
        find(
            "error",
            "bad-signature",
            index,
            f"signature by {signer_id} does not verify",
            f"Chữ ký của {signer_id} không hợp lệ",
        )
    if (index == 0) != (action == "station-open"):
        find(
            "error",
            "genesis",
            index,
            "a log starts with exactly one station-open entry, at index 0",
            "Sổ phải bắt đầu bằng đúng một bản ghi mở trạm (station-open) ở vị trí 0",
        )

    claimed = get("claimed_time")
    try:
        when = datetime.fromisoformat(claimed) if type(claimed) is str else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        find(
            "error",
            "bad-time",
            index,
            f"claimed_time {claimed!r} is not RFC 3339 with offset",
            f"Thời điểm {claimed!r} không đúng định dạng RFC 3339 có múi giờ",
        )
        return last_time
    if last_time is not None and when < last_time:
        find(
            "warning",
            "clock-backwards",
            index,
            f"claimed time {claimed} is earlier than the entry before it",
            f"Thời điểm {claimed} sớm hơn bản ghi trước (đồng hồ máy bị lùi?)",
        )
    return when


def _schema_findings(event: dict[str, Any], index: int, find: Any) -> None:
    try:
        parse_event(event)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        msg = errors[0]["msg"] if errors else str(exc)
        find(
            "error",
            "schema",
            index,
            f"entry breaks the data contract at {where}: {msg}",
            f"Bản ghi sai cấu trúc dữ liệu tại {where}: {msg}",
            errors=[{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in errors],
        )


def _envelope_findings(
    event: dict[str, Any], index: int, root_b64: str, station_id: str, find: Any
) -> None:
    if event.get("type") != EVENT_TYPE:
        find(
            "error",
            "wrong-type",
            index,
            f"entry type is {event.get('type')!r}, not {EVENT_TYPE}",
            f"Loại bản ghi {event.get('type')!r} không phải {EVENT_TYPE}",
        )
    if event.get("station") != station_id:
        find(
            "error",
            "wrong-station",
            index,
            f"entry names station {event.get('station')!r}, not {station_id!r}",
            f"Bản ghi ghi trạm {event.get('station')!r}, không phải {station_id!r}",
        )
    seq = event.get("seq")
    if seq != index or type(seq) is not int:
        find(
            "error",
            "bad-seq",
            index,
            f"entry at index {index} says seq {seq!r}",
            f"Bản ghi ở vị trí {index} lại ghi số thứ tự {seq!r}",
            seq=seq,
        )
    if event.get("prev") != root_b64:
        find(
            "error",
            "bad-prev",
            index,
            "entry's prev is not the root of the log before it (history rewritten or reordered)",
            "Trường prev không khớp gốc cây của sổ trước đó (lịch sử bị sửa hoặc đảo thứ tự)",
        )


def _signer_findings(signer: _Signer, signer_id: str, action: Any, index: int, find: Any) -> None:
    if signer.station_key != (type(action) is str and action in STATION_ACTIONS):
        who = "the station key" if signer.station_key else "an officer key"
        find(
            "error",
            "signer-not-allowed",
            index,
            f"{who} may not sign a {action!r} event",
            f"Khóa này không được ký sự kiện {action!r}",
        )
    if signer.retired_at is not None:
        find(
            "error",
            "signer-retired",
            index,
            f"signer {signer_id} was retired at entry {signer.retired_at}",
            f"Khóa {signer_id} đã bị thu hồi từ bản ghi {signer.retired_at}",
        )


def _apply_station_action(
    event: dict[str, Any], index: int, signers: dict[str, _Signer], find: Any
) -> None:
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    action = event.get("action")
    if action == "station-open":
        opened = data.get("station_cert")
        if not isinstance(opened, dict) or opened.get("key_id") != event.get("officer"):
            find(
                "error",
                "genesis",
                index,
                "station-open does not carry this station's certificate",
                "Bản ghi mở trạm không chứa chứng thư của chính trạm này",
            )
    elif action == "officer-enrol":
        cert = data.get("cert")
        station_signer = signers[event["officer"]]
        try:
            if not isinstance(cert, dict):
                raise LedgerError("no certificate in officer-enrol")
            issuer = {"role": "station", "key_id": event["officer"]}
            _verify_officer_cert(cert, issuer, station_signer.public)
        except LedgerError as exc:
            find(
                "error",
                "bad-certificate",
                index,
                f"officer certificate: {exc.message}",
                f"Chứng thư cán bộ không hợp lệ: {exc.message}",
            )
            return
        kid = str(cert["key_id"])
        if kid in signers:
            find(
                "error",
                "duplicate-certificate",
                index,
                f"key {kid} is certified twice",
                f"Khóa {kid} được cấp chứng thư hai lần",
            )
            return
        good = next(iter(signers.values())).good
        signers[kid] = _Signer(cert_public_key(cert), str(cert.get("name")), False, good=good)
    elif action == "officer-retire":
        retired_id = data.get("key_id")
        target = signers.get(retired_id) if isinstance(retired_id, str) else None
        if target is None or target.station_key:
            find(
                "error",
                "bad-retire",
                index,
                f"cannot retire unknown key {retired_id!r}",
                f"Không thể thu hồi khóa không tồn tại {retired_id!r}",
            )
        elif target.retired_at is None:
            target.retired_at = index


def _verify_officer_cert(
    cert: Mapping[str, Any], issuer: Mapping[str, Any], issuer_public: bytes
) -> None:
    verify_certificate(cert, {**issuer, "public_key": b64url(issuer_public)})
