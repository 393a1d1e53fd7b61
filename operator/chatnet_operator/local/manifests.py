"""What ``chatnet up`` runs: the files it was given, read and validated.

``read_networks`` is called once at start and again whenever a file changes;
it either returns every declared network or raises ``InputError`` with every
problem, so a bad edit never reaches the running processes. Besides the rules
every network obeys (``api.validate``), one rule holds only here: a network
on PostgreSQL needs ``CHATNET_HISTORY_DSN`` (``check_local_history``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from chatnet_operator.api.loader import UnreadableInputError, load_files
from chatnet_operator.api.outcome import Declared
from chatnet_operator.api.validate import validate_documents


class InputError(Exception):
    """The files are unreadable (code 2) or invalid (code 1); the message says why."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def read_networks(paths: list[Path]) -> list[Declared]:
    """Validated networks from files, or InputError with every problem."""
    try:
        docs = load_files(paths)
    except UnreadableInputError as exc:
        raise InputError(str(exc), 2) from exc
    report = validate_documents(docs, local=True)
    if not report.ok:
        raise InputError("\n".join(str(p) for p in report.problems), 1)
    check_local_history(report.networks, os.environ)
    return report.networks


def check_local_history(networks: list[Declared], environ: Mapping[str, str]) -> None:
    """A network on PostgreSQL needs CHATNET_HISTORY_DSN here (InputError otherwise).

    On a cluster each pod gets the DSN from the Secret ``history.postgres``
    names; locally there are no Secrets, so the nodes read the same variable
    from the environment ``chatnet up`` passes on, and a DSN never sits in a
    manifest that may end up in a Git repository.
    """
    shared = [d.network.name for d in networks if d.network.spec.history.store == "postgres"]
    if shared and not environ.get("CHATNET_HISTORY_DSN", "").strip():
        raise InputError(
            f"ChatNetwork {', '.join(shared)}: history.store is postgres: set "
            "CHATNET_HISTORY_DSN to the database's DSN (e.g. "
            "postgresql://chatnet:PASSWORD@localhost:5432/chatnet); locally the Secret "
            "in history.postgres.secretName is not read",
            1,
        )
