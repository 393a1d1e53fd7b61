"""What ``chatnet up`` runs: the files it was given, read and validated.

``read_networks`` is called once at start and again whenever a file changes;
it either returns every declared network or raises ``InputError`` with every
problem, so a bad edit never reaches the running processes. Besides the rules
every network obeys (``api.validate``), one rule holds only here: a network
on PostgreSQL needs ``CHATNET_HISTORY_DSN`` (``check_local_history``).
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from chatnet_operator.api.loader import Document, UnreadableInputError, load_files
from chatnet_operator.api.outcome import Declared
from chatnet_operator.api.validate import is_secret, validate_documents


class InputError(Exception):
    """The files are unreadable (code 2) or invalid (code 1); the message says why."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _load(paths: list[Path]) -> list[Document]:
    try:
        return load_files(paths)
    except UnreadableInputError as exc:
        raise InputError(str(exc), 2) from exc


def read_networks(paths: list[Path]) -> list[Declared]:
    """Validated networks from files, or InputError with every problem."""
    docs = _load(paths)
    report = validate_documents(docs, local=True)
    if not report.ok:
        raise InputError("\n".join(str(p) for p in report.problems), 1)
    check_local_history(report.networks, os.environ)
    check_local_secrets(report.networks, secret_values(docs))
    return report.networks


SecretValues = dict[tuple[str, str], str]


def secret_values(docs: list[Document]) -> SecretValues:
    """(Secret name, key) to value, from every ``kind: Secret`` in the files.

    ``stringData`` as is, ``data`` base64-decoded (``stringData`` wins on a
    key in both, as on a cluster). Namespaces are ignored: one machine, one
    namespace. A value that does not decode is left out (and then reported
    missing if referenced).
    """
    out: SecretValues = {}
    for doc in docs:
        data = doc.data
        if not is_secret(data):
            continue
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str):
            continue
        encoded = data.get("data")
        for key, value in (encoded if isinstance(encoded, dict) else {}).items():
            with contextlib.suppress(ValueError, UnicodeDecodeError, TypeError):
                out[(name, str(key))] = base64.b64decode(str(value), validate=True).decode()
        plain = data.get("stringData")
        for key, value in (plain if isinstance(plain, dict) else {}).items():
            out[(name, str(key))] = str(value)
    return out


def read_secret_values(paths: list[Path]) -> SecretValues:
    """``secret_values`` of the files."""
    return secret_values(_load(paths))


#: The keys of a ``kubernetes.io/tls`` Secret: certificate chain, then private key.
TLS_KEYS = ("tls.crt", "tls.key")


def check_local_secrets(networks: list[Declared], values: SecretValues) -> None:
    """Every operator's passwordSecretRef (and a named cloaks.secretRef) is in the files.

    Locally there is no API server to read a Secret from: the ``kind: Secret``
    objects must sit in the files ``chatnet up`` reads (InputError otherwise).
    """
    problems = []
    for declared in networks:
        spec = declared.network.spec
        refs = [
            (f"operators[{i}].passwordSecretRef", o.password_secret_ref)
            for i, o in enumerate(spec.operators)
        ]
        if spec.cloaks.enabled and spec.cloaks.secret_ref is not None:
            refs.append(("cloaks.secretRef", spec.cloaks.secret_ref))
        for where, ref in refs:
            if (ref.name, ref.key) not in values:
                problems.append(
                    f"ChatNetwork/{declared.network.name}: spec.{where}: Secret {ref.name} "
                    f"(key {ref.key}) is not in the files; locally chatnet up reads Secrets "
                    "only from its input: add a kind: Secret with that name and key "
                    "(stringData or base64 data)"
                )
        tls = spec.endpoint.tls
        if tls is not None:
            name = tls.secret_for(declared.network.name)
            missing = [key for key in TLS_KEYS if (name, key) not in values]
            if missing:
                problems.append(
                    f"ChatNetwork/{declared.network.name}: spec.endpoint.tls: Secret {name} "
                    f"(keys {', '.join(TLS_KEYS)}) is not in the files: missing "
                    f"{', '.join(missing)}; locally there is no cert-manager and chatnet up "
                    "reads Secrets only from its input: add a kind: Secret of type "
                    "kubernetes.io/tls with that name (PEM in stringData or base64 data)"
                )
    if problems:
        raise InputError("\n".join(problems), 1)


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
