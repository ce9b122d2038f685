"""One error type for everything the hub refuses: an HTTP status, a stable code, a sentence."""

from __future__ import annotations

from typing import Any

__all__ = ["HubError"]


class HubError(Exception):
    """Answered as JSON `{"error": code, "detail": text, ...extra}` with `status`."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}
