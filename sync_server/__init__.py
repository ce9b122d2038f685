"""The hub: ingest, routing, cosigning, portal forwarding, dashboard."""

__version__ = "0.1.0"
