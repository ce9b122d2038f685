"""The office app: store, services, sync agent, CLI and TUI."""

__version__ = "0.1.0"
