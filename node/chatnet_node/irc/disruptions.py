"""The network's recent disruptions, as this server saw them: when messages could come late.

While links hold, a message stamped before a msgid's horizon reached every
server that delivered that msgid before it (``irc.ids``). A disruption
breaks that: a link dies (unnoticed for up to a ping timeout), a server is
cut off, routes change. The messages it held up arrive later by a catch-up,
or once a stalled server resumes, and not at the same moment everywhere: a
server on one side of a split may store them after a message that another
server stored before them. A client that saw that message on the first
server and asks the second for ``CHATHISTORY AFTER`` it would miss them.

So ``AFTER`` a reference stamped while a disruption lasted looks back to the
disruption's start (``lookback``), wherever the client asks: the client
merges by msgid what it had already.

A disruption opens when this server sees a link go, its own or in another
server's advert. It starts when the link last carried anything (its own
link: a frozen server notices only when it wakes), or one ping timeout
earlier (another server's link: a dead link goes unnoticed that long). It
stays open while a server cut off since then is missing, then ``settle``
seconds past its last change (catch-ups land after a heal). A server that
comes back after its disruption ended opens another, back to when it was
lost (at most ``keep``, the sync window: a catch-up brings nothing older),
and so does this server's own start (a restarted server is caught up on
the window it missed). A server missing longer than ``keep`` no longer holds
a disruption open, and one is forgotten ``keep`` seconds after it ends.

Times are the hybrid clock's (``Ids.now_ms``), as the stamps they are
compared with: a server whose wall clock is behind still compares stamps
pulled forward by a faster one. Pure: times are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: At most this many disruptions, and servers lost, are remembered (the oldest go first).
MAX_REMEMBERED = 64


@dataclass
class Disruption:
    """One disruption: from ``start``, while servers are missing, then ``settle`` more."""

    start: float
    opened: float
    last_change: float
    missing: dict[str, float] = field(default_factory=dict)  # server -> missing since

    def end(self, settle: float, keep: float) -> float:
        """When it ends (or ended): open while a server is missing, up to ``keep`` per server."""
        if self.missing:
            latest = max(since for since in self.missing.values())
            return max(latest + keep, self.last_change + settle)
        return self.last_change + settle


@dataclass
class Disruptions:
    """The disruptions of the last ``keep`` seconds."""

    settle: float
    keep: float
    recent: list[Disruption] = field(default_factory=list)
    #: Servers cut off and not back yet: since when what they stamp may come late.
    lost_since: dict[str, float] = field(default_factory=dict)

    def lost(self, now: float, unnoticed: float, servers: set[str]) -> None:
        """A link went at ``now`` (dead ``unnoticed`` seconds before); ``servers`` are cut off."""
        current = self._open(now, now - unnoticed)
        for server in servers:
            current.missing.setdefault(server, now)
            self.lost_since.setdefault(server, current.start)
        while len(self.lost_since) > MAX_REMEMBERED:
            del self.lost_since[next(iter(self.lost_since))]

    def returned(self, now: float, servers: set[str]) -> None:
        """``servers`` are reachable again: their catch-ups may still bring messages late."""
        since = [self.lost_since.pop(s) for s in servers if s in self.lost_since]
        current = self._current(now)
        if current is None and not since:
            return  # a server that joins for the first time brings nothing late
        if since:
            current = self._open(now, max(min(since), now - self.keep))
        assert current is not None
        current.last_change = now
        for server in servers:
            current.missing.pop(server, None)

    def _open(self, now: float, start: float) -> Disruption:
        """The disruption under way (opened if none), reaching back to ``start``."""
        self._forget_old(now)
        current = self._current(now)
        if current is None:
            current = Disruption(start=start, opened=now, last_change=now)
            self.recent.append(current)
            del self.recent[:-MAX_REMEMBERED]
        current.start = min(current.start, start)
        current.last_change = now
        return current

    def lookback(self, ts: float) -> float | None:
        """How far back what reached a server after a message stamped ``ts`` may be stamped.

        None when no disruption this server knows of was under way at ``ts``.
        """
        starts = [d.start for d in self.recent if d.start <= ts <= d.end(self.settle, self.keep)]
        if not starts:
            return None
        return max(min(starts), ts - self.keep)

    def _current(self, now: float) -> Disruption | None:
        if self.recent and self.recent[-1].end(self.settle, self.keep) >= now:
            return self.recent[-1]
        return None

    def _forget_old(self, now: float) -> None:
        self.recent = [d for d in self.recent if d.end(self.settle, self.keep) + self.keep >= now]
