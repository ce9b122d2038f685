"""The ledger audit (`commune-audit ledger`): an office's exported ledger against a trust kit.

Headless: `audit_ledger(source, kit)` returns an `AuditReport` (findings sorted by entry index,
counts, `ok` = no error). It trusts the kit and the mathematics, nothing in the file:

- the station certificate in the header is one the kit vouches for, and the log's origin is the
  kit's log of that station and key;
- every entry, through `ledger.verify.LogVerifier`: canonical bytes, envelope, `seq`, the `prev`
  chain, signers certified earlier in the log, every signature, officer retirements;
- every station checkpoint: its signature and its root against the tree at its size; every
  checkpoint the hub cosigned: the station's signature, each hub cosignature with the kit's
  cosigner key, and its root against the tree (the station cannot re-sign those);
- revocation by position: a key the kit says is valid through size S signs no entry at index
  >= S (and a station key no checkpoint of size > S);
- time brackets (DESIGN 4): entry i cannot be older than the hub's time on the cosigned
  checkpoint its `beacon` names, nor newer than the earliest hub cosignature on a checkpoint of
  size > i (nor than the audit itself); a claimed time outside is a clock anomaly;
- the dossier states the office holds against the fold of the events (its own, and the other
  stations' events it applied from its feed, each verified up to the kit), and the Biểu 06 of
  every month the log covers computed from both.

Every finding says what is wrong in Vietnamese and English and, where it concerns one entry,
its index. docs/audit.md describes the export format, the checks and every finding code.
"""

from __future__ import annotations

import binascii
import math
import os
import re
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from hashlib import sha256
from pathlib import Path
from typing import Any, Literal

from audit.epochs import check_continuity, check_reattestation, epoch_of
from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import (
    Checkpoint,
    cosignature_time,
    cosigner_verifier,
    ed25519_verifier,
    parse_checkpoint_text,
)
from ledger.encoding import b64, unb64url
from ledger.errors import LedgerError
from ledger.merkle import CompactRange, ProofError, leaf_hash, verify_inclusion
from ledger.note import Note, NoteSignature, Verifier, parse_note
from ledger.records import signing_bytes, verify_record
from ledger.tlogproof import parse_proof
from ledger.trustkit import TrustKit, load_kit
from ledger.verify import LogVerifier, _check_entry
from schemas.canonical import CanonicalError, canonical_parsed, loads
from schemas.event import STATION_ACTIONS
from schemas.finding import Finding, Severity
from schemas.lifecycle import apply_event
from schemas.reports import bieu06

__all__ = [
    "COSIGNED_TYPE",
    "DOSSIER_STATE_TYPE",
    "EXPORT_TYPE",
    "FOREIGN_ENTRY_TYPE",
    "AuditInputError",
    "AuditMemo",
    "AuditReport",
    "audit_ledger",
]

EXPORT_TYPE = "commune.ledger-export/v1"
COSIGNED_TYPE = "commune.cosigned/v1"
FOREIGN_ENTRY_TYPE = "commune.foreign-entry/v1"
DOSSIER_STATE_TYPE = "commune.dossier-state/v1"
# the keys of each kind of line (a line with others is not one the station wrote)
_HEADER_KEYS = frozenset(
    {"type", "origin", "station", "station_cert", "entries", "checkpoints", "cosigned"}
    | {"foreign", "dossiers"}
)
_KEYS = {
    COSIGNED_TYPE: frozenset({"type", "size", "hub_unix", "note"}),
    FOREIGN_ENTRY_TYPE: frozenset(
        {"type", "local_size", "origin", "station", "seq", "leaf", "proof"}
        | {"officer_cert", "station_cert"}
    ),
    DOSSIER_STATE_TYPE: frozenset({"type", "code", "state"}),
}

VN = timezone(timedelta(hours=7))
CHUNK = 2048  # entries parsed and verified per step: bounded memory however long the log
MAX_MONTHS = 240  # a span of claimed times beyond this (a wrong clock) counts its own months only
Mode = Literal["all", "evidence"]


class AuditInputError(LedgerError):
    """The input is not a ledger export or the kit is unusable: exit 2, nothing audited."""

    title = "Không đọc được sổ / Unreadable ledger export"


# -- report -------------------------------------------------------------------------------------
@dataclass
class AuditReport:
    origin: str = ""
    station: str = ""
    entries: int = 0
    root: str = ""
    kit_signed_by: str = ""
    checkpoints: int = 0  # station checkpoints in the export
    checkpoint_signatures_verified: int = 0
    cosigned: int = 0  # checkpoints the hub cosigned, in the export
    cosigned_verified: int = 0  # with valid station signature, hub cosignature and root
    foreign: int = 0  # other stations' events applied here, in the export
    dossiers_reported: int = 0
    dossiers_compared: int = 0
    dossiers_not_compared: list[str] = field(default_factory=list)
    months: list[str] = field(default_factory=list)
    # entries with a not-before / a not-after / both, and the widths (hours) of closed brackets
    brackets: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity] += 1
        return out

    def by_code(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.code] = out.get(f.code, 0) + 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "origin": self.origin,
            "station": self.station,
            "entries": self.entries,
            "root": self.root,
            "kit_signed_by": self.kit_signed_by,
            "checkpoints": self.checkpoints,
            "checkpoint_signatures_verified": self.checkpoint_signatures_verified,
            "cosigned": self.cosigned,
            "cosigned_verified": self.cosigned_verified,
            "foreign": self.foreign,
            "dossiers_reported": self.dossiers_reported,
            "dossiers_compared": self.dossiers_compared,
            "dossiers_not_compared": self.dossiers_not_compared,
            "months": self.months,
            "brackets": self.brackets,
            "counts": self.counts,
            "by_code": self.by_code(),
            "findings": [f.model_dump(mode="json") for f in self.findings],
        }


@dataclass
class AuditMemo:
    """Signatures already seen to verify, for auditing many variants of one export (the
    mutation campaign): an entry or note whose exact (key, signature, message) verified before
    is not verified again. Sound because verification is a function of those bytes alone."""

    events: set[tuple[bytes, bytes, bytes]] = field(default_factory=set)
    notes: set[tuple[bytes, str, bytes]] = field(default_factory=set)
    foreign: dict[bytes, Any] = field(default_factory=dict)  # foreign-entry line -> outcome
    learning: bool = True  # remember what verifies in this run (off: only use what is known)


# -- input --------------------------------------------------------------------------------------
Source = str | os.PathLike[str] | Sequence[bytes | str]


class _Lines:
    """The export's lines, read twice when it is a file (the trailer first, then the entries in
    chunks) so that memory stays bounded by one chunk plus the trailer."""

    def __init__(self, source: Source) -> None:
        self.path: Path | None = None
        self.items: list[bytes] | None = None
        if isinstance(source, str | os.PathLike):
            self.path = Path(source)
            try:
                with self.path.open("rb") as f:
                    f.read(1)
            except OSError as exc:
                raise AuditInputError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        else:
            items = [
                x.encode("utf-8", "surrogateescape") if isinstance(x, str) else x for x in source
            ]
            while items and not items[-1].strip():
                items.pop()
            self.items = items

    def __iter__(self) -> Iterator[bytes]:
        if self.items is not None:
            yield from self.items
            return
        assert self.path is not None
        try:
            with self.path.open("rb") as f:
                for line in f:
                    yield line[:-1] if line.endswith(b"\n") else line
        except OSError as exc:
            raise AuditInputError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def leaves(self, count: int) -> Iterator[list[bytes]]:
        """The `count` lines after the header, in chunks."""
        if self.items is not None:
            for start in range(1, count + 1, CHUNK):
                yield self.items[start : min(start + CHUNK, count + 1)]
            return
        chunk: list[bytes] = []
        lines = iter(self)
        next(lines, None)
        for _, line in zip(range(count), lines, strict=False):
            chunk.append(line)
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _is_trailer(line: bytes) -> bool:
    return line[:1] == b'"' or line.startswith(b'{"type":"commune.')


# -- parts of the export ------------------------------------------------------------------------
@dataclass
class _Signed:
    """A signed checkpoint of this log: a station checkpoint or one the hub cosigned."""

    position: int  # its number among its kind, in file order
    line: int  # line number in the export (1 = header)
    size: int
    root: str  # base64, as the note writes it (compared with the log's `prev` strings)
    text: str
    parsed: Note | None = None
    station_sig: bool | None = None  # None: not checked (yet)
    times: list[int] = field(default_factory=list)  # valid hub cosignature times
    matches: bool | None = None  # root == the tree's root at its size
    hub_unix: Any = None  # a cosigned line's own note of the hub's (latest) time

    @property
    def note(self) -> Note:
        """The signed note, parsed when a signature is to be checked (most are not, or are
        checked in a worker)."""
        if self.parsed is None:
            self.parsed = _note_of(self.text)
        return self.parsed


@dataclass
class _Foreign:
    line: int
    local_size: int
    dossier: str | None
    event: dict[str, Any] | None
    problem: tuple[str, str] | None  # (en, vi): refused
    unknown: bool = False  # the kit does not know its station: cannot be checked


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """A message that quotes the file's own values: control characters written out, and cut
    to what a finding holds (a value in a tampered file can be anything, of any length)."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= 1900 else text[:1900] + "…"


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []

    def __call__(
        self, sev: Severity, code: str, index: int | None, en: str, vi: str, **detail: Any
    ) -> None:
        self.items.append(
            Finding(
                severity=sev,
                code=code,
                index=index,
                message_en=_clean(en),
                message_vi=_clean(vi),
                detail=detail,
            )
        )


class _Verifier(LogVerifier):
    """`LogVerifier` whose messages stay within a finding's bounds whatever the entries hold
    (its messages quote entry values, e.g. a 3,000-character `station`)."""

    def find(
        self, sev: Severity, code: str, index: int | None, en: str, vi: str, **detail: Any
    ) -> None:
        super().find(sev, code, index, _clean(en), _clean(vi), **detail)


def _iso(unix: float) -> str:
    try:
        return datetime.fromtimestamp(unix, VN).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):  # a claimed time at the edge of the calendar
        return f"@{unix:.0f}"


def _month(unix: float) -> tuple[int, int] | None:
    try:
        when = datetime.fromtimestamp(unix, VN)
    except (ValueError, OverflowError, OSError):
        return None
    return when.year, when.month


# -- the audit ----------------------------------------------------------------------------------
def audit_ledger(
    source: Source,
    kit: Mapping[str, Any] | TrustKit,
    *,
    now: datetime | None = None,
    schema: bool = False,
    checkpoint_signatures: Mode = "all",
    workers: int = 1,
    memo: AuditMemo | None = None,
) -> AuditReport:
    """Audit an export (`commune export-ledger` output: a path, or its lines) against a trust
    kit (the parsed JSON, or a `TrustKit`). Raises AuditInputError when the input is not an
    export or the kit is unusable; every problem in the ledger itself is a finding.

    `now` is the audit's time (default: the clock): no entry can be newer. `schema=True` also
    validates every event against the data contract. `checkpoint_signatures="evidence"`
    verifies the station's signature only on checkpoints that are evidence (the latest, and
    any that disagrees with the log); the others are still compared with the tree. `workers`
    > 1 verifies the entries' signatures in that many processes, by ranges of the log."""
    if isinstance(kit, TrustKit):
        trusted = kit
    else:
        try:
            trusted = load_kit(kit)
        except LedgerError as exc:
            raise AuditInputError(exc.message, title=exc.title) from exc
    audit = _Audit(_Lines(source), trusted, now or datetime.now(UTC), schema, memo)
    return audit.run(checkpoint_signatures, workers)


class _Audit:
    def __init__(
        self,
        lines: _Lines,
        kit: TrustKit,
        now: datetime,
        schema: bool,
        memo: AuditMemo | None,
    ) -> None:
        self.lines = lines
        self.kit = kit
        self.now = now.timestamp()
        self.schema = schema
        self.memo = memo
        self.find = _Findings()
        self.report = AuditReport(kit_signed_by=kit.signed_by)
        self.checkpoints: list[_Signed] = []
        self.cosigned: dict[int, _Signed] = {}
        self.foreign: list[_Foreign] = []
        self.reported: dict[str, dict[str, Any]] = {}
        self.header: dict[str, Any] = {}
        self._entries = 0
        self.hub = kit.cosigner()
        self._unreliable: set[int | None] = set()
        self._recomputed: dict[int, str] | None = None
        self._signing: list[tuple[list[_Signed], Future[list[bool]]]] = []

    # -- pass 1: header and trailer -----------------------------------------------------------
    def read_trailer(self) -> int:
        """Read the header and everything after the entries; return the number of entries."""
        lines = iter(self.lines)
        first = next(lines, None)
        if first is None:
            raise AuditInputError("the file is empty, not a ledger export")
        try:
            header = loads(first.lstrip(b"\xef\xbb\xbf"))
        except CanonicalError as exc:
            raise AuditInputError("the first line is not JSON: not a ledger export") from exc
        if not isinstance(header, dict) or header.get("type") != EXPORT_TYPE:
            raise AuditInputError(f"the first line is not a {EXPORT_TYPE} header")
        origin, station, cert = (
            header.get("origin"),
            header.get("station"),
            header.get("station_cert"),
        )
        if not (isinstance(origin, str) and isinstance(station, str) and isinstance(cert, dict)):
            raise AuditInputError("the header lacks origin, station or station_cert")
        unknown = sorted(set(header) - _HEADER_KEYS)
        if unknown:
            self.find(
                "error",
                "bad-export-line",
                None,
                f"line 1: the header has keys no station writes: {unknown}",
                f"Dòng 1: phần đầu tệp có khóa lạ: {unknown}",
                line=1,
            )
        self.header = header
        self.report.origin, self.report.station = origin, station
        count = 0
        number = 1
        in_trailer = False
        for line in lines:
            number += 1
            if not in_trailer and not _is_trailer(line):
                count += 1
                continue
            in_trailer = True
            self._entries = count
            self._trailer_line(line, number, count)
        return count

    def _trailer_line(self, line: bytes, number: int, entries: int) -> None:
        find = self.find
        try:
            item = loads(line)
        except CanonicalError:
            item = None
        if isinstance(item, str):
            self._checkpoint(item, number)
            return
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(item, dict) and kind in _KEYS and set(item) != _KEYS[kind]:
            find(
                "error",
                "bad-export-line",
                None,
                f"line {number}: a {kind} line with the keys {sorted(item)}",
                f"Dòng {number}: dòng {kind} có các khóa không đúng {sorted(item)}",
                line=number,
            )
            return
        if kind == COSIGNED_TYPE and isinstance(item, dict):
            self._cosigned(item, number)
        elif kind == FOREIGN_ENTRY_TYPE and isinstance(item, dict):
            self._foreign(item, number, line)
        elif (
            kind == DOSSIER_STATE_TYPE
            and isinstance(item, dict)
            and isinstance(item.get("code"), str)
            and isinstance(item.get("state"), dict)
        ):
            code = item["code"]
            if code in self.reported:
                find(
                    "error",
                    "bad-export-line",
                    None,
                    f"line {number}: dossier {code} is reported twice",
                    f"Dòng {number}: hồ sơ {code} được khai hai lần",
                    line=number,
                )
            self.reported.setdefault(code, item["state"])
        else:
            what = "an entry after the checkpoints" if line[:1] == b"{" and kind is None else ""
            find(
                "error",
                "bad-export-line",
                entries if what else None,
                f"line {number} is not part of a ledger export{': ' + what if what else ''}",
                f"Dòng {number} không thuộc định dạng tệp xuất sổ",
                line=number,
            )

    def _open_note(self, text: Any, kind_en: str, kind_vi: str, number: int) -> _Signed | None:
        origin = self.report.origin
        try:
            if not isinstance(text, str):
                raise LedgerError("not a signed note")
            fast = _NOTE.fullmatch(text)
            if fast is not None and fast.group(1) == origin and len(fast.group(2)) < 20:
                return _Signed(0, number, int(fast.group(2)), fast.group(3), text)
            note = parse_note(text)
            cp = parse_checkpoint_text(note.text)
            if cp.origin != origin:
                raise LedgerError(f"it is for log {cp.origin}, not {origin}")
        except LedgerError as exc:
            self.find(
                "error",
                "bad-checkpoint",
                None,
                f"line {number}: {kind_en} is unreadable: {exc.message}",
                f"Dòng {number}: {kind_vi} không đọc được: {exc.message}",
                line=number,
            )
            return None
        return _Signed(0, number, cp.size, b64(cp.root), text, note)

    def _checkpoint(self, text: str, number: int) -> None:
        signed = self._open_note(text, "station checkpoint", "điểm kiểm tra của trạm", number)
        if signed is not None:
            signed.position = len(self.checkpoints)
            self.checkpoints.append(signed)

    def _cosigned(self, item: dict[str, Any], number: int) -> None:
        signed = self._open_note(item.get("note"), "cosigned checkpoint", "điểm kiểm tra", number)
        if signed is None:
            return
        if item.get("size") != signed.size or signed.size in self.cosigned:
            self.find(
                "error",
                "bad-export-line",
                None,
                f"line {number}: cosigned checkpoint of size {signed.size} is listed as "
                f"{item.get('size')!r} or twice",
                f"Dòng {number}: điểm kiểm tra cỡ {signed.size} ghi sai cỡ hoặc lặp lại",
                line=number,
            )
            return
        signed.position = len(self.cosigned)
        signed.hub_unix = item.get("hub_unix")
        self.cosigned[signed.size] = signed

    def _foreign(self, item: dict[str, Any], number: int, line: bytes) -> None:
        local_size = item.get("local_size")
        if type(local_size) is not int or not 0 <= local_size <= self._entries:
            self.find(
                "error",
                "bad-export-line",
                None,
                f"line {number}: an event of another station applied at {local_size!r}, not a "
                "position of the log",
                f"Dòng {number}: sự kiện của trạm khác được áp dụng ở vị trí {local_size!r} "
                "không thuộc sổ",
                line=number,
            )
            local_size = 0
        entry = _Foreign(number, local_size, None, None, None)
        self.foreign.append(entry)
        memo = self.memo
        known = memo.foreign.get(line) if memo is not None else None
        try:
            if isinstance(known, _Refused):
                raise known
            entry.event = known if known is not None else _check_foreign(item, self.kit)
            if memo is not None and memo.learning:
                memo.foreign[line] = entry.event
        except _Unknown as exc:
            entry.unknown, entry.problem = True, (exc.en, exc.vi)
        except _Refused as exc:
            entry.problem = (exc.en, exc.vi)
        leaf = item.get("leaf")
        if entry.event is not None:
            entry.dossier = entry.event.get("dossier")
        elif isinstance(leaf, str):
            try:
                parsed = loads(leaf)
                entry.dossier = parsed.get("dossier") if isinstance(parsed, dict) else None
            except CanonicalError:
                entry.dossier = None
        if not isinstance(entry.dossier, str):
            entry.dossier = None

    # -- the run ------------------------------------------------------------------------------
    def run(self, mode: Mode, workers: int) -> AuditReport:
        count = self.read_trailer()
        report, find, header = self.report, self.find, self.header
        report.checkpoints, report.cosigned = len(self.checkpoints), len(self.cosigned)
        report.foreign, report.dossiers_reported = len(self.foreign), len(self.reported)
        self._check_counts(count)
        cert = header["station_cert"]
        self._check_station(cert)
        verifier = _Verifier(cert, report.origin, schema=self.schema)
        station_public = verifier.station_public
        self._verify_cosigned(station_public)
        pool = ProcessPoolExecutor(workers) if workers > 1 and not verifier.broken else None
        try:
            if mode == "all" and not verifier.broken:
                self._presign(station_public, pool)
            if not verifier.broken:
                self._pass(verifier, count, pool)
            else:
                report.entries = count
        finally:
            if pool is not None:
                pool.shutdown()
        for f in verifier.report.findings:
            if f.code == "bad-station-certificate":
                find.items.append(f)
        if count == 0:
            find(
                "warning", "empty-ledger", None, "the ledger has no entries", "Sổ không có bản ghi"
            )
        if not verifier.broken:
            self._check_checkpoints(station_public, mode)
            self._brackets()
            self._dossiers()
        findings = find.items
        findings.sort(key=lambda f: (f.index is None, f.index or 0))
        report.findings = findings
        return report

    def _check_counts(self, count: int) -> None:
        header, find = self.header, self.find
        declared = header.get("entries")
        if declared != count:
            at = min(declared, count) if type(declared) is int and declared >= 0 else count
            find(
                "error",
                "entry-count",
                at,
                f"the header announces {declared!r} entries, the file holds {count}",
                f"Phần đầu tệp ghi {declared!r} bản ghi, tệp có {count}",
                declared=declared,
                found=count,
            )
        for key, found in (
            ("checkpoints", len(self.checkpoints)),
            ("cosigned", len(self.cosigned)),
            ("foreign", len(self.foreign)),
            ("dossiers", len(self.reported)),
        ):
            if key in header and header[key] != found:
                find(
                    "error",
                    "export-count",
                    None,
                    f"the header announces {header[key]!r} {key}, the file holds {found}",
                    f"Phần đầu tệp ghi {header[key]!r} mục {key}, tệp có {found}",
                    part=key,
                    declared=header[key],
                    found=found,
                )

    def _check_station(self, cert: dict[str, Any]) -> None:
        kit, find, station, origin = self.kit, self.find, self.report.station, self.report.origin
        if not self.kit.vouches_for(cert, station):
            find(
                "error",
                "station-not-trusted",
                None,
                f"the trust kit does not vouch for the certificate of station {station}",
                f"Bộ khóa tin cậy không xác nhận chứng thư của trạm {station}",
                key_id=cert.get("key_id"),
            )
        if not kit.knows_origin(origin, station, str(cert.get("key_id"))):
            find(
                "error",
                "unknown-origin",
                None,
                f"log {origin} is not the trust kit's log of station {station} and its key",
                f"Sổ {origin} không phải sổ của trạm {station} trong bộ khóa tin cậy",
                origin=origin,
            )

    # -- signatures on notes --------------------------------------------------------------------
    def _check_sig(self, verifier: Verifier, note: Note, sig: NoteSignature) -> bool:
        memo = self.memo
        key = (sig.key_hash + sig.signature, verifier.name, note.text.encode())
        if memo is not None and key in memo.notes:
            return True
        ok = verifier.check(note, sig)
        if ok and memo is not None and memo.learning:
            memo.notes.add(key)
        return ok

    def _station_signature(self, signed: _Signed, station: Verifier) -> bool:
        """The note carries a valid signature by the station key, and every other signature on
        it is a valid one by the hub (nothing else signs a station checkpoint)."""
        known = [station] if self.hub is None else [station, self.hub]
        try:
            signed.station_sig = _signed_by(signed.note, station, known, self._check_sig)
        except LedgerError:  # e.g. a signature line that is not canonical base64
            signed.station_sig = False
        return signed.station_sig

    def _verify_cosigned(self, station_public: bytes) -> None:
        if not self.cosigned:
            return
        find, origin = self.find, self.report.origin
        station = ed25519_verifier(origin, station_public)
        hub = self.hub
        if hub is None:
            find(
                "warning",
                "cosignature-unchecked",
                None,
                "the trust kit names no hub: the hub cosignatures and the time brackets they "
                "give are not checked",
                "Bộ khóa tin cậy không có máy chủ: không kiểm được chữ ký xác nhận và khung "
                "thời gian",
            )
        for signed in self.cosigned.values():
            problem = None
            if not self._station_signature(signed, station):
                problem = "its signatures do not verify (the station's, or another's)"
            elif hub is not None:
                sigs = signed.note.find(hub.name, hub.key_hash)
                if not sigs:
                    problem = f"it carries no cosignature by hub {hub.name}"
                elif not all(self._check_sig(hub, signed.note, s) for s in sigs):
                    problem = f"a cosignature by hub {hub.name} does not verify"
                else:
                    signed.times = [cosignature_time(s) for s in sigs]
                    if signed.hub_unix != max(signed.times):
                        problem = f"its line says the hub's time was {signed.hub_unix!r}"
            if problem is not None:
                signed.times = []
                find(
                    "error",
                    "bad-cosignature",
                    None,
                    f"cosigned checkpoint of size {signed.size}: {problem}",
                    f"Điểm kiểm tra cỡ {signed.size} do máy chủ xác nhận không hợp lệ ({problem})",
                    size=signed.size,
                    line=signed.line,
                )

    # -- pass 2: the entries --------------------------------------------------------------------
    def _presign(self, station_public: bytes, pool: Executor | None) -> None:
        """Every station checkpoint's signature (mode "all"), here or in the workers; the
        verdicts land in `station_sig` before the checkpoints are compared with the tree."""
        todo = [s for s in self.checkpoints if s.station_sig is None]
        if pool is None:
            station = ed25519_verifier(self.report.origin, station_public)
            for signed in todo:
                self._station_signature(signed, station)
            return
        size = max(256, -(-len(todo) // 8))
        for start in range(0, len(todo), size):
            part = todo[start : start + size]
            texts = [s.text for s in part]
            hub = self.kit.model.hub
            key = (hub.name, unb64url(hub.cosigner, 32)) if hub is not None else None
            future = pool.submit(_verify_notes, self.report.origin, station_public, key, texts)
            self._signing.append((part, future))

    def _pass(self, verifier: LogVerifier, count: int, pool: Executor | None) -> None:
        """Parse every entry once; the verifier checks it (here, or in worker processes), and
        this pass keeps what the later checks need: roots at checkpoint sizes, claimed times,
        beacons, revoked signers, and the fold of every dossier."""
        report, find, memo = self.report, self.find, self.memo
        origin = report.origin
        needed = {s.size for s in self.checkpoints} | set(self.cosigned)
        self.prevs: dict[int, Any] = {}
        prevs = self.prevs
        self.opened_epoch = False  # a valid continuity event at entry 1
        claimed = self.claimed = array("d")
        beacons = self.beacons = array("q")
        revoked = self._revoked(verifier)
        cosigned = self.cosigned
        self.states: dict[str, dict[str, Any]] = {}
        self.spans: dict[str, list[int]] = {}  # dossier -> [first own index, last own index]
        states, spans = self.states, self.spans
        foreign = sorted(
            (f for f in self.foreign if f.event is not None), key=lambda f: f.local_size
        )
        next_foreign = 0
        fromiso = datetime.fromisoformat
        nan = math.nan
        parallel = _Parallel(self, pool) if pool is not None else None
        if memo is not None and parallel is None:
            good = frozenset(memo.events)
            for signer in verifier.signers.values():
                signer.good = good
        index = 0
        for leaves in self.lines.leaves(count):
            parsed: list[Any] = []
            for leaf in leaves:
                try:
                    event = loads(leaf)
                except CanonicalError:
                    event = None
                    find(
                        "error",
                        "malformed-entry",
                        index,
                        "entry is not valid JSON",
                        "Bản ghi không phải JSON hợp lệ",
                    )
                parsed.append(event)
                if type(event) is not dict:
                    claimed.append(nan)
                    beacons.append(-1)
                    index += 1
                    continue
                get = event.get
                if index in needed:
                    prevs[index] = get("prev")
                # time claimed
                text = get("claimed_time")
                try:
                    when = fromiso(text) if type(text) is str else None
                except ValueError:
                    when = None
                claimed.append(when.timestamp() if when is not None and when.tzinfo else nan)
                # beacon: the hub checkpoint this entry says it had seen
                beacon = get("beacon")
                b = -1
                if type(beacon) is dict and beacon.get("origin") == origin:
                    b = self._beacon(beacon, index, cosigned)
                beacons.append(b)
                signer_id = get("officer")
                if revoked and signer_id in revoked and index >= revoked[signer_id]:
                    self._revoked_entry(signer_id, index, revoked[signer_id])
                action = get("action")
                if action == "continuity":
                    self._epoch_link(event, index, continuity=True)
                elif action == "receive":
                    data = get("data")
                    if type(data) is dict and "reattests" in data:
                        self._epoch_link(event, index, continuity=False)
                code = get("dossier")
                if type(code) is str:
                    while next_foreign < len(foreign) and foreign[next_foreign].local_size <= index:
                        self._fold(foreign[next_foreign].event)
                        next_foreign += 1
                    state = states.get(code)
                    after = _step(state, event)
                    if after is not None:
                        states[code] = after
                    span = spans.get(code)
                    if span is None:
                        spans[code] = [index, index]
                    else:
                        span[1] = index
                if parallel is not None:
                    parallel.track(event, leaf, index, when)
                index += 1
            if parallel is not None:
                parallel.feed(leaves)
            else:
                verifier.extend(leaves, parsed=parsed)
                if memo is not None and memo.learning:
                    _learn(memo, verifier, parsed)
        while next_foreign < len(foreign):
            self._fold(foreign[next_foreign].event)
            next_foreign += 1
        if epoch_of(origin) and count > 1 and not self.opened_epoch:
            find(
                "warning",
                "continuity-missing",
                1,
                "this log is a later epoch of its station but does not open with a continuity "
                "event naming the previous epoch's last hub-cosigned checkpoint",
                "Sổ này là kỷ nguyên sau của trạm nhưng không mở đầu bằng bản ghi nối tiếp nêu "
                "điểm chốt cuối có xác nhận của máy chủ của kỷ nguyên trước",
            )
        if parallel is not None:
            parallel.finish()
        else:
            verifier.finish()
            report.root = verifier.report.root
            find.items.extend(verifier.report.findings)
        report.entries = count

    def _epoch_link(self, event: dict[str, Any], index: int, *, continuity: bool) -> None:
        """A new epoch's `continuity` event, or a re-attested receipt (audit/epochs.py): info
        when it proves its link to the lost PC's log, else an error."""
        origin, station = self.report.origin, self.report.station
        if continuity:
            link = check_continuity(self.kit, origin, station, event)
            code = "continuity"
            self.opened_epoch = self.opened_epoch or (link.ok and index == 1)
        else:
            link = check_reattestation(self.kit, origin, station, event)
            code = "reattested" if link.ok else "reattest"
        self.find("info" if link.ok else "error", code, index, link.en, link.vi, **link.detail)

    def _revoked_entry(self, key: str, index: int, through: int) -> None:
        self.find(
            "error",
            "revoked-key",
            index,
            f"key {key} is valid through size {through} of this log only; it signed entry {index}",
            f"Khóa {key} chỉ có hiệu lực với {through} bản ghi đầu của sổ; nó đã ký bản ghi "
            f"{index}",
            key_id=key,
            through=through,
        )

    def _fold(self, event: Any) -> None:
        code = event.get("dossier")
        if type(code) is str:
            after = _step(self.states.get(code), event)
            if after is not None:
                self.states[code] = after

    def _revoked(self, verifier: LogVerifier) -> dict[str, int]:
        """Key id -> the size through which the kit says it is valid, for this log."""
        origin = self.report.origin
        out = {}
        for rev in self.kit.model.revocations:
            through = self.kit.valid_through(rev.key_id, origin)
            if through is not None:
                out[rev.key_id] = through
        return out

    def _beacon(self, beacon: dict[str, Any], index: int, cosigned: dict[int, _Signed]) -> int:
        size, root = beacon.get("size"), beacon.get("root")
        if type(size) is not int:
            return -1
        signed = cosigned.get(size)
        problem = None
        if size > index:
            problem = (
                f"its beacon names checkpoint size {size}, which includes the entry itself",
                f"beacon ghi điểm kiểm tra cỡ {size}, lớn hơn vị trí của chính bản ghi",
            )
        elif signed is not None and root != signed.root:
            problem = (
                f"its beacon names a root for size {size} that the hub did not cosign",
                f"beacon ghi gốc cây cỡ {size} khác với điểm kiểm tra máy chủ đã xác nhận",
            )
        if problem is not None:
            self.find(
                "error",
                "bad-beacon",
                index,
                f"entry {index}: {problem[0]}",
                f"Bản ghi {index}: {problem[1]}",
                beacon=beacon,
            )
            return -1
        if signed is None:
            self.find(
                "warning",
                "unknown-beacon",
                index,
                f"entry {index} names hub checkpoint size {size}, which the export does not hold: "
                "its not-before time is unknown",
                f"Bản ghi {index} ghi điểm kiểm tra cỡ {size} mà tệp xuất không có: "
                "không xác định được thời điểm sớm nhất",
                beacon=beacon,
            )
            return -1
        return size

    # -- after the pass -------------------------------------------------------------------------
    def _root_at(self, size: int) -> str | None:
        """The tree's root at `size`: the verified `prev` of entry `size` (LogVerifier checked it
        equals the root), the final root, or recomputed when the chain is broken there."""
        count = self.report.entries
        if size > count:
            return None
        if size == count:
            return self.report.root
        prev = self.prevs.get(size)
        if size not in self._unreliable and isinstance(prev, str):
            return prev
        if self._recomputed is None:
            self._recomputed = self._recompute_roots()
        return self._recomputed.get(size)

    def _recompute_roots(self) -> dict[int, str]:
        wanted = {s.size for s in self.checkpoints} | set(self.cosigned)
        tree = CompactRange()
        out = {0: b64(tree.root())} if 0 in wanted else {}
        for leaves in self.lines.leaves(self.report.entries):
            for leaf in leaves:
                tree.append(leaf_hash(leaf))
                if tree.size in wanted:
                    out[tree.size] = b64(tree.root())
        return out

    def _check_checkpoints(self, station_public: bytes, mode: Mode) -> None:
        report, find = self.report, self.find
        count = report.entries
        broken = {"bad-prev", "malformed-entry"}
        self._unreliable = {f.index for f in find.items if f.code in broken}
        self._recomputed = None
        for part, future in self._signing:
            for signed, good in zip(part, future.result(), strict=True):
                signed.station_sig = good
        station = ed25519_verifier(report.origin, station_public)
        cosigned = sorted(self.cosigned.values(), key=lambda s: s.size)
        for signed in cosigned:
            root = self._root_at(signed.size)
            signed.matches = root is not None and root == signed.root
        proven = [s.size for s in cosigned if s.matches and s.times]
        groups: dict[int, list[_Signed]] = {}
        for signed in cosigned:
            if signed.matches or not signed.times:
                continue  # a bad cosignature is already a finding
            if signed.size > count:
                find(
                    "error",
                    "cosigned-beyond-log",
                    count,
                    f"the hub cosigned size {signed.size}; the log has only {count} entries "
                    "(entries deleted after the hub saw them)",
                    f"Máy chủ đã xác nhận sổ cỡ {signed.size}; sổ chỉ còn {count} bản ghi "
                    "(bản ghi bị xóa sau khi máy chủ đã thấy)",
                    size=signed.size,
                    entries=count,
                )
                continue
            start = max((s for s in proven if s < signed.size), default=0)
            groups.setdefault(start, []).append(signed)
        for start, group in groups.items():
            # the first change lies in [start, size of the smallest mismatching checkpoint)
            first = group[0]
            end = first.size - 1
            sizes = f"{first.size}" if len(group) == 1 else f"{first.size} to {group[-1].size}"
            when = _iso(min(first.times))
            find(  # at the last entry the hub vouched for, as LogVerifier's checkpoint findings
                "error",
                "cosigned-mismatch",
                end,
                f"the log differs from what the hub cosigned (sizes {sizes}; size {first.size} "
                f"at {when}): an entry from {start} to {end} was changed after the hub saw it",
                f"Sổ khác với điều máy chủ đã xác nhận (cỡ {sizes}; cỡ {first.size} lúc {when}): "
                f"một bản ghi từ {start} đến {end} đã bị sửa sau khi máy chủ thấy",
                first=start,
                last=end,
                sizes=[first.size, group[-1].size],
                checkpoints=len(group),
                cosigned_at=when,
            )
        report.cosigned_verified = len(proven)
        # station checkpoints
        matching = sorted(s for s in [*proven] if s <= count)
        latest = max((s.size for s in self.checkpoints if s.size <= count), default=-1)
        mismatches: list[_Signed] = []
        runs: list[tuple[int, list[_Signed]]] = []
        for signed in self.checkpoints:
            root = self._root_at(signed.size)
            signed.matches = root is not None and root == signed.root
            if signed.matches:
                matching.append(signed.size)
                if signed.station_sig is None and (mode == "all" or signed.size == latest):
                    self._station_signature(signed, station)
                if signed.station_sig:
                    report.checkpoint_signatures_verified += 1
                elif signed.station_sig is False:
                    self._bad_station_signature(signed)
            else:
                mismatches.append(signed)
        matching.sort()
        for signed in sorted(mismatches, key=lambda s: s.size):
            if signed.size > count:
                if signed.station_sig or self._station_signature(signed, station):
                    report.checkpoint_signatures_verified += 1
                    find(
                        "error",
                        "checkpoint-beyond-log",
                        count,
                        f"station checkpoint #{signed.position} has size {signed.size}, beyond "
                        f"the {count} entries (entries missing from the end)",
                        f"Điểm kiểm tra #{signed.position} có cỡ {signed.size}, vượt quá {count} "
                        "bản ghi (thiếu bản ghi ở cuối sổ)",
                        size=signed.size,
                        line=signed.line,
                    )
                else:
                    self._bad_station_signature(signed)
                continue
            if not (signed.station_sig or self._station_signature(signed, station)):
                self._bad_station_signature(signed)
                continue
            report.checkpoint_signatures_verified += 1
            start = max((s for s in matching if s < signed.size), default=0)
            if runs and runs[-1][0] == start:
                runs[-1][1].append(signed)
            else:
                runs.append((start, [signed]))
        for start, run in runs:  # one finding per stretch of the log the station signed twice
            first, last = run[0], run[-1]
            end = first.size - 1
            what = (
                f"#{first.position} (size {first.size})"
                if len(run) == 1
                else f"#{first.position} to #{last.position} (sizes {first.size} to {last.size})"
            )
            find(
                "error",
                "checkpoint-mismatch",
                end,
                f"station checkpoints {what} are signed but do not match the log: an entry from "
                f"{start} to {end} differs from what the station signed",
                f"Điểm kiểm tra {what} có chữ ký trạm nhưng không khớp sổ: một bản ghi từ "
                f"{start} đến {end} khác với điều trạm đã ký",
                first=start,
                last=end,
                sizes=[first.size, last.size],
                checkpoints=len(run),
                line=first.line,
            )
        covered = min(
            count,
            max((s.size for s in self.checkpoints if s.station_sig is not False), default=0),
        )
        if count and covered < count:
            find(
                "warning",
                "uncovered-entries",
                covered,
                f"entries {covered} to {count - 1} are covered by no station checkpoint",
                f"Các bản ghi từ {covered} đến {count - 1} chưa có điểm kiểm tra nào của trạm",
                first=covered,
                last=count - 1,
            )
        self._station_revocation(station_public)

    def _bad_station_signature(self, signed: _Signed) -> None:
        self.find(
            "error",
            "bad-checkpoint",
            None,
            f"station checkpoint #{signed.position} (size {signed.size}): the station's signature "
            "does not verify",
            f"Điểm kiểm tra #{signed.position} (cỡ {signed.size}): chữ ký của trạm không hợp lệ",
            size=signed.size,
            line=signed.line,
        )

    def _station_revocation(self, station_public: bytes) -> None:
        cert = self.header["station_cert"]
        through = self.kit.valid_through(str(cert.get("key_id")), self.report.origin)
        if through is None:
            return
        late = [s.size for s in self.checkpoints if s.size > through]
        late += [s for s in self.cosigned if s > through]
        if late:
            self.find(
                "error",
                "revoked-key",
                through,
                f"the station key is valid through size {through} only; {len(late)} checkpoints "
                f"up to size {max(late)} are signed with it after that",
                f"Khóa trạm chỉ có hiệu lực đến cỡ {through}; {len(late)} điểm kiểm tra (đến cỡ "
                f"{max(late)}) được ký sau đó",
                key_id=cert.get("key_id"),
                through=through,
                checkpoints=len(late),
            )

    def _brackets(self) -> None:
        """Time brackets: [hub time of the beacon's checkpoint, earliest hub cosignature on a
        checkpoint of size > i] (and never after the audit)."""
        # Every checkpoint the hub validly cosigned bounds the entries at its positions, whether
        # or not they are still the entries the hub saw (a changed one is an error already).
        proven = sorted((s.size, min(s.times)) for s in self.cosigned.values() if s.times)
        time_of = dict(proven)
        # suffix minimum: not_after[k] = earliest time among proven[k:]
        suffix: list[float] = [math.inf] * (len(proven) + 1)
        for k in range(len(proven) - 1, -1, -1):
            suffix[k] = min(proven[k][1], suffix[k + 1])
        now, find = self.now, self.find
        k = with_before = with_after = 0
        widths: list[float] = []
        for index, claimed in enumerate(self.claimed):
            while k < len(proven) and proven[k][0] <= index:
                k += 1
            if claimed != claimed:  # NaN: no valid time (a finding already)
                continue
            after = suffix[k]
            size = self.beacons[index]
            before = time_of.get(size, -math.inf) if size >= 0 else -math.inf
            if before > -math.inf:
                with_before += 1
            if after < math.inf:
                with_after += 1
                if before > -math.inf:
                    widths.append(after - before)
            if before <= claimed <= after and claimed <= now:
                continue
            late = claimed > min(after, now)
            bound = min(after, now) if late else before
            which = (
                ("the audit's own time", "chính thời điểm kiểm tra")
                if late and now < after
                else (
                    "not-after (the hub's earliest cosignature on a checkpoint that includes it)",
                    "thời điểm muộn nhất (máy chủ xác nhận điểm kiểm tra chứa nó)",
                )
                if late
                else (
                    "not-before (the hub's time on the checkpoint its beacon names)",
                    "thời điểm sớm nhất (thời điểm máy chủ xác nhận điểm kiểm tra mà beacon ghi)",
                )
            )
            find(
                "warning",
                "clock-anomaly",
                index,
                f"entry {index} claims {_iso(claimed)}, outside its time bracket: {which[0]} is "
                f"{_iso(bound)}",
                f"Bản ghi {index} ghi thời điểm {_iso(claimed)}, nằm ngoài khung thời gian: "
                f"{which[1]} là {_iso(bound)}",
                claimed=_iso(claimed),
                not_before=_iso(before) if before > -math.inf else None,
                not_after=_iso(min(after, now)),
                beacon_size=size if size >= 0 else None,
                cosigned_size=proven[k][0] if k < len(proven) else None,
            )

        widths.sort()
        self.report.brackets = {
            "entries": len(self.claimed),
            "with_not_before": with_before,
            "with_not_after": with_after,
            "closed": len(widths),
            "median_hours": round(widths[len(widths) // 2] / 3600, 2) if widths else None,
            "widest_hours": round(widths[-1] / 3600, 2) if widths else None,
        }

    # -- dossiers and Biểu 06 --------------------------------------------------------------------
    def _dossiers(self) -> None:
        report, find = self.report, self.find
        states, reported, spans = self.states, self.reported, self.spans
        skipped: set[str] = set()
        for f in self.foreign:
            if f.problem is None:
                continue
            if f.dossier is not None:
                skipped.add(f.dossier)
            if f.unknown:
                continue  # reported once below, with the dossiers
            find(
                "error",
                "bad-foreign-entry",
                None,
                f"line {f.line}: an event of another station applied here does not verify: "
                f"{f.problem[0]}",
                f"Dòng {f.line}: sự kiện của trạm khác được áp dụng tại đây không hợp lệ: "
                f"{f.problem[1]}",
                line=f.line,
                dossier=f.dossier,
            )
        unknown = sorted({f.dossier for f in self.foreign if f.unknown and f.dossier})
        if unknown:
            find(
                "warning",
                "dossier-not-compared",
                None,
                f"{len(unknown)} dossiers hold events of stations the trust kit does not list; "
                "their states are not compared",
                f"{len(unknown)} hồ sơ có sự kiện của trạm không có trong bộ khóa tin cậy; "
                "không đối chiếu trạng thái",
                dossiers=unknown[:50],
            )
        report.dossiers_not_compared = sorted(skipped)
        diff: set[str] = set()
        compared = 0
        for code in sorted((set(states) | set(reported)) - skipped):
            folded, held = states.get(code), reported.get(code)
            compared += 1
            if folded == held:
                continue
            diff.add(code)
            span = spans.get(code)
            if held is None:
                status = (folded or {}).get("status")
                en = f"dossier {code}: the events make it {status!r}, but the office "
                en += "holds no such dossier"
                vi = f"Hồ sơ {code}: theo các sự kiện là «{status}», nhưng văn phòng "
                vi += "không có hồ sơ này"
                detail: dict[str, Any] = {"dossier": code, "differs": ["(missing)"]}
            elif folded is None:
                en = f"dossier {code}: the office holds it, but no event of the log creates it"
                vi = f"Hồ sơ {code}: văn phòng có hồ sơ này nhưng không có sự kiện nào tạo ra nó"
                detail = {"dossier": code, "differs": ["(no events)"]}
            else:
                keys = sorted(k for k in set(folded) | set(held) if folded.get(k) != held.get(k))
                en = f"dossier {code}: the office's record differs from its events in "
                en += ", ".join(keys)
                vi = f"Hồ sơ {code}: dữ liệu văn phòng khác với các sự kiện ở {', '.join(keys)}"
                detail = {
                    "dossier": code,
                    "differs": keys,
                    "events": {k: folded.get(k) for k in keys[:8]},
                    "office": {k: held.get(k) for k in keys[:8]},
                }
            # about a dossier, not one entry: its own events span these indices
            detail["first_entry"], detail["last_entry"] = span if span else (None, None)
            find("error", "state-mismatch", None, en, vi, **detail)
        report.dossiers_compared = compared
        self._reports(diff, skipped)

    def _months(self) -> list[tuple[int, int]]:
        times = [t for t in self.claimed if t == t]
        lo = _month(min(times)) if times else None
        hi = _month(max(times)) if times else None
        if lo is not None and hi is not None:
            span = (hi[0] - lo[0]) * 12 + hi[1] - lo[1] + 1
            if span <= MAX_MONTHS:
                out, (y, m) = [], lo
                for _ in range(span):
                    out.append((y, m))
                    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
                return out
        # a wrong clock spread the times over decades: the months that hold entries
        return sorted({m for m in map(_month, times) if m is not None})

    def _reports(self, diff: set[str], skipped: set[str]) -> None:
        """Biểu 06 of every month: from the office's states and from the events. Only the
        dossiers whose states differ can change a count (the report adds dossiers up), so those
        are compared first and the whole report only for the months where they differ."""
        months = self._months()
        self.report.months = [f"{y:04d}-{m:02d}" for y, m in months]
        if not diff:
            return
        states, reported = self.states, self.reported
        for y, m in months:
            first = date(y, m, 1)
            last = (date(y + m // 12, m % 12 + 1, 1)) - timedelta(days=1)
            part_events = [states[c] for c in diff if c in states]
            part_office = [reported[c] for c in diff if c in reported]
            if _safe_report(part_events, first, last) == _safe_report(part_office, first, last):
                continue
            office_all = [s for c, s in reported.items()]
            events_all = [states[c] for c in states if c not in skipped] + [
                reported[c] for c in skipped if c in reported
            ]
            from_office = _safe_report(office_all, first, last)
            from_events = _safe_report(events_all, first, last)
            if from_office == from_events:
                continue
            self.find(
                "error",
                "report-mismatch",
                None,
                f"Biểu 06 for {y:04d}-{m:02d}: the office's dossier states give other numbers "
                "than its events",
                f"Biểu 06 tháng {m:02d}/{y:04d}: số liệu theo dữ liệu văn phòng khác với số liệu "
                "tính từ các sự kiện",
                month=f"{y:04d}-{m:02d}",
                office=_summary(from_office),
                events=_summary(from_events),
            )


# -- helpers -------------------------------------------------------------------------------------
_NOTE = re.compile(
    r"([^\n]+)\n(0|[1-9][0-9]{0,19})\n([A-Za-z0-9+/]{43}=)\n\n\u2014 ([^\s+]+) "
    r"([A-Za-z0-9+/]{91}=)\n"
)


def _note_of(text: str) -> Note:
    """The signed note: a station checkpoint in exactly the form the station writes it (one
    signature line) without the general parser, anything else with it (raises NoteError)."""
    m = _NOTE.fullmatch(text)
    if m is not None:
        try:
            raw = binascii.a2b_base64(m.group(5).encode("ascii"), strict_mode=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 68 and binascii.b2a_base64(raw, newline=False) == m.group(5).encode():
            body = text[: m.end(3) + 1]
            return Note(body, (NoteSignature(m.group(4), raw[:4], raw[4:]),))
    return parse_note(text)


def _plain_check(verifier: Verifier, note: Note, sig: NoteSignature) -> bool:
    return verifier.check(note, sig)


def _signed_by(
    note: Note,
    station: Verifier,
    known: Sequence[Verifier],
    check: Callable[[Verifier, Note, NoteSignature], bool] = _plain_check,
) -> bool:
    """At least one valid signature by `station`, and every signature valid and by a known
    key (a signature line by an unknown key is refused: nothing else signs these notes)."""
    by_station = False
    for sig in note.signatures:
        verifier = next(
            (v for v in known if (v.name, v.key_hash) == (sig.name, sig.key_hash)), None
        )
        if verifier is None or not check(verifier, note, sig):
            return False
        by_station = by_station or verifier is station
    return by_station


def _verify_notes(
    origin: str, station_public: bytes, hub: tuple[str, bytes] | None, texts: list[str]
) -> list[bool]:
    """In a worker: does each station checkpoint carry a valid signature by the station key
    (and none but the station's and the hub's)?"""
    station = ed25519_verifier(origin, station_public)
    known = [station] if hub is None else [station, cosigner_verifier(*hub)]
    out = []
    for text in texts:
        try:
            note = _note_of(text)
        except LedgerError:
            out.append(False)
            continue
        out.append(_signed_by(note, station, known))
    return out


def _step(state: dict[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """`schemas.lifecycle.fold`, one event: an impossible (or malformed) event leaves the state
    as it was with one more conflict, as the station's projection does."""
    try:
        return apply_event(state, event)
    except Exception:  # TransitionError, or a malformed event: a fact all the same
        if state is None:
            return None
        return {**state, "conflicts": state.get("conflicts", 0) + 1}


def _safe_report(dossiers: list[dict[str, Any]], first: date, last: date) -> Any:
    try:
        return bieu06(dossiers, first, last)
    except Exception as exc:  # states from a tampered file can be anything
        return {"error": str(exc)}


def _summary(report: Any) -> Any:
    if not isinstance(report, dict) or "received" not in report:
        return report
    keys = ("received", "resolved", "pending", "withdrawn", "stopped", "refused")
    return {k: report[k] for k in keys}


def _learn(memo: AuditMemo, verifier: LogVerifier, parsed: Sequence[Any]) -> None:
    """Remember the (key, signature, message) of each entry that verifies."""
    signers = verifier.signers
    for event in parsed:
        if type(event) is not dict:
            continue
        officer = event.get("officer")
        signer = signers.get(officer) if type(officer) is str else None
        sig = event.get("sig")
        if signer is None or type(sig) is not str:
            continue
        try:
            raw = unb64url(sig, 64)
            message = signing_bytes(event)
        except (LedgerError, CanonicalError, ValueError):
            continue
        triple = (signer.public, raw, message)
        if triple not in memo.events and signer.verify(raw, message):
            memo.events.add(triple)


# -- other stations' events applied from the feed -------------------------------------------------
class _Refused(Exception):
    def __init__(self, en: str, vi: str) -> None:
        super().__init__(en)
        self.en, self.vi = en, vi


class _Unknown(_Refused):
    pass


def _check_foreign(item: Mapping[str, Any], kit: TrustKit) -> dict[str, Any]:
    """The event of a foreign-entry line, verified up to the kit: the event's signature by
    the officer, the officer's certificate by the station, its inclusion in a checkpoint that
    station signed, and that station's certificate and log vouched for by the kit. Everything
    but the last needs nothing from the kit: a station the kit does not list at all makes the
    event `_Unknown` (cannot be checked) only when all the rest holds."""
    station, origin = item.get("station"), item.get("origin")
    leaf, proof = item.get("leaf"), item.get("proof")
    cert, officer = item.get("station_cert"), item.get("officer_cert")
    if not (
        isinstance(station, str)
        and isinstance(origin, str)
        and isinstance(leaf, str)
        and isinstance(proof, str)
        and isinstance(cert, dict)
        and isinstance(officer, dict)
    ):
        raise _Refused("the line lacks fields", "dòng thiếu trường dữ liệu")
    try:
        raw = leaf.encode("utf-8")
        event = loads(raw)
        if not isinstance(event, dict) or canonical_parsed(event) != raw:
            raise _Refused("the event is not canonical JSON", "sự kiện không ở dạng chuẩn tắc")
        if (
            _place(officer) != station
            or _place(cert) != station
            or event.get("station") != station
            or event.get("officer") != officer.get("key_id")
            or event.get("seq") != item.get("seq")
        ):
            raise _Refused(
                "the event, its officer and its station do not fit together",
                "sự kiện, cán bộ và trạm không khớp nhau",
            )
        verify_certificate(officer, cert)
        verify_record(event, cert_public_key(officer))
        parsed = parse_proof(proof)
        note = parse_note(parsed.checkpoint)
        cp: Checkpoint = parse_checkpoint_text(note.text)
        verifier = ed25519_verifier(origin, cert_public_key(cert))
        hub = kit.cosigner()
        known = [verifier] if hub is None else [verifier, hub]
        if cp.origin != origin or not _signed_by(note, verifier, known):
            raise _Refused(
                "its checkpoint is not signed by that station's log",
                "điểm kiểm tra không do sổ của trạm đó ký",
            )
        if parsed.index != event.get("seq"):
            raise _Refused("the proof is for another entry", "bằng chứng cho bản ghi khác")
        verify_inclusion(leaf_hash(raw), parsed.index, cp.size, parsed.hashes, cp.root)
    except (LedgerError, CanonicalError, ProofError, ValueError, TypeError, KeyError) as exc:
        raise _Refused(str(exc), f"không kiểm được ({exc})") from exc
    if kit.station_cert(station) is None:
        raise _Unknown(
            f"station {station} is not in the trust kit", f"trạm {station} không có trong bộ khóa"
        )
    if not kit.vouches_for(cert, station) or not kit.knows_origin(
        origin, station, str(cert.get("key_id"))
    ):
        raise _Refused(
            f"the kit does not vouch for station {station}'s certificate or log",
            f"bộ khóa không xác nhận chứng thư hoặc sổ của trạm {station}",
        )
    through = kit.valid_through(str(cert.get("key_id")), origin)
    if through is not None and cp.size > through:
        raise _Refused(
            f"station {station}'s key was revoked through size {through}",
            f"khóa trạm {station} đã bị thu hồi từ cỡ {through}",
        )
    return event


def _place(cert: Mapping[str, Any]) -> str:
    return f"{cert.get('office')}/{cert.get('station')}"


# -- several processes ---------------------------------------------------------------------------
def _verify_range(
    cert: dict[str, Any], origin: str, state: dict[str, Any], leaves: list[bytes], schema: bool
) -> tuple[list[Finding], str]:
    """In a worker: the LogVerifier checks of one range of the log, from the state before it."""
    verifier = _Verifier(cert, origin, state=state, schema=schema)
    verifier.extend(leaves)
    verifier.finish()
    return verifier.report.findings, verifier.report.root


class _Parallel:
    """The entries' LogVerifier checks in worker processes, one range of the log at a time.

    The main pass hashes each leaf into a compact range and replays the station's own actions
    (officer enrolments and retirements, a few entries) through a shadow verifier, so that at
    each range's start it knows exactly the state a single verifier would have there: tree,
    last claimed time, certified signers. Each range is then verified on its own, while the
    main pass goes on (folds, brackets); the findings are the same as in one process."""

    RANGE = 1  # chunks per range: small ranges keep every worker busy

    def __init__(self, audit: _Audit, pool: Executor) -> None:
        self.audit = audit
        self.cert = dict(audit.header["station_cert"])
        self.origin = audit.report.origin
        self.shadow = LogVerifier(self.cert, self.origin)
        self.pool = pool
        self.futures: list[Future[tuple[list[Finding], str]]] = []
        self.tree = CompactRange()
        self.last_time: datetime | None = None
        self.pending: list[bytes] = []
        self.state = self._state()
        self.station_id = f"{self.cert.get('office')}/{self.cert.get('station')}"

    def _state(self) -> dict[str, Any]:
        state = self.shadow.state()
        state["size"] = self.tree.size
        state["stack"] = [b64(h) for h in self.tree.stack]
        state["last_time"] = self.last_time.isoformat() if self.last_time else None
        return state

    def track(self, event: dict[str, Any], leaf: bytes, index: int, when: datetime | None) -> None:
        if event.get("action") in STATION_ACTIONS:
            _check_entry(
                event,
                leaf,
                index,
                str(event.get("prev")),
                self.station_id,
                self.shadow.signers,
                None,
                lambda *a, **k: None,
            )
        if when is not None and when.tzinfo is not None:
            self.last_time = when

    def feed(self, leaves: list[bytes]) -> None:
        """After `track` saw a chunk: hash its leaves; once a range is full, hand it to a
        worker (at a chunk's end, where the shadow state is the state before the next one)."""
        append, tree = self.pending.append, self.tree
        for leaf in leaves:
            append(leaf)
            tree.append(sha256(b"\x00" + leaf).digest())
        if len(self.pending) >= self.RANGE * CHUNK:
            self._submit()

    def _submit(self) -> None:
        if not self.pending:
            return
        self.futures.append(
            self.pool.submit(
                _verify_range, self.cert, self.origin, self.state, self.pending, self.audit.schema
            )
        )
        self.pending = []
        self.state = self._state()

    def finish(self) -> None:
        self._submit()
        for future in self.futures:
            findings, _ = future.result()
            self.audit.find.items.extend(findings)
        self.audit.report.root = b64(self.tree.root())
