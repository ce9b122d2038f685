"""Every transparency-dev/merkle conformance vector: our verifiers agree with `wantErr`.

Inclusion files carry leafIdx, treeSize, root, leafHash (already a leaf hash), proof; consistency
files carry size1, size2, root1, root2, proof. Base64 is decoded as is, so the vectors' empty and
wrong-length hashes reach the verifiers, which must refuse them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.merkle import ProofError, root_from_inclusion, verify_consistency, verify_inclusion

KINDS = ("inclusion", "consistency")


def _merkle_dir(rootpath: Path) -> Path:
    # Collection needs the file list before fixtures exist; this mirrors the `vectors` fixture
    # (../shared/vectors beside the repo), and test_every_file_is_collected checks the two agree.
    return rootpath.parent / "shared" / "vectors" / "merkle"


def _relative_files(base: Path) -> list[str]:
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*.json"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vector_file" in metafunc.fixturenames:
        base = _merkle_dir(metafunc.config.rootpath)
        files = _relative_files(base) if base.is_dir() else []
        metafunc.parametrize("vector_file", files, ids=files)
    if "collected_files" in metafunc.fixturenames:
        base = _merkle_dir(metafunc.config.rootpath)
        files = _relative_files(base) if base.is_dir() else []
        metafunc.parametrize("collected_files", [files], ids=["all"])


def _h(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_h(p) for p in case["proof"] or []]


def test_every_file_is_collected(vectors: Path, collected_files: list[str]) -> None:
    on_disk = _relative_files(vectors / "merkle")
    assert on_disk, "no Merkle vectors found"
    assert collected_files == on_disk
    assert len(collected_files) == sum(1 for _ in (vectors / "merkle").rglob("*.json"))
    # Every file belongs to a kind we know how to run.
    assert {f.split("/", 1)[0] for f in collected_files} == set(KINDS)


def test_vector(vectors: Path, vector_file: str) -> None:
    case = json.loads((vectors / "merkle" / vector_file).read_text())
    kind = vector_file.split("/", 1)[0]
    assert kind in KINDS, vector_file
    assert isinstance(case["wantErr"], bool)

    if kind == "inclusion":
        args = (case["leafIdx"], case["treeSize"], _proof(case))
        leaf, root = _h(case["leafHash"]), _h(case["root"])

        def run() -> None:
            verify_inclusion(leaf, *args, root)

    else:

        def run() -> None:
            verify_consistency(
                case["size1"], case["size2"], _proof(case), _h(case["root1"]), _h(case["root2"])
            )

    if case["wantErr"]:
        with pytest.raises(ProofError):
            run()
    else:
        run()
        if kind == "inclusion":
            assert root_from_inclusion(leaf, *args) == root
