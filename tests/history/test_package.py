"""The history package's import rules (see ``chatnet_node/history/__init__.py``).

The chat core imports ``history.contract`` and must never load a backend or
a database driver through it; the package's modules import at the top only.
Each import is checked in a fresh interpreter, so that what the test process
has already loaded does not hide anything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodeproc import operator_env

PACKAGE = Path(__file__).resolve().parents[2] / "node" / "chatnet_node" / "history"
DRIVERS = {"sqlite3", "_sqlite3", "psycopg"}


def loaded_by(module: str) -> set[str]:
    """The modules a fresh interpreter has loaded after ``import module``."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=operator_env(), capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["chatnet_node.history.contract", "chatnet_node.history"])
def test_the_contract_loads_no_backend(module: str) -> None:
    loaded = loaded_by(module)
    ours = {m for m in loaded if m.startswith("chatnet_node.")}
    # timings: the plain histogram of HistoryStats (no I/O, nothing of a backend).
    assert ours <= {"chatnet_node.history", "chatnet_node.history.contract", "chatnet_node.timings"}
    assert not loaded & DRIVERS


def test_the_factory_loads_both_backends() -> None:
    loaded = loaded_by("chatnet_node.history.factory")
    assert {"chatnet_node.history.sqlite", "chatnet_node.history.postgres.store"} <= loaded


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_import_inside_a_function(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    late = [
        f"line {node.lineno}"
        for scope in ast.walk(tree)
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(scope)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert late == []
