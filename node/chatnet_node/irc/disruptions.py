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
lost (at most ``keep``, the sync window: a catch-up brings nothing older).
A server missing longer than ``keep`` no longer holds a disruption open, and
one is forgotten ``keep`` seconds after it ends.

A server that starts (or restarts) remembers none of this, and the client
may have seen its reference anywhere: until it knows better it assumes one
disruption over the sync window before its start (``started``). Each
neighbour sends its list when their link comes up (``spans``, ``heard``),
with what it may not know itself (``unknown``: it started recently too).
The restarted server takes the disruptions the network saw while it was
away, its own loss among them, and keeps assuming only over what no
neighbour could tell it. The assumption is never passed on as a disruption:
with a server killed every few minutes, every server would otherwise look
back over the whole window all the time, and a client's catch-up would page
through fifteen minutes of lines it had.

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


@dataclass(frozen=True)
class Span:
    """A disruption as one server tells another: ``end`` as if it settled now."""

    start: float
    end: float
    missing: dict[str, float] = field(default_factory=dict)  # server -> missing since


@dataclass
class Disruptions:
    """The disruptions of the last ``keep`` seconds."""

    settle: float
    keep: float
    recent: list[Disruption] = field(default_factory=list)
    #: Servers cut off and not back yet: since when what they stamp may come late.
    lost_since: dict[str, float] = field(default_factory=dict)
    #: Disruptions heard from neighbours (``heard``).
    told: list[Disruption] = field(default_factory=list)
    #: The whole-window disruption assumed at start, until a neighbour tells.
    assumed: Disruption | None = None

    def started(self, now: float) -> None:
        """This server (re)started at ``now``: it knows of no disruption, so it assumes one."""
        self._forget_old(now)
        self.assumed = Disruption(start=now - self.keep, opened=now, last_change=now)
        self.recent.append(self.assumed)

    def spans(self, now: float) -> list[Span]:
        """The disruptions this server knows of, to tell a neighbour.

        Not the assumed one: what this server does not know is no news.
        """
        self._forget_old(now)
        known = [d for d in self.recent if d is not self.assumed] + self.told
        return [Span(d.start, d.last_change + self.settle, dict(d.missing)) for d in known]

    @property
    def unknown(self) -> tuple[float, float] | None:
        """When disruptions may have happened that this server was not told of (or None).

        From the sync window before it started to when it started, until
        neighbours told it better (``heard``).
        """
        if self.assumed is None:
            return None
        return (self.assumed.start, self.assumed.last_change)

    def heard(
        self,
        now: float,
        spans: list[Span],
        unknown: tuple[float, float] | None,
        reachable: set[str],
    ) -> None:
        """A neighbour's disruptions, and what it does not know (``unknown``).

        What neither this server nor the neighbour knows stays assumed: the
        neighbour saw the network since it started, so a server restarted
        after it has only the time before that left to assume (none, once a
        neighbour that knows the whole window told it). A disruption that
        holds a server missing stays open until that server is back here too
        (``returned``; already, if it is in ``reachable``). A neighbour cannot
        stretch a look-back past the sync window (``lookback`` bounds it) nor
        make one end later than the window from now.
        """
        self._forget_old(now)
        told = {d.start: d for d in self.told}
        for span in spans:
            if not span.start <= span.end <= now + self.keep:
                continue
            missing = {server: min(since, now) for server, since in span.missing.items()}
            before = told.get(span.start)
            if before is None:
                before = told[span.start] = Disruption(span.start, now, span.end - self.settle)
            before.last_change = max(before.last_change, span.end - self.settle)
            before.missing.update(list(missing.items())[:MAX_REMEMBERED])
        self.told = sorted(told.values(), key=lambda d: d.start)[-MAX_REMEMBERED:]
        self._back_in_told(now, reachable)
        self._forget_old(now)
        self._assume_less(unknown)

    def _assume_less(self, unknown: tuple[float, float] | None) -> None:
        """Only what a neighbour does not know either stays assumed."""
        assumed = self.assumed
        if assumed is None:
            return
        if unknown is not None:
            assumed.start = max(assumed.start, unknown[0])
            assumed.last_change = min(assumed.last_change, unknown[1])
        if unknown is None or assumed.start > assumed.last_change:
            self.recent = [d for d in self.recent if d is not assumed]
            self.assumed = None

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
        self._back_in_told(now, servers)
        current = self._current(now)
        if current is None and not since:
            return  # a server that joins for the first time brings nothing late
        if since:
            current = self._open(now, max(min(since), now - self.keep))
        assert current is not None
        current.last_change = now
        for server in servers:
            current.missing.pop(server, None)

    def _back_in_told(self, now: float, servers: set[str]) -> None:
        """What neighbours told of ``servers`` missing settles from ``now``."""
        for heard in self.told:
            if servers & heard.missing.keys():
                heard.last_change = max(heard.last_change, now)
                for server in servers:
                    heard.missing.pop(server, None)

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
        known = (*self.recent, *self.told)
        starts = [d.start for d in known if d.start <= ts <= d.end(self.settle, self.keep)]
        if not starts:
            return None
        return max(min(starts), ts - self.keep)

    def _current(self, now: float) -> Disruption | None:
        """The disruption under way, not the assumed one (what this server sees stays apart)."""
        latest = self.recent[-1] if self.recent else None
        if latest is None or latest is self.assumed:
            return None
        return latest if latest.end(self.settle, self.keep) >= now else None

    def _forget_old(self, now: float) -> None:
        self.recent = [d for d in self.recent if d.end(self.settle, self.keep) + self.keep >= now]
        self.told = [d for d in self.told if d.end(self.settle, self.keep) + self.keep >= now]
        if not any(d is self.assumed for d in self.recent):
            self.assumed = None
