"""Dependency direction (DESIGN section 2): schemas <- ledger <- programs; headless code never
imports Textual; the three programs never import each other."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEADLESS = ["schemas", "ledger", "audit", "sync_server"]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_packages_do_not_import_textual(module: str) -> None:
    code = (
        f"import importlib, pkgutil, sys; import {module} as m\n"
        "for info in pkgutil.walk_packages(m.__path__, m.__name__ + '.'):\n"
        "    if '.tui' not in info.name: importlib.import_module(info.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulls in Textual: {out.stdout}"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("schemas", ["ledger", "commune_client", "sync_server", "audit"]),
        ("ledger", ["commune_client", "sync_server", "audit"]),
        ("commune_client", ["sync_server", "audit"]),
        ("sync_server", ["commune_client", "audit"]),
        ("audit", ["commune_client", "sync_server"]),
    ],
)
def test_dependencies_point_one_way(module: str, forbidden: list[str]) -> None:
    code = (
        f"import importlib, pkgutil, sys; import {module} as m\n"
        "for info in pkgutil.walk_packages(m.__path__, m.__name__ + '.'):\n"
        "    if '.tui' not in info.name: importlib.import_module(info.name)\n"
        "print(','.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.strip().split(","))
    assert not loaded & set(forbidden), f"{module} imports {loaded & set(forbidden)}"
