"""One error base for everything the ledger refuses: a title and a message, shown to people."""

from __future__ import annotations


class LedgerError(Exception):
    """A refusal a user can act on. Programs show `title` and `message`, never a traceback."""

    title = "Ledger error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title


class KeyRefused(LedgerError):
    title = "Key refused"


class WrongPassphrase(LedgerError):
    title = "Wrong passphrase"


class SignatureInvalid(LedgerError):
    title = "Invalid signature"


class NoteError(LedgerError):
    title = "Malformed signed note"


class ReceiptError(LedgerError):
    """A receipt input that cannot be read (not JSON, not a `CLR1.` QR payload, corrupt)."""

    title = "Biên nhận không đọc được / Unreadable receipt"

    def __init__(self, message_vi: str, message_en: str) -> None:
        super().__init__(message_vi)
        self.message_vi = message_vi
        self.message_en = message_en
