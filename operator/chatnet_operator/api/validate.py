"""Check manifests as a whole: every object on its own, then the rules between them.

Every problem names the object, the field, what is wrong and how to fix it,
and all problems are collected before anything is reported, so one run of
``chatnet validate`` shows everything to fix. The operator runs the same
``validate_documents`` on the objects it reads from the cluster.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from chatnet_operator.api.fields import API_VERSION
from chatnet_operator.api.loader import Document, dotted
from chatnet_operator.api.models import KINDS, ChatNetwork, ChatServer, Role
from chatnet_operator.api.outcome import Broken, Problem, Report
from chatnet_operator.api.rules import NetworkRules

_HUBLIKE = (Role.HUB, Role.CONTROL)


def _known_keys() -> set[str]:
    """Every camelCase key of the API, to suggest the one a typo meant."""
    keys: set[str] = set()
    pending: list[type[BaseModel]] = list(KINDS.values())
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
            for arg in typing.get_args(info.annotation) or (info.annotation,):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    pending.append(arg)
                for inner in typing.get_args(arg):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        pending.append(inner)
    return keys


_KNOWN_KEYS = _known_keys()


def _fix_for(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "add this field"
    if kind == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else ""
        close = difflib.get_close_matches(key, sorted(_KNOWN_KEYS), n=1, cutoff=0.7)
        if close:
            return f"did you mean {close[0]}? (keys are camelCase)"
        return "remove it, or correct its spelling (keys are camelCase)"
    if kind in ("literal_error", "enum"):
        return "use one of the values listed"
    if kind == "string_pattern_mismatch":
        return "use lowercase letters, digits and '-' (or the format shown)"
    if kind == "value_error":
        return "change the fields named in the message"
    return "correct the value"


def _object_label(data: Any) -> str:
    if isinstance(data, dict):
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return f"{data.get('kind', '?')}/{name or '?'}"
    return "(document)"


def parse_document(doc: Document) -> tuple[ChatNetwork | ChatServer | None, list[Problem]]:
    """One document as a model, or the problems that prevent it."""
    label = _object_label(doc.data)
    if not isinstance(doc.data, dict):
        return None, [
            Problem(
                label, "(document)", "is not a mapping", "write a Kubernetes object", doc.where()
            )
        ]
    kind = doc.data.get("kind")
    api_version = doc.data.get("apiVersion")
    if not isinstance(kind, str) or kind not in KINDS:  # a mapping is not hashable
        return None, [
            Problem(
                label,
                "kind",
                f"{kind!r} is not a chatnet kind",
                "use ChatNetwork or ChatServer (chatnet reads nothing else)",
                doc.where(("kind",)),
            )
        ]
    if api_version != API_VERSION:
        return None, [
            Problem(
                label,
                "apiVersion",
                f"{api_version!r} is not served",
                f"use apiVersion: {API_VERSION}",
                doc.where(("apiVersion",)),
            )
        ]
    try:
        return KINDS[kind].model_validate(doc.data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = tuple(err["loc"])
            problems.append(
                Problem(
                    label,
                    dotted(path),
                    err["msg"].removeprefix("Value error, "),
                    _fix_for(err),
                    doc.where(path),
                )
            )
        return None, problems


def check_objects(
    objects: list[tuple[ChatNetwork | ChatServer, Document | None]],
    broken: list[Broken] | None = None,
    local: bool = False,
) -> Report:
    """Cross-object rules over already-parsed objects (``broken``: those that failed)."""
    checker = NetworkRules(objects, broken or [])
    networks = checker.run(local)
    return Report(networks, checker.problems)


def is_secret(data: Any) -> bool:
    """A core ``v1`` Secret, which may sit beside the chatnet objects in manifests."""
    return (
        isinstance(data, dict) and data.get("apiVersion") == "v1" and data.get("kind") == "Secret"
    )


def validate_documents(docs: list[Document], local: bool = False) -> Report:
    """Parse every document and check every rule; report all problems at once.

    ``local`` adds the rules of ``chatnet up`` (the networks share one machine,
    so their front doors need distinct ports); on a cluster each network has
    its own Service and the same ports are fine.
    """
    objects: list[tuple[ChatNetwork | ChatServer, Document | None]] = []
    problems: list[Problem] = []
    broken: list[Broken] = []
    for doc in docs:
        if is_secret(doc.data):
            continue  # read by ``chatnet up`` only (operators' passwords, a cloak secret)
        obj, found = parse_document(doc)
        problems += found
        if obj is not None:
            objects.append((obj, doc))
        elif (failed := Broken.from_data(doc.data)) is not None:
            broken.append(failed)
    if not docs:
        problems.append(
            Problem("(input)", "(files)", "no documents found", "declare a ChatNetwork")
        )
    report = check_objects(objects, broken, local)
    report.problems[:0] = problems
    broken_network = any(b.kind == "ChatNetwork" for b in broken)
    if not report.networks and objects and not broken_network:
        report.problems.append(
            Problem(
                "(input)",
                "(files)",
                "no ChatNetwork declared",
                "add a ChatNetwork that the ChatServers name in spec.network",
            )
        )
    return report
