from ledgerkit import ledger  # noqa: F401  (fixture)
