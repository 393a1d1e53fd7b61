"""Names this server hands out: msgids, uids, link event ids, batch references.

Every id is unique across the network and across restarts: it starts with
this server's ID and a random part chosen at start, then counts. ``stamp``
gives a message its ``time`` and ``msgid`` tags, and remembers the last time
it formatted so that storing the message does not parse it back.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable

from .servertime import format_time, parse_time


class Ids:
    """The counters behind every id this server makes."""

    def __init__(self, server_id: int, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.server_id = server_id
        self._prefix = f"{server_id:x}{secrets.token_hex(3)}"
        self._msgids = itertools.count(1)
        self._uids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._batch_ids = itertools.count(1)
        self._last_stamp: tuple[str, float] = ("", 0.0)

    def msgid(self) -> str:
        """A message id unique across this network's servers and restarts."""
        return f"{self._prefix}{next(self._msgids):x}"

    def uid(self) -> str:
        """A user id unique in the network: this server's ID, then a counter."""
        return f"{self.server_id}u{next(self._uids):x}"

    def event_id(self) -> str:
        """A link event id, unique for events this server originates."""
        return f"{self._prefix}e{next(self._event_ids):x}"

    def batch_id(self) -> str:
        """A reference tag for a BATCH."""
        return f"b{next(self._batch_ids)}"

    def stamp(self) -> dict[str, str]:
        """Fresh ``time`` and ``msgid`` tags for a message this server originates."""
        now = int(self.clock() * 1000) / 1000  # what the tag says, to the millisecond
        last_text, last_now = self._last_stamp
        if now == last_now:
            text = last_text  # many messages a millisecond: format it once
        else:
            text = format_time(now)
            self._last_stamp = (text, now)
        return {"time": text, "msgid": self.msgid()}

    def time_of(self, tags: dict[str, str]) -> float:
        """The time a message's ``time`` tag says (now, when it has none)."""
        stamped = tags.get("time", "")
        if stamped and stamped == self._last_stamp[0]:
            return self._last_stamp[1]  # just stamped here: no need to parse it back
        return parse_time(stamped) or self.clock()
