"""The provincial portal: adapter, outbox, reconciliation, simulator (docs/portal.md)."""
