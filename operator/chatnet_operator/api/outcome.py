"""What validation produces: the networks found, the problems, the broken objects.

``Declared`` (one network and its servers) is what the planner takes;
``Problem`` names the object, the field, what is wrong and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatnet_operator.api.models import KINDS, ChatNetwork, ChatServer


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, and how to fix it."""

    obj: str
    field: str
    problem: str
    fix: str
    where: str = ""

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}{self.obj}: {self.field}: {self.problem}; fix: {self.fix}"


@dataclass(frozen=True)
class Declared:
    """One network and its servers: the planner's input."""

    network: ChatNetwork
    servers: tuple[ChatServer, ...]


@dataclass
class Report:
    """The outcome of validation: the networks found, and the problems."""

    networks: list[Declared] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Broken:
    """An object that failed its own checks, as far as it could be read."""

    kind: str
    namespace: str
    name: str
    network: str | None = None

    @staticmethod
    def from_data(data: Any) -> Broken | None:
        kind = data.get("kind") if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in KINDS:  # a mapping is not hashable
            return None
        meta = data.get("metadata")
        spec = data.get("spec")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            return None
        network = spec.get("network") if isinstance(spec, dict) else None
        return Broken(
            kind=data["kind"],
            namespace=str(meta.get("namespace") or "default"),
            name=meta["name"],
            network=network if isinstance(network, str) else None,
        )
