"""The messages this server saw lately, by msgid (failover's memory).

``RecentLog`` remembers the channel and private messages of a recent window,
in arrival order. It deduplicates a message that reaches this server twice
(live and again in a catch-up after a link comes back), and it answers "what
do you have that I lack?" when two servers resynchronise. Plain object, no
I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from ..history.contract import StoredMessage

EXPIRE_EVERY = 256  # additions between two looks at the oldest entries


class Recent(NamedTuple):
    """One channel or private message as this server saw it (a tuple: one per message sent)."""

    origin: str  # the server whose client sent it
    key: str  # the history key: a folded channel name, or a private conversation's
    message: StoredMessage


class RecentLog:
    """The messages of the last ``window`` seconds, at most ``limit``."""

    def __init__(self, window: float = 900.0, limit: int = 50_000) -> None:
        self.window = window
        self.limit = limit
        self._entries: OrderedDict[str, Recent] = OrderedDict()
        self._since_expiry = 0
        #: Redacted messages: still known (a catch-up does not bring them back), never sent on.
        self._redacted: set[str] = set()

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
        if len(entries) > self.limit:
            # Full (a busy server, at steady state): the oldest goes, O(1),
            # on the path of every channel message.
            oldest = entries.popitem(last=False)[0]
            if self._redacted:
                self._redacted.discard(oldest)
        # Look at the oldest entries' age now and then, not at every addition.
        self._since_expiry += 1
        if self._since_expiry >= EXPIRE_EVERY:
            self._since_expiry = 0
            self._expire(now)
        return True

    def redact(self, msgid: str) -> None:
        """The message was redacted: a peer that lacks it will not be sent it."""
        if msgid in self._entries:
            self._redacted.add(msgid)

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
            self._redacted.discard(entries.popitem(last=False)[0])

    def since(self, ts: float) -> list[Recent]:
        """Messages stamped at or after ``ts``, in arrival order."""
        redacted = self._redacted
        return [
            r
            for r in self._entries.values()
            if r.message.ts >= ts and r.message.msgid not in redacted
        ]

    def missing(self, since: float, known: set[str]) -> list[Recent]:
        """What a peer that knows ``known`` lacks of the messages since ``since``."""
        return [r for r in self.since(since) if r.message.msgid not in known]
