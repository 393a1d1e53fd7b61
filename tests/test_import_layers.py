"""The import layers hold, and breaking any one of them fails `make lint`.

import-linter checks the contracts in pyproject.toml (the node: runtime >
transports > links > IRC core, the core never imports I/O or a history
backend, the node never imports the operator; the operator: cli > cluster |
local > observe > plan > api, the two runtimes apart, render reading only
the plan, api and plan without I/O). Here it runs on the checkout, where
every contract must be kept, then on copies of the checkout with one
forbidden import added each, which it must refuse, naming the contract and
the import. Every contract is broken at least once, so a contract that stops
being checked fails this file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS: dict[str, str] = {
    contract["id"]: contract["name"]
    for contract in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}


@dataclass(frozen=True)
class Break:
    """One forbidden import: added to ``module``, it must break ``contract``."""

    contract: str
    module: str
    statement: str
    #: How lint-imports names the offending import: ``importer -> imported``.
    reported: str

    def __str__(self) -> str:
        return f"{self.contract}: {self.reported}"


BREAKS = [
    # The node.
    Break(
        "node-layers",
        "node/chatnet_node/links/__init__.py",
        "import chatnet_node.transport",
        "chatnet_node.links -> chatnet_node.transport",
    ),
    Break(
        "irc-layers",
        "node/chatnet_node/irc/state.py",
        "from chatnet_node.irc import core",
        "chatnet_node.irc.state -> chatnet_node.irc.core",
    ),
    Break(
        "irc-no-io",
        "node/chatnet_node/irc/state.py",
        "from chatnet_node.transport import connection",
        "chatnet_node.irc.state -> chatnet_node.transport.connection",
    ),
    Break(
        "irc-no-io",
        "node/chatnet_node/irc/transitions/users.py",
        "from chatnet_node.history import sqlite",
        "chatnet_node.irc.transitions.users -> chatnet_node.history.sqlite",
    ),
    Break(
        "history-below-the-core",
        "node/chatnet_node/history/contract.py",
        "import chatnet_node.irc",
        "chatnet_node.history.contract -> chatnet_node.irc",
    ),
    Break(
        "node-config-standalone",
        "node/chatnet_node/config/__init__.py",
        "import chatnet_node.metrics",
        "chatnet_node.config -> chatnet_node.metrics",
    ),
    Break(
        "node-without-operator",
        "node/chatnet_node/config/__init__.py",
        "import chatnet_operator.api.models",
        "chatnet_node.config -> chatnet_operator.api.models",
    ),
    # The operator: each edge the layers forbid, once.
    Break(
        "operator-layers",
        "operator/chatnet_operator/cluster/reconcile.py",
        "from chatnet_operator.local import up",
        "chatnet_operator.cluster.reconcile -> chatnet_operator.local.up",
    ),
    Break(
        "operator-layers",
        "operator/chatnet_operator/local/supervisor.py",
        "from chatnet_operator.cluster import kube",
        "chatnet_operator.local.supervisor -> chatnet_operator.cluster.kube",
    ),
    Break(
        "operator-layers",
        "operator/chatnet_operator/observe/status.py",
        "from chatnet_operator.local import report",
        "chatnet_operator.observe.status -> chatnet_operator.local.report",
    ),
    Break(
        "operator-layers",
        "operator/chatnet_operator/plan/render.py",
        "from chatnet_operator.cluster import reconcile",
        "chatnet_operator.plan.render -> chatnet_operator.cluster.reconcile",
    ),
    Break(
        "operator-layers",
        "operator/chatnet_operator/plan/planner.py",
        "from chatnet_operator.observe import status",
        "chatnet_operator.plan.planner -> chatnet_operator.observe.status",
    ),
    Break(
        "operator-layers",
        "operator/chatnet_operator/api/validate.py",
        "from chatnet_operator.plan import planner",
        "chatnet_operator.api.validate -> chatnet_operator.plan.planner",
    ),
    Break(
        "render-reads-the-plan",
        "operator/chatnet_operator/plan/render.py",
        "from chatnet_operator.api.models import ChatServer",
        "chatnet_operator.plan.render -> chatnet_operator.api.models",
    ),
    Break(
        "operator-pure-core",
        "operator/chatnet_operator/plan/render.py",
        "import asyncio",
        "chatnet_operator.plan.render -> asyncio",
    ),
    Break(
        "operator-pure-core",
        "operator/chatnet_operator/api/loader.py",
        "import kopf",
        "chatnet_operator.api.loader -> kopf",
    ),
]


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


def words(text: str) -> str:
    """lint-imports wraps long contract names; compare with whitespace folded."""
    return " ".join(text.split())


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
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout
    for name in CONTRACTS.values():
        assert f"{words(name)} KEPT" in words(result.stdout)


def test_every_contract_is_broken_once_below() -> None:
    """A contract without a break case here could silently stop being checked."""
    assert {b.contract for b in BREAKS} == set(CONTRACTS)


@pytest.mark.parametrize("case", BREAKS, ids=str)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, case: Break) -> None:
    root = copy_of_the_checkout(tmp_path)
    path = root / case.module
    assert path.is_file(), f"{case.module} moved: point this case at its new home"
    path.write_text(path.read_text() + f"\n{case.statement}\n")
    result = lint_imports(root)
    assert result.returncode != 0, result.stdout
    report = words(result.stdout)
    assert f"{words(CONTRACTS[case.contract])} BROKEN" in report, result.stdout
    broken = report.split("Broken contracts", 1)[1]
    assert f"{case.reported} (l." in broken, result.stdout
