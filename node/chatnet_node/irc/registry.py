"""Network-wide records (accounts, registered channels) that every server keeps and merges.

A record is registered on one server and then lives on every server of the
network: links carry each change as an event, bursts carry them all, and
each server persists its copy beside its history. Servers may change
records while split from each other, so merging must give every server the
same answer whatever order the changes arrive in. The rules:

* A record has an **identity**, ``(created, origin)``: when and where it was
  registered. Two registrations of one name (on both sides of a netsplit)
  are two identities.
* Each identity is a last-writer-wins register: of two versions of one
  identity, the one with the higher ``(updated, by)`` wins. Dropping a
  record is a version too (``dropped=True``, a tombstone), so an older live
  version arriving late never brings it back.
* The **effective** record of a name is the earliest-registered identity
  that is not dropped: after a netsplit the first registration wins, on
  every server, whatever order the two arrived in. The loser stays stored
  but has no effect (its origin server drops it: see ``transitions.accounts``).

This is a state-based CRDT (a map of LWW registers with a deterministic
choice), so merging is commutative, associative and idempotent: any two
servers that have seen the same versions agree. Plain data, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from .names import casefold


class Record(BaseModel):
    """What every network-wide record carries: its name, identity and version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # as registered (shown); keyed by its folded form
    created: float  # identity: when it was registered...
    origin: str  # ...and on which server
    updated: float  # version: when this version was made...
    by: str  # ...and by which server
    dropped: bool = False

    @property
    def identity(self) -> tuple[float, str]:
        """Which registration this is (two registrations of one name differ here)."""
        return (self.created, self.origin)

    @property
    def version(self) -> tuple[float, str]:
        """Which version of its registration this is (higher wins)."""
        return (self.updated, self.by)

    @property
    def folded(self) -> str:
        """The folded name records are kept by."""
        return casefold(self.name)


R = TypeVar("R", bound=Record)


class Registry(Generic[R]):
    """Every version this server knows of one kind of record, and the effective ones."""

    def __init__(self) -> None:
        self._versions: dict[str, dict[tuple[float, str], R]] = {}
        self._effective: dict[str, R] = {}

    def __len__(self) -> int:
        return len(self._effective)

    def get(self, name: str) -> R | None:
        """The effective record of ``name`` (any case), or None."""
        return self._effective.get(casefold(name))

    def merge(self, record: R) -> bool:
        """Take in one version; True when it was new (stored, and worth passing on)."""
        identities = self._versions.setdefault(record.folded, {})
        current = identities.get(record.identity)
        if current is not None and _rank(current) >= _rank(record):
            return False
        identities[record.identity] = record
        live = [r for r in identities.values() if not r.dropped]
        if live:
            self._effective[record.folded] = min(live, key=lambda r: r.identity)
        else:
            self._effective.pop(record.folded, None)
        return True

    def versions(self, name: str) -> list[R]:
        """Every identity's latest version of ``name`` (losers and tombstones too)."""
        return list(self._versions.get(casefold(name), {}).values())

    def effective(self) -> Iterator[R]:
        """Every effective record."""
        return iter(list(self._effective.values()))

    def everything(self) -> Iterator[R]:
        """Every stored version, effective or not (for a burst)."""
        for identities in list(self._versions.values()):
            yield from list(identities.values())


def _rank(record: Record) -> tuple[float, str, bool, str]:
    """Which of two versions of one registration wins: the newer; on a tie, a drop, then the data.

    Ties never happen between well-behaved servers (one server makes one
    version per instant) but must still be settled alike everywhere.
    """
    return (record.updated, record.by, record.dropped, record.model_dump_json())
