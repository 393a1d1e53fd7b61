"""What makes an acknowledged channel message survive the loss of a server.

Two plain objects, no I/O:

* ``RecentLog`` remembers the channel messages this server saw in a recent
  window (by msgid, in arrival order). It deduplicates a message that
  reaches this server twice (live and again in a catch-up after a link
  comes back), and it answers "what do you have that I lack?" when two
  servers resynchronise.
* ``AckBook`` holds back a sender's acknowledgement (its echo-message echo
  or labeled-response reply) until the message is safe: stored on a second
  server, or in a store the whole network shares. The held replies are
  released together, in the order the command produced them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from .history.contract import StoredMessage

if TYPE_CHECKING:
    from .client import Client
    from .message import Message


EXPIRE_EVERY = 256  # additions between two looks at the oldest entries


class Recent(NamedTuple):
    """One channel message as this server saw it (a tuple: one per message sent)."""

    origin: str  # the server whose client sent it
    key: str  # the folded channel name (history key)
    message: StoredMessage


class RecentLog:
    """The channel messages of the last ``window`` seconds, at most ``limit``."""

    def __init__(self, window: float = 900.0, limit: int = 50_000) -> None:
        self.window = window
        self.limit = limit
        self._entries: OrderedDict[str, Recent] = OrderedDict()
        self._since_expiry = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, msgid: object) -> bool:
        return msgid in self._entries

    def add(self, origin: str, key: str, message: StoredMessage, now: float) -> bool:
        """Remember a message; False when it was already known (a duplicate)."""
        entries = self._entries
        msgid = message.msgid
        if msgid in entries:
            return False
        entries[msgid] = Recent(origin, key, message)
        # On the path of every channel message: look at the oldest entries
        # now and then, not at every addition.
        self._since_expiry += 1
        if self._since_expiry >= EXPIRE_EVERY or len(entries) > self.limit:
            self._since_expiry = 0
            self._expire(now)
        return True

    def get(self, msgid: str) -> Recent | None:
        """The message with this msgid, if it is still in the window."""
        return self._entries.get(msgid)

    def _expire(self, now: float) -> None:
        entries = self._entries
        horizon = now - self.window
        while entries:
            first = next(iter(entries.values()))
            if len(entries) <= self.limit and first.message.ts >= horizon:
                break
            entries.popitem(last=False)

    def since(self, ts: float) -> list[Recent]:
        """Messages stamped at or after ``ts``, in arrival order."""
        return [r for r in self._entries.values() if r.message.ts >= ts]

    def missing(self, since: float, known: set[str]) -> list[Recent]:
        """What a peer that knows ``known`` lacks of the messages since ``since``."""
        return [r for r in self.since(since) if r.message.msgid not in known]


@dataclass(eq=False, slots=True)
class Held:
    """One command's replies, held until every message it sent is safe."""

    client: Client
    waiting: set[str]
    replies: list[Message] = field(default_factory=list)
    label: str | None = None


class AckBook:
    """Acknowledgements waiting for their messages to be safe, by msgid."""

    def __init__(self) -> None:
        self._by_msgid: dict[str, Held] = {}

    def __len__(self) -> int:
        return len(self._by_msgid)

    def __contains__(self, msgid: object) -> bool:
        return msgid in self._by_msgid

    def hold(self, held: Held) -> None:
        """Hold ``held`` until ``confirm`` has seen each of its msgids."""
        for msgid in held.waiting:
            self._by_msgid[msgid] = held

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
                done.append(held)
        return done

    def waiting_ids(self) -> list[str]:
        """Every msgid still waiting (to offer again when a link comes back)."""
        return list(self._by_msgid)

    def forget(self, client: Client) -> None:
        """A client left: nobody is left to acknowledge."""
        gone = [m for m, held in self._by_msgid.items() if held.client is client]
        for msgid in gone:
            del self._by_msgid[msgid]
