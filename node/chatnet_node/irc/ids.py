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

Every msgid ``stamp`` makes ends in the message's *horizon*: ``-`` and eleven
hex digits, the earliest stamp (milliseconds since the epoch) this server
could still receive from another server when it stamped the message
(``hear`` keeps, per origin, the latest stamp heard from it: its messages,
and the ``clock`` events every server sends twice a second). Links are FIFO
along each origin's routing tree, and an origin's stamps never go back, so
every message stamped before the horizon had reached this server, and so
(down the same tree) every server that delivers this message, before it.
What a client that last saw this message may have missed is stamped after
the horizon: ``CHATHISTORY AFTER msgid=`` looks back to it (``horizon_of``),
and never further. A server that does not know the msgid at all (said on
the far side of a split nobody has noticed yet) still reads the horizon
from it (``horizon_in``) and answers from there. The suffix has a fixed
width, so ordering msgids by length, then text, is still their counter's
order. Msgids of earlier releases end in seven digits instead, the horizon
as milliseconds before the stamp: still read, by ``horizon_of``.
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

#: The width of a msgid's horizon suffix (hex milliseconds since the epoch: until 2527).
HORIZON_DIGITS = 11
#: The suffix of earlier releases: the horizon as milliseconds before the stamp.
DELTA_DIGITS = 7
#: How far before its stamp a horizon may lie (3 days in ms, what the old suffix could say).
HORIZON_MAX = 16**DELTA_DIGITS - 1

log = logging.getLogger("chatnet.ids")


def horizon_of(msgid: str, ts: float) -> float:
    """The horizon of a message stamped ``ts`` (``ts`` itself for a msgid without one)."""
    _, dash, suffix = msgid.rpartition("-")
    if not dash:
        return ts
    if len(suffix) == DELTA_DIGITS:  # a msgid of an earlier release
        try:
            delta = int(suffix, 16)
        except ValueError:
            return ts
        return (round(ts * 1000) - delta) / 1000
    horizon = horizon_in(msgid)
    return ts if horizon is None else min(horizon, ts)


def horizon_in(msgid: str) -> float | None:
    """The horizon a msgid carries by itself, without its stamp (None: none there)."""
    head, _, suffix = msgid.rpartition("-")
    if not head or len(suffix) != HORIZON_DIGITS or not set(suffix) <= _HEX:
        return None
    return int(suffix, 16) / 1000


_HEX = frozenset("0123456789abcdef")


class Ids:
    """The counters behind every id this server makes."""

    def __init__(self, server_id: int, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.server_id = server_id
        self._start = secrets.token_hex(3)  # this start's random part
        self._prefix = f"{server_id:x}{self._start}"
        self._msgids = itertools.count(1)
        self._uids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._batch_ids = itertools.count(1)
        self._last_stamp: tuple[str, float] = ("", 0.0)
        #: The hybrid clock, in milliseconds: no stamp made here is earlier.
        self._floor_ms = 0
        self._warned_ahead = -MAX_AHEAD
        #: Per origin server, the latest stamp heard from it (ms).
        self._heard: dict[str, int] = {}
        self._horizon_ms: int | None = None  # min of _heard, None: to recompute

    def msgid(self) -> str:
        """A message id unique across this network's servers and restarts."""
        return f"{self._prefix}{next(self._msgids):x}"

    @property
    def prefix(self) -> str:
        """What every id of this start begins with: the server ID in hex, then ``start``."""
        return self._prefix

    @property
    def start(self) -> str:
        """This start's random part (6 hex digits): what tells two starts of a server apart."""
        return self._start

    def uid(self) -> str:
        """A user id unique in the network and across restarts.

        This server's ID, ``u``, this start's random part, then a counter: a
        server restarted before the network noticed it left must not reuse
        the uid of a user the others still hold for it.
        """
        return f"{self.server_id}u{self._start}{next(self._uids):x}"

    def event_id(self) -> str:
        """A link event id, unique for events this server originates."""
        return f"{self._prefix}e{next(self._event_ids):x}"

    def batch_id(self) -> str:
        """A reference tag for a BATCH."""
        return f"b{next(self._batch_ids)}"

    def hear(self, origin: str, ts: float) -> None:
        """``origin`` stamped something ``ts`` that reached this server over its tree."""
        millis = int(ts * 1000)
        if millis > self._heard.get(origin, -1):
            self._heard[origin] = millis
            self._horizon_ms = None

    def forget(self, origins: set[str]) -> None:
        """These servers left the network: their stamps no longer hold the horizon back."""
        for origin in origins:
            self._heard.pop(origin, None)
        self._horizon_ms = None

    def now_ms(self) -> int:
        """The hybrid clock now, in milliseconds (what a stamp made now would say)."""
        millis = int(self.clock() * 1000)
        if millis < self._floor_ms:
            return self._floor_ms  # a message seen here is later than the wall clock
        self._floor_ms = millis
        return millis

    def now(self) -> float:
        """The hybrid clock now, in seconds: what stamps and disruptions are compared in."""
        return self.now_ms() / 1000

    def stamp(self) -> dict[str, str]:
        """Fresh ``time`` and ``msgid`` tags for a message this server originates."""
        # What the tag says, to the millisecond; two of this server's stamps
        # in one millisecond are ordered by their msgids' counter.
        millis = int(self.clock() * 1000)  # as ``now_ms``, inline: once per message
        if millis < self._floor_ms:
            millis = self._floor_ms  # a message seen here is later than the wall clock
        else:
            self._floor_ms = millis
        horizon = self._horizon_ms
        if horizon is None:
            horizon = self._horizon_ms = min(self._heard.values(), default=1 << 62)
        if horizon > millis:
            horizon = millis
        elif millis - horizon > HORIZON_MAX:
            horizon = millis - HORIZON_MAX
        now = millis / 1000
        last_text, last_now = self._last_stamp
        if now == last_now:
            text = last_text  # many messages a millisecond: format it once
        else:
            text = format_time(now)
            self._last_stamp = (text, now)
        return {"time": text, "msgid": f"{self._prefix}{next(self._msgids):x}-{horizon:011x}"}

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
