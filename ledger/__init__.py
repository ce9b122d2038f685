"""Signed append-only logs shared by the office app, the hub and the auditor."""
