"""Acknowledgements held back until the message they acknowledge is safe.

``AckBook`` holds a sender's acknowledgement (its echo-message echo or
labeled-response reply) until every message of the command is safe: stored
on a second server, or in a store the whole network shares. The held
replies are released together, in the order the command produced them.
A hold that waits longer than ``links.ackTimeout`` (a server cut off from
every neighbour) is reported ``overdue`` once, so the sender learns that its
message's fate is not known yet; its acknowledgement still follows if the
message becomes safe later. ``latency`` counts how long each released hold
waited (``chatnet_ack_latency_seconds``). Plain objects, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..timings import ACK_BUCKETS, Histogram

if TYPE_CHECKING:
    from .message import Message
    from .model import Client


@dataclass(eq=False, slots=True)
class Held:
    """One command's replies, held until every message it sent is safe."""

    client: Client
    waiting: set[str]
    replies: list[Message] = field(default_factory=list)
    label: str | None = None
    since: float = 0.0  # when the hold began (the turn the command arrived in)


class AckBook:
    """Acknowledgements waiting for their messages to be safe, by msgid."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._by_msgid: dict[str, Held] = {}
        self._clock = clock
        #: Holds not yet overdue, oldest first, with when they began.
        self._since: dict[Held, float] = {}
        #: Seconds from a command's turn to the release of its acknowledgement.
        self.latency = Histogram(ACK_BUCKETS)

    def __len__(self) -> int:
        return len(self._by_msgid)

    def __contains__(self, msgid: object) -> bool:
        return msgid in self._by_msgid

    def hold(self, held: Held) -> None:
        """Hold ``held`` until ``confirm`` has seen each of its msgids."""
        for msgid in held.waiting:
            self._by_msgid[msgid] = held
        held.since = self._clock()
        self._since[held] = held.since

    def confirm(self, msgids: Iterable[str]) -> list[Held]:
        """Messages became safe: the holds this completes, in confirmation order."""
        done: list[Held] = []
        by_msgid = self._by_msgid
        for msgid in msgids:
            held = by_msgid.pop(msgid, None)
            if held is None:
                continue
            held.waiting.discard(msgid)
            if not held.waiting:
                self._since.pop(held, None)
                done.append(held)
        if done:
            now = self._clock()
            observe = self.latency.observe
            for held in done:
                observe(max(now - held.since, 0.0))  # a wall clock may step back
        return done

    def overdue(self, timeout: float) -> list[Held]:
        """Holds older than ``timeout`` seconds, each returned once (oldest first)."""
        cutoff = self._clock() - timeout
        due: list[Held] = []
        for held, since in self._since.items():
            if since > cutoff:
                break
            due.append(held)
        for held in due:
            del self._since[held]
        return due

    def waiting_ids(self) -> list[str]:
        """Every msgid still waiting (to offer again when a link comes back)."""
        return list(self._by_msgid)

    def forget(self, client: Client) -> None:
        """A client left: nobody is left to acknowledge."""
        gone = [m for m, held in self._by_msgid.items() if held.client is client]
        for msgid in gone:
            self._since.pop(self._by_msgid.pop(msgid), None)
