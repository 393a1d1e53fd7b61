"""Names this server hands out: msgids, uids, link event ids, batch references.

Every id is unique across the network and across restarts: it starts with
this server's ID and a random part chosen at start, then counts. ``stamp``
gives a message its ``time`` and ``msgid`` tags, and remembers the last time
it formatted so that storing the message does not parse it back.

The ``time`` is a hybrid logical clock, in milliseconds: the wall clock, but
never earlier than a message this server has already seen. ``time_of``
(every message that is stored passes through it) moves the clock past a
message stamped elsewhere, so a message stamped here after one from another
server sorts after it in history, however far behind this server's clock
is; ``CHATHISTORY AFTER msgid=`` then finds it. A peer's stamp is followed
at most ``MAX_AHEAD`` seconds past the wall clock, so one server whose
clock runs far ahead cannot drag the network's stamps with it.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable

from .servertime import format_time, parse_time

#: Seconds past this server's clock that a stamp seen from another server may
#: still move it (a clock further ahead is not followed, and is logged).
MAX_AHEAD = 60.0

log = logging.getLogger("chatnet.ids")


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
        #: The hybrid clock, in milliseconds: no stamp made here is earlier.
        self._floor_ms = 0
        self._warned_ahead = -MAX_AHEAD

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
        # What the tag says, to the millisecond; two of this server's stamps
        # in one millisecond are ordered by their msgids' counter.
        millis = int(self.clock() * 1000)
        if millis < self._floor_ms:
            millis = self._floor_ms  # a message seen here is later than the wall clock
        else:
            self._floor_ms = millis
        now = millis / 1000
        last_text, last_now = self._last_stamp
        if now == last_now:
            text = last_text  # many messages a millisecond: format it once
        else:
            text = format_time(now)
            self._last_stamp = (text, now)
        return {"time": text, "msgid": self.msgid()}

    def time_of(self, tags: dict[str, str]) -> float:
        """The time a message's ``time`` tag says (now, when it has none).

        A time from elsewhere moves the hybrid clock past it (``observe``).
        """
        stamped = tags.get("time", "")
        if stamped and stamped == self._last_stamp[0]:
            return self._last_stamp[1]  # just stamped here: no need to parse it back
        ts = parse_time(stamped)
        if ts is None:
            return self.clock()
        self.observe(ts)
        return ts

    def observe(self, ts: float) -> None:
        """A message stamped ``ts`` was seen: every later stamp here sorts after it."""
        # One millisecond later: a stamp in the same millisecond would be
        # ordered by msgid, and another server's prefix may sort after ours.
        millis = int(ts * 1000 + 0.5) + 1
        if millis <= self._floor_ms:
            return
        now = self.clock()
        if millis > (now + MAX_AHEAD) * 1000:
            if now - self._warned_ahead >= MAX_AHEAD:
                self._warned_ahead = now
                log.warning(
                    "a message stamped %s is %.0f s ahead of this server's clock: "
                    "not followed past %g s (is a server's clock wrong?)",
                    format_time(ts),
                    ts - now,
                    MAX_AHEAD,
                )
            millis = int((now + MAX_AHEAD) * 1000)
            if millis <= self._floor_ms:
                return
        self._floor_ms = millis
