"""The import layers hold, and breaking one fails `make lint`.

import-linter checks the contracts in pyproject.toml (the node: runtime >
transports > links > IRC core, the core never imports I/O or a history
backend; the operator: command > cluster | local > observe > plan > api).
Here it runs on the checkout, then on a copy with one forbidden import added,
which it must refuse, naming the contract and the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{root / 'operator'}{os.pathsep}{root / 'node'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("node", "operator"):
        shutil.copytree(REPO / package, root / package, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_checkout_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        (
            "node/chatnet_node/irc/state.py",
            "from chatnet_node.transport import connection",
            "The IRC core does no I/O",
        ),
        (
            "node/chatnet_node/irc/transitions/users.py",
            "from chatnet_node.history import sqlite",
            "The IRC core does no I/O",
        ),
        (
            "operator/chatnet_operator/cluster/reconcile.py",
            "from chatnet_operator.local import up",
            "The operator is layered",
        ),
        (
            "node/chatnet_node/config.py",
            "import chatnet_operator.api.models",
            "The node never imports the operator",
        ),
    ],
)
def test_a_forbidden_import_breaks_the_build(
    tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    root = copy_of_the_checkout(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{forbidden}  # noqa\n")
    result = lint_imports(root)
    assert result.returncode != 0, result.stdout
    assert contract in result.stdout
    assert "BROKEN" in result.stdout
