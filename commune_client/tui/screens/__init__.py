"""The TUI's screens, one per officer task."""
