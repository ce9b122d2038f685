"""`commune-audit hub` and `commune-audit evidence` (docs/audit.md "The hub").

`hub URL --office CODE --trust KIT` fetches, with an auditor's read-only token, every station of
the office, every checkpoint the hub accepted from it with the hub's cosignature, the
consistency proofs between each consecutive pair, and the fork records the hub kept; then it
checks everything locally against the trust kit, trusting the hub for nothing: each
checkpoint's station signature (by a key the kit vouches for, for the log the kit names) and
hub cosignature (by the kit's cosigner key), each proof, and each fork record. A proven fork
becomes a small evidence file (`audit.evidence`, at most 4 KB) that anyone can check with
`commune-audit evidence FILE` and nothing else.

Exit 0: everything holds. Exit 1: a fork or another problem (the findings say which). Exit 2:
bad input (kit, URL, token), the hub not reached, or an answer that is not the audit API's.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from audit.evidence import (
    MAX_EVIDENCE,
    EvidenceInputError,
    check_evidence,
    encode_evidence,
    evidence_from_hub_record,
    fork_evidence,
    kit_issuer,
    kit_origins,
    parse_evidence,
    place,
    read_trust_kit,
)
from ledger.certs import cert_public_key
from ledger.checkpoint import (
    Checkpoint,
    cosignatures,
    cosigner_verifier,
    ed25519_verifier,
    open_checkpoint,
    parse_checkpoint_text,
)
from ledger.cliutil import emit_json
from ledger.encoding import EncodingError, unb64, unb64url
from ledger.errors import LedgerError
from ledger.merkle import ProofError, verify_consistency
from ledger.note import parse_note
from ledger.trustkit import TrustKit

__all__ = ["HubAudit", "evidence_cmd", "hub_cmd"]

TOKEN_ENV = "COMMUNE_AUDIT_TOKEN"
PAGE = 1000


class AuditAborted(Exception):
    """The audit cannot go on (hub not reached, token refused, an answer that is not the
    audit API's): exit 2 with this one line."""


@dataclass
class Finding:
    severity: str  # "error" (exit 1) or "warning"
    code: str
    message_vi: str
    message_en: str
    station: str | None = None
    size: int | None = None  # the checkpoint size concerned
    file: str | None = None  # evidence written


@dataclass
class StationResult:
    station: str
    sid: str
    origin: str
    size: int
    checkpoints: int = 0
    cosigned_first: int | None = None  # hub unix time of the first and last cosignature
    cosigned_last: int | None = None
    proofs_verified: int = 0
    forked: bool = False
    revoked_through: int | None = None


@dataclass
class HubAudit:
    url: str
    office: str
    hub: str = ""
    stations: list[StationResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "hub": self.hub,
            "url": self.url,
            "office": self.office,
            "stations": [asdict(s) for s in self.stations],
            "findings": [asdict(f) for f in self.findings],
            "evidence": self.evidence,
        }


# -- the hub's audit API ------------------------------------------------------------------------
class _Api:
    def __init__(self, url: str, token: str, client: Any) -> None:
        self.url, self.token, self.client = url, token, client

    def get(self, path: str, *, auth: bool = True, **params: Any) -> dict[str, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        try:
            response = self.client.get(self.url + path, params=params or None, headers=headers)
        except httpx.HTTPError as exc:
            raise AuditAborted(f"the hub {self.url} was not reached: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            code = body.get("error") if isinstance(body, dict) else None
            detail = body.get("detail") if isinstance(body, dict) else response.text[:200]
            if response.status_code == 401:
                raise AuditAborted(f"the hub refused the auditor token: {code}: {detail}")
            raise AuditAborted(f"GET {path}: {response.status_code} {code or ''} {detail}")
        if not isinstance(body, dict):
            raise AuditAborted(f"GET {path}: the answer is not a JSON object")
        return body


def _need(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise AuditAborted(f"the hub's answer has no valid {key!r}")
    return value


# -- the audit ----------------------------------------------------------------------------------
class _Auditor:
    def __init__(self, api: _Api, kit: TrustKit, office: str, evidence_dir: Path) -> None:
        self.api, self.kit, self.evidence_dir = api, kit, evidence_dir
        self.result = HubAudit(api.url, office)
        hub = kit.model.hub
        issuer = kit_issuer(kit)
        assert hub is not None and issuer is not None
        self.issuer = issuer
        self.cosigner = cosigner_verifier(hub.name, unb64url(hub.cosigner, 32))

    def find(self, severity: str, code: str, vi: str, en: str, **where: Any) -> None:
        self.result.findings.append(Finding(severity, code, vi, en, **where))

    def run(self) -> HubAudit:
        self._check_hub()
        listing = self.api.get(f"/v1/audit/offices/{self.result.office}")
        for st in _need(listing, "stations", list):
            if not isinstance(st, dict):
                raise AuditAborted("the hub's station list holds a non-object")
            self._station(st)
        return self.result

    def _check_hub(self) -> None:
        """The hub is the kit's: same name, cosigner and issuer keys (public `GET /v1/hub`)."""
        info = self.api.get("/v1/hub", auth=False)
        hub, issuer = self.kit.model.hub, self.issuer
        assert hub is not None and issuer is not None
        cosigner, issuer_cert = info.get("cosigner"), info.get("issuer_cert")
        cosigner = cosigner if isinstance(cosigner, dict) else {}
        issuer_cert = issuer_cert if isinstance(issuer_cert, dict) else {}
        if (
            info.get("name") != hub.name
            or cosigner.get("public_key") != hub.cosigner
            or issuer_cert.get("public_key") != issuer.get("public_key")
        ):
            raise AuditAborted(
                f"the hub at {self.api.url} ({info.get('name')}) is not the hub of this trust "
                f"kit ({hub.name}): other name or keys"
            )
        self.result.hub = hub.name

    def _station(self, st: dict[str, Any]) -> None:
        ref = _need(st, "station", str)
        sid, origin = _need(st, "sid", str), _need(st, "origin", str)
        size, cert = _need(st, "size", int), _need(st, "station_cert", dict)
        row = StationResult(ref, sid, origin, size, forked=bool(st.get("forked")))
        self.result.stations.append(row)
        where = {"station": ref}
        public = self._station_cert(ref, origin, cert)
        kid = str(cert.get("key_id"))
        revoked = self.kit.valid_through(kid, origin)
        hub_revoked = st.get("revoked_through")
        if isinstance(hub_revoked, int) and not isinstance(hub_revoked, bool):
            revoked = hub_revoked if revoked is None else min(revoked, hub_revoked)
        row.revoked_through = revoked
        verified: list[tuple[Checkpoint, str, int]] = []  # checkpoint, cosigned note, time
        if public is not None:
            for item in self._checkpoints(sid):
                row.checkpoints += 1
                found = self._checkpoint(ref, origin, public, item, revoked)
                if found is not None:
                    verified.append(found)
        if verified:
            times = [t for _, _, t in verified]
            row.cosigned_first, row.cosigned_last = times[0], times[-1]
            if any(b < a for a, b in itertools.pairwise(times)):
                self.find(
                    "warning",
                    "cosign-time",
                    "Thời điểm máy chủ xác nhận đi lùi khi cỡ nhật ký tăng",
                    "the hub's cosignature times go backwards as the log grows",
                    **where,
                )
        for (p, p_note, _), (q, q_note, _) in itertools.pairwise(verified):
            if self._pair(ref, sid, origin, cert, (p, p_note), (q, q_note)):
                row.proofs_verified += 1
        latest = st.get("checkpoint")
        if public is not None and size > 0 and (not verified or verified[-1][0].size != size):
            self.find(
                "error",
                "latest-checkpoint",
                f"Máy chủ giữ {size} bản ghi nhưng không có điểm kiểm tra được xác nhận cỡ {size}",
                f"the hub holds {size} entries but no valid cosigned checkpoint of size {size}",
                **where,
            )
        elif verified and latest != verified[-1][1]:
            self.find(
                "error",
                "latest-checkpoint",
                "Điểm kiểm tra mới nhất máy chủ báo khác với danh sách",
                "the hub's latest checkpoint differs from the one in its list",
                **where,
            )
        if row.forked or st.get("forks"):
            self._forks(ref, sid, origin, cert, size, row.forked)

    def _station_cert(self, ref: str, origin: str, cert: dict[str, Any]) -> bytes | None:
        where = {"station": ref}
        try:
            public = cert_public_key(cert)
        except LedgerError as exc:
            self.find("error", "station-cert", "Chứng thư trạm hỏng", exc.message, **where)
            return None
        why = None
        kid = str(cert.get("key_id"))
        if place(cert) != ref:
            why = f"the certificate is for station {place(cert)}, not {ref}"
        elif not self.kit.vouches_for(cert, ref):
            why = f"the trust kit does not vouch for station key {kid} of station {ref}"
        elif not origin.rpartition("/e")[0].endswith(f"/office/{ref}"):
            why = f"log {origin} is not a log of station {ref}"
        logs = kit_origins(self.kit, kid)
        if why is None and logs and origin not in logs:
            why = f"the trust kit names other logs for this station key: {', '.join(logs)}"
        if why is not None:
            self.find(
                "error",
                "station-cert",
                f"Bộ khóa tin cậy không xác nhận khóa của trạm {ref}",
                why,
                **where,
            )
            return None
        return public

    def _checkpoints(self, sid: str) -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            page = self.api.get(f"/v1/audit/stations/{sid}/checkpoints", after=after, limit=PAGE)
            items = _need(page, "checkpoints", list)
            for item in items:
                if not isinstance(item, dict):
                    raise AuditAborted("the hub's checkpoint list holds a non-object")
                yield item
            following = _need(page, "next", int)
            if not page.get("more"):
                return
            if following <= after or not items:
                raise AuditAborted("the hub's checkpoint pages do not advance")
            after = following

    def _checkpoint(
        self,
        ref: str,
        origin: str,
        public: bytes,
        item: dict[str, Any],
        revoked: int | None,
    ) -> tuple[Checkpoint, str, int] | None:
        size, note, cosigned = item.get("size"), item.get("note"), item.get("cosigned")
        where: dict[str, Any] = {"station": ref, "size": size if isinstance(size, int) else None}
        if not (isinstance(note, str) and isinstance(cosigned, str)):
            self.find(
                "error", "checkpoint", "Điểm kiểm tra thiếu", "a checkpoint is missing", **where
            )
            return None
        try:
            signed = open_checkpoint(cosigned, ed25519_verifier(origin, public))
        except LedgerError as exc:
            self.find(
                "error",
                "checkpoint-signature",
                f"Chữ ký của trạm trên điểm kiểm tra cỡ {size} không hợp lệ",
                f"checkpoint of size {size}: {exc.message}",
                **where,
            )
            return None
        cp = signed.checkpoint
        if cp.origin != origin or cp.size != size or not cosigned.startswith(note):
            self.find(
                "error",
                "checkpoint",
                f"Điểm kiểm tra cỡ {size} không khớp với thông tin máy chủ đưa",
                f"checkpoint of size {size}: another log, size or text than the hub lists "
                f"({cp.origin}, {cp.size})",
                **where,
            )
            return None
        try:
            times = cosignatures(signed.note, self.cosigner)
        except LedgerError as exc:
            times, error = [], exc.message
        else:
            error = "no cosignature by the kit's hub"
        if not times:
            self.find(
                "error",
                "hub-cosignature",
                f"Điểm kiểm tra cỡ {size} không có chữ ký xác nhận hợp lệ của máy chủ",
                f"checkpoint of size {size}: {error}",
                **where,
            )
            return None
        if item.get("hub_unix") != min(times):
            self.find(
                "warning",
                "cosign-time",
                f"Thời điểm xác nhận của điểm kiểm tra cỡ {size} khác với máy chủ báo",
                f"checkpoint of size {size}: cosigned at {min(times)}, the hub says "
                f"{item.get('hub_unix')}",
                **where,
            )
        if revoked is not None and cp.size > revoked:
            self.find(
                "error",
                "revoked",
                f"Điểm kiểm tra cỡ {size} được ký sau khi khóa trạm bị thu hồi ({revoked})",
                f"checkpoint of size {size} signed after the station key was revoked (valid "
                f"through size {revoked})",
                **where,
            )
        return cp, cosigned, min(times)

    def _pair(
        self,
        ref: str,
        sid: str,
        origin: str,
        cert: dict[str, Any],
        first: tuple[Checkpoint, str],
        second: tuple[Checkpoint, str],
    ) -> bool:
        """Consecutive checkpoints: the hub's proof must verify locally, and the hub's tree
        must have both checkpoints' roots. True when they are consistent."""
        (p, p_note), (q, q_note) = first, second
        where: dict[str, Any] = {"station": ref, "size": q.size}
        answer = self.api.get(f"/v1/audit/stations/{sid}/consistency", first=p.size, second=q.size)
        try:
            proof = [unb64(h, 32) for h in _need(answer, "proof", list)]
            r1 = unb64(_need(answer, "first_root", str), 32)
            r2 = unb64(_need(answer, "second_root", str), 32)
            verify_consistency(p.size, q.size, proof, r1, r2)
        except (EncodingError, ProofError) as exc:
            self.find(
                "error",
                "hub-proof",
                f"Máy chủ đưa bằng chứng nhất quán {p.size}→{q.size} không hợp lệ",
                f"the hub's consistency proof {p.size}->{q.size} does not verify: {exc}",
                **where,
            )
            return False
        if (r1, r2) == (p.root, q.root):
            return True
        if r2 == q.root:  # the larger checkpoint's log does not extend the smaller one
            doc = fork_evidence(
                origin=origin,
                station_cert=cert,
                issuer_cert=self.issuer,
                a=p_note,
                b=q_note,
                consistency={"old_root": answer["first_root"], "proof": answer["proof"]},
            )
            self._evidence(ref, f"{sid}-{p.size}-{q.size}", doc, q.size)
            return False
        self.find(
            "error",
            "hub-tree",
            f"Cây nhật ký của máy chủ không khớp điểm kiểm tra cỡ {q.size} đã xác nhận",
            f"the hub's tree has another root at size {q.size} than the checkpoint it cosigned",
            **where,
        )
        return False

    def _forks(
        self, ref: str, sid: str, origin: str, cert: dict[str, Any], size: int, forked: bool
    ) -> None:
        where = {"station": ref}
        answer = self.api.get(f"/v1/audit/stations/{sid}/forks")
        records = _need(answer, "forks", list)
        if forked and not records:
            self.find(
                "error",
                "fork-unproven",
                "Máy chủ khóa trạm vì rẽ nhánh nhưng không đưa bằng chứng",
                "the hub marks the station forked but shows no evidence",
                **where,
            )
        for n, record in enumerate(records, 1):
            evidence = record.get("evidence") if isinstance(record, dict) else None
            try:
                doc = evidence_from_hub_record(evidence or {}, self.issuer)
            except EvidenceInputError as exc:
                self.find(
                    "error",
                    "fork-unproven",
                    "Máy chủ báo rẽ nhánh nhưng hồ sơ bằng chứng hỏng",
                    f"fork record {n}: {exc.message}",
                    **where,
                )
                continue
            if "consistency" not in doc:
                self._fill_consistency(sid, size, doc)
            self._evidence(ref, f"{sid}-fork-{n}", doc, None)

    def _fill_consistency(self, sid: str, size: int, doc: dict[str, Any]) -> None:
        """A fork record of checkpoints of two sizes without a proof (a hub from before the
        audit API): ask the hub's tree for one, if it holds the larger size."""
        try:
            cps = [parse_checkpoint_text(parse_note(doc[k]).text) for k in ("a", "b")]
        except LedgerError:
            return
        small, large = sorted(cps, key=lambda c: c.size)
        if small.size == large.size or small.size == 0 or large.size > size:
            return
        answer = self.api.get(
            f"/v1/audit/stations/{sid}/consistency", first=small.size, second=large.size
        )
        if answer.get("second_root") and answer.get("first_root"):
            doc["consistency"] = {"old_root": answer["first_root"], "proof": answer.get("proof")}

    def _evidence(self, ref: str, name: str, doc: dict[str, Any], size: int | None) -> None:
        where: dict[str, Any] = {"station": ref, "size": size}
        verdict = check_evidence(doc, self.kit)
        if not verdict.ok:
            self.find(
                "error",
                "fork-unproven",
                f"Máy chủ báo rẽ nhánh nhưng bằng chứng không chứng minh được: {verdict.reason_vi}",
                f"the hub reports a fork but the evidence does not prove it: {verdict.reason_en}",
                **where,
            )
            return
        data = encode_evidence(doc)
        if len(data) > MAX_EVIDENCE and "issuer_cert" in doc:  # the kit has the issuer anyway
            slim = {k: v for k, v in doc.items() if k != "issuer_cert"}
            if check_evidence(slim, self.kit).ok:
                data = encode_evidence(slim)
        path = self.evidence_dir / f"{name}.json"
        try:
            self.evidence_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            raise AuditAborted(f"cannot write the evidence {path}: {exc.strerror}") from exc
        after = " (after the key was revoked)" if verdict.details.get("after_revocation") else ""
        self.find(
            "error",
            "fork",
            f"{verdict.reason_vi}; bằng chứng: {path}",
            f"{verdict.reason_en}{after}; evidence: {path}",
            file=str(path),
            **where,
        )
        self.result.evidence.append(
            {
                "station": ref,
                "file": str(path),
                "bytes": len(data),
                "kind": verdict.details.get("kind"),
            }
        )


def audit_hub(
    url: str, office: str, kit: TrustKit, token: str, evidence_dir: Path, *, client: Any = None
) -> HubAudit:
    """Run the audit (the command's work, callable from tests with an httpx client)."""
    import httpx

    if kit.model.hub is None or kit_issuer(kit) is None:
        raise EvidenceInputError(
            "this trust kit names no hub (a stand-alone station's kit): use the hub's kit "
            "(sync-server trust-kit)"
        )
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        return _Auditor(_Api(url, token, http), kit, office, evidence_dir).run()
    finally:
        if own:
            http.close()


def _base_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.ClickException(f"not a hub URL: {url!r} (http://host:port)")
    return url.strip().rstrip("/")


def _wants_json(ctx: click.Context, as_json: bool) -> bool:
    return as_json or bool((ctx.obj or {}).get("json"))


@click.command("hub")
@click.argument("url")
@click.option("--office", required=True, help="The office's code, e.g. 000.00.17.H56.")
@click.option(
    "--trust", "kit_path", required=True, type=click.Path(path_type=Path), help="The hub's kit."
)
@click.option("--token", help=f"An auditor's read-only token (else ${TOKEN_ENV}).")
@click.option(
    "--evidence-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where fork evidence files are written.",
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.pass_context
def hub_cmd(
    ctx: click.Context,
    url: str,
    office: str,
    kit_path: Path,
    token: str | None,
    evidence_dir: Path,
    as_json: bool,
) -> int:
    """Check an office's checkpoints and cosignatures at a hub; export fork evidence."""
    base = _base_url(url)
    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        raise click.ClickException(f"no auditor token: give --token or set {TOKEN_ENV}")
    try:
        kit = read_trust_kit(kit_path)
        result = audit_hub(base, office, kit, token, evidence_dir)
    except EvidenceInputError as exc:
        raise click.ClickException(exc.message) from exc
    except AuditAborted as exc:
        raise click.ClickException(str(exc)) from exc
    if _wants_json(ctx, as_json):
        emit_json(result.as_dict())
    else:
        click.echo(_text(result))
    return 0 if result.ok else 1


def _text(result: HubAudit) -> str:
    lines = [f"Máy chủ / hub {result.hub} ({result.url}), đơn vị / office {result.office}:"]
    for s in result.stations:
        flags = " FORKED" if s.forked else ""
        flags += f" revoked through {s.revoked_through}" if s.revoked_through is not None else ""
        lines.append(
            f"  {s.station}  {s.origin}  size {s.size}, {s.checkpoints} checkpoints, "
            f"{s.proofs_verified} consistency proofs verified{flags}"
        )
    for f in result.findings:
        where = f" {f.station}" if f.station else ""
        where += f" @{f.size}" if f.size is not None else ""
        label = "LỖI / ERROR" if f.severity == "error" else "Cảnh báo / warning"
        lines.append(f"{label} [{f.code}]{where}:\n    {f.message_vi}\n    {f.message_en}")
    if not result.stations:
        lines.append("  (no station / không có trạm)")
    lines.append(
        "OK" if result.ok else f"{sum(f.severity == 'error' for f in result.findings)} problem(s)"
    )
    return "\n".join(lines)


# -- evidence FILE ------------------------------------------------------------------------------
@click.command("evidence")
@click.argument("file")
@click.option(
    "--trust", "kit_path", type=click.Path(path_type=Path), help="A trust kit (optional)."
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.pass_context
def evidence_cmd(ctx: click.Context, file: str, kit_path: Path | None, as_json: bool) -> int:
    """Check fork evidence on its own (exit 0: it proves a fork; 1: it does not)."""
    try:
        if file == "-":
            data = sys.stdin.buffer.read(1024 * 1024)
        else:
            with open(file, "rb") as fh:
                data = fh.read(1024 * 1024)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    try:
        doc = parse_evidence(data)
        kit = read_trust_kit(kit_path) if kit_path is not None else None
    except EvidenceInputError as exc:
        raise click.ClickException(exc.message) from exc
    verdict = check_evidence(doc, kit)
    document = {"file": file, "bytes": len(data), "trust_kit": kit is not None, **verdict.as_dict()}
    if _wants_json(ctx, as_json):
        emit_json(document)
    else:
        head = (
            "RẼ NHÁNH ĐƯỢC CHỨNG MINH / FORK PROVEN"
            if verdict.ok
            else "KHÔNG CHỨNG MINH / NOT PROVEN"
        )
        click.echo(f"{head}\n  {verdict.reason_vi}\n  {verdict.reason_en}")
    return 0 if verdict.ok else 1
