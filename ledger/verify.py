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
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
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
        self, leaves: Sequence[bytes], pool: Executor, chunk: int = 128
    ) -> Callable[[], None]:
        """Start checking the signatures of a run on other cores (`cryptography` releases the
        GIL while it verifies); call the returned function before `extend`, which then only
        looks the results up. A hint only: `extend` still resolves every signer itself and
        verifies whatever was not confirmed here."""
        keys = {kid: s.public for kid, s in self.signers.items()}
        for leaf in leaves:
            if b'"officer-enrol"' in leaf:  # keys certified inside this run sign later entries
                try:
                    cert = loads(leaf)["data"]["cert"]
                    keys[str(cert["key_id"])] = cert_public_key(cert)
                except (CanonicalError, LedgerError, KeyError, TypeError):
                    continue
        futures = [
            pool.submit(_preverify, leaves[i : i + chunk], keys)
            for i in range(0, len(leaves), chunk)
        ]

        def install() -> None:
            good: set[tuple[bytes, bytes, bytes]] = set()
            for future in futures:
                good.update(future.result())
            frozen = frozenset(good)
            for signer in self.signers.values():
                signer.good = frozen

        return install

    def extend(
        self,
        leaves: Iterable[bytes],
        checkpoints: Iterable[str] = (),
        *,
        parsed: Sequence[Any] | None = None,
    ) -> LedgerReport:
        """Verify the next entries (the first is at index `size`), then any checkpoints.

        `parsed` may hold the entries already parsed from JSON (the hub has them from the
        request body): the leaves are still checked to be their canonical bytes."""
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
                    event, leaf, index, root_b64, station_id, signers, last_time, find
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

    def finish(self) -> LedgerReport:
        """Report checkpoints that name sizes beyond the entries given."""
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
) -> datetime | None:
    # Hot path: one combined test per concern, details only when something is wrong.
    get = event.get
    sig = _decode_sig(get("sig"))
    try:
        canonical_leaf = canonical_parsed(event) == leaf
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
    station_action = action in STATION_ACTIONS
    if signer is not None and sig is not None and signer.verify(sig, message):
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
    if signer.station_key != (action in STATION_ACTIONS):
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
