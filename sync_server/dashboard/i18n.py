"""The dashboard's words, Vietnamese by default and English on request (`?lang=en`, kept in a
cookie). One table: a missing English entry falls back to Vietnamese, never to a key."""

from __future__ import annotations

from typing import Final

from schemas.dossier import STATUS_LABEL_VI, DossierStatus
from schemas.lifecycle import ACTION_LABEL_EN, ACTION_LABEL_VI

__all__ = ["LANGS", "Translator", "translator"]

LANGS: Final = ("vi", "en")

_WORDS: Final[dict[str, tuple[str, str]]] = {
    "app": ("Sổ cái một cửa — Trung tâm tổng hợp", "Commune ledger — aggregator"),
    "overview": ("Tổng quan", "Overview"),
    "portal": ("Cổng DVC tỉnh", "Provincial portal"),
    "exports": ("Xuất báo cáo", "Exports"),
    "check": ("Kiểm tra biên nhận", "Check a receipt"),
    "login": ("Đăng nhập", "Log in"),
    "logout": ("Đăng xuất", "Log out"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "bad_login": ("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password"),
    "too_many": ("Quá nhiều lần thử, vui lòng đợi {s} giây", "Too many attempts: wait {s} s"),
    "csrf": ("Phiên biểu mẫu không hợp lệ, vui lòng tải lại trang", "Invalid form: reload"),
    "forbidden": ("Tài khoản không có quyền thực hiện thao tác này", "Not allowed for this role"),
    "not_found": ("Không tìm thấy", "Not found"),
    "office": ("Đơn vị", "Office"),
    "offices": ("Đơn vị", "Offices"),
    "name": ("Tên", "Name"),
    "stations": ("Điểm tiếp nhận", "Stations"),
    "last_sync": ("Đồng bộ lần cuối", "Last sync"),
    "never": ("chưa bao giờ", "never"),
    "waiting": ("Bản ghi chờ gửi", "Entries waiting"),
    "quarantined": ("Bị giữ lại", "Quarantined"),
    "clock": ("Lệch đồng hồ", "Clock anomalies"),
    "forks": ("Rẽ nhánh", "Forks"),
    "backlog": ("Chờ gửi cổng", "Portal backlog"),
    "open": ("Đang giải quyết", "Open"),
    "overdue": ("Quá hạn", "Overdue"),
    "on_time": ("Tỷ lệ đúng hạn", "On-time rate"),
    "stale": ("Mất liên lạc", "Stale"),
    "only_stale": ("Chỉ đơn vị mất liên lạc", "Stale offices only"),
    "filter": ("Lọc", "Filter"),
    "search": ("Tìm đơn vị", "Find office"),
    "page": ("Trang", "Page"),
    "of": ("trên", "of"),
    "sort": ("Sắp xếp", "Sort"),
    "period": ("Kỳ báo cáo", "Period"),
    "from": ("Từ ngày", "From"),
    "to": ("Đến ngày", "To"),
    "show": ("Xem", "Show"),
    "bieu06": ("Biểu 06 — Tình hình giải quyết hồ sơ", "Form 06 — dossier resolution"),
    "field": ("Lĩnh vực", "Field"),
    "total": ("Tổng", "Total"),
    "received": ("Tiếp nhận", "Received"),
    "online": ("Trực tuyến", "Online"),
    "direct": ("Trực tiếp, BCCI", "Direct or postal"),
    "carried": ("Kỳ trước chuyển qua", "Carried over"),
    "resolved": ("Đã giải quyết", "Resolved"),
    "early": ("Trước hạn", "Early"),
    "in_time": ("Đúng hạn", "On time"),
    "late": ("Quá hạn", "Late"),
    "pending": ("Đang giải quyết", "Pending"),
    "within": ("Trong hạn", "Within deadline"),
    "withdrawn": ("Rút hồ sơ", "Withdrawn"),
    "stopped": ("Dừng", "Stopped"),
    "refused": ("Từ chối", "Refused"),
    "due_24h": ("Đến hạn trong 24 giờ", "Due within 24 h"),
    "awaiting_supplement": ("Chờ bổ sung", "Awaiting supplement"),
    "trend": ("Tiếp nhận và giải quyết theo tuần", "Received and resolved per week"),
    "code": ("Mã hồ sơ", "Dossier code"),
    "procedure": ("Thủ tục", "Procedure"),
    "received_at": ("Ngày tiếp nhận", "Received"),
    "due_at": ("Hẹn trả", "Due"),
    "status": ("Trạng thái", "Status"),
    "none": ("Không có", "None"),
    "lookup": ("Tra cứu hồ sơ", "Look up a dossier"),
    "timeline": ("Phiếu kiểm soát quá trình giải quyết", "Control slip"),
    "when": ("Thời điểm", "When"),
    "action": ("Thao tác", "Action"),
    "officer": ("Cán bộ", "Officer"),
    "station": ("Điểm", "Station"),
    "signature": ("Chữ ký", "Signature"),
    "certificate": ("Chứng thư", "Certificate"),
    "inclusion": ("Có trong sổ cái", "In the ledger"),
    "cosigned": ("Trung tâm đã ký xác nhận", "Cosigned by the hub"),
    "where": ("Đang ở", "Where it is"),
    "sync_state": ("Trạng thái đồng bộ", "Sync state"),
    "portal_state": ("Trạng thái trên cổng", "Portal state"),
    "at_portal": ("Cổng đã nhận phiên bản", "Portal holds version"),
    "not_at_portal": ("Chưa gửi lên cổng", "Not at the portal yet"),
    "verified": ("Mọi chữ ký và bằng chứng đều hợp lệ", "Every signature and proof verifies"),
    "not_verified": ("Có bản ghi không xác minh được", "Some entries do not verify"),
    "outbox": ("Hàng đợi gửi cổng", "Outbox"),
    "due_now": ("Đến lượt gửi", "Due now"),
    "uncertain": ("Chưa rõ kết quả", "Uncertain"),
    "accepted": ("Cổng đã nhận", "Accepted"),
    "oldest": ("Chờ lâu nhất", "Oldest pending"),
    "last_reconcile": ("Đối soát gần nhất", "Last reconciliation"),
    "errors": ("Lỗi từ cổng", "Errors from the portal"),
    "reconcile_now": ("Đối soát ngay", "Reconcile now"),
    "reconcile_started": ("Đã bắt đầu đối soát", "Reconciliation started"),
    "no_portal": ("Trung tâm chưa cấu hình cổng", "No portal configured"),
    "export_xlsx": ("Tải Biểu 06 toàn tỉnh (xlsx)", "Download province Form 06 (xlsx)"),
    "add_office": ("Đăng ký đơn vị", "Register an office"),
    "token": ("Mã đăng ký một lần", "One-time enrolment token"),
    "check_intro": (
        "Dán nội dung mã QR hoặc tải lên tệp biên nhận để kiểm tra tính xác thực.",
        "Paste the QR payload or upload the receipt file to check it is genuine.",
    ),
    "payload": ("Nội dung mã QR hoặc biên nhận JSON", "QR payload or receipt JSON"),
    "file": ("Tệp biên nhận", "Receipt file"),
    "verify": ("Kiểm tra", "Check"),
    "genuine": ("Biên nhận hợp lệ", "The receipt is genuine"),
    "forged": ("Biên nhận KHÔNG hợp lệ", "The receipt is NOT genuine"),
    "current_status": ("Tình trạng hiện tại", "Current status"),
    "unknown_at_hub": ("Trung tâm chưa nhận được hồ sơ này", "The hub has not received it yet"),
    "role": ("Vai trò", "Role"),
    "aggregator": ("Tổng hợp", "Aggregator"),
    "auditor": ("Thanh tra (chỉ xem)", "Auditor (read only)"),
    "seconds_ago": ("{n} giây trước", "{n} s ago"),
    "minutes_ago": ("{n} phút trước", "{n} min ago"),
    "hours_ago": ("{n} giờ trước", "{n} h ago"),
    "days_ago": ("{n} ngày trước", "{n} days ago"),
    "bad_period": ("Kỳ báo cáo không hợp lệ", "Invalid period"),
    "empty": ("Chưa nhập biên nhận", "No receipt given"),
}


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "vi"
        self._i = LANGS.index(self.lang)

    def __call__(self, key: str, **values: object) -> str:
        pair = _WORDS.get(key)
        text = key if pair is None else pair[self._i] or pair[0]
        return text.format(**values) if values else text

    def status(self, status: str | None) -> str:
        if status is None:
            return "—"
        try:
            label = STATUS_LABEL_VI[DossierStatus(status)]
        except ValueError:
            return status
        return label if self.lang == "vi" else status.replace("_", " ")

    def action(self, action: str | None) -> str:
        table = ACTION_LABEL_VI if self.lang == "vi" else ACTION_LABEL_EN
        return table.get(str(action), str(action))

    def age(self, seconds: int | None) -> str:
        if seconds is None:
            return self("never")
        if seconds < 60:
            return self("seconds_ago", n=seconds)
        if seconds < 3600:
            return self("minutes_ago", n=seconds // 60)
        if seconds < 86400:
            return self("hours_ago", n=seconds // 3600)
        return self("days_ago", n=seconds // 86400)


def translator(lang: str | None) -> Translator:
    return Translator(lang or "vi")
