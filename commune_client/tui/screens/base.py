"""What every screen shares: the header and footer, the desk client, running service calls in
workers, Vietnamese error display, and recomposing after a language switch."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from textual.screen import Screen

from commune_client.tui.i18n import get_language, t
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from commune_client.tui.app import CommuneApp
    from commune_client.tui.client import DeskClient

__all__ = ["CommuneScreen", "error_text"]

T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    """What an officer reads for a failure: the message of our errors, never a traceback."""
    if isinstance(exc, LedgerError):
        return f"{t(exc.title)}: {exc.message}"
    return t("Lỗi không mong đợi: {error}", error=type(exc).__name__)


class CommuneScreen(Screen[Any]):
    """Base screen. Subclasses compose with `t()` strings and call services via `self.desk`
    inside `@work(thread=True)` workers."""

    def __init__(self) -> None:
        super().__init__()
        self._language = get_language()

    @property
    def commune(self) -> CommuneApp:
        return cast("CommuneApp", self.app)

    @property
    def desk(self) -> DeskClient:
        return self.commune.desk

    def on_screen_resume(self) -> None:
        if self._language != get_language():
            self._language = get_language()
            self.refresh(recompose=True)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A service call from a worker thread (never from the UI thread)."""
        return self.desk.call(fn, *args, **kwargs)

    def notify_error(self, exc: BaseException) -> None:
        self.app.call_from_thread(self.notify, error_text(exc), severity="error", timeout=8)
