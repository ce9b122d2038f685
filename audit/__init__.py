"""The auditor's offline toolkit over `ledger`."""

__version__ = "0.1.0"
