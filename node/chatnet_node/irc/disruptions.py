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
Messages a catch-up brings stamped before a disruption under way started
pull its start back to them (``late``).
A server missing longer than ``keep`` no longer holds a disruption open, and
one is forgotten ``keep`` seconds after it ends.

A server that starts (or restarts) remembers none of this, and the client
may have seen its reference anywhere: it assumes one disruption from the
sync window before its start until ``settle`` past the last link-up that
brought it a server it could not reach and had not seen go (``started``,
``linked``), as long as it is not *informed*. Each side of a link that comes up tells the other the
disruptions it knows (``spans``), the servers it has lost and not seen back
(``cut_off``: when one comes back, the hearer opens a disruption as if it
had seen it go), and whether it is informed itself (``unknown``). A server
told by an informed neighbour takes what it is told, drops its assumption
and is informed; so is a server that has been linked for the whole window
(it has seen every link go since: ``settle_assumption``). A neighbour that is not informed passes
on what it saw, and the assumption stays. A server that becomes informed
(told, or by time) tells its neighbours again, so what it learnt reaches a leaf
that linked to it first. The assumption itself is never passed on: with a
server killed every few minutes, every server would otherwise look back
over the whole window all the time, and a client's catch-up would page
through fifteen minutes of lines it had.

What a neighbour cannot tell: a restart nobody noticed (a host gone without
closing its connections, back within a ping timeout), and a server cut off
since before the neighbour itself started.

Times are the hybrid clock's (``Ids.now_ms``), as the stamps they are
compared with: a server whose wall clock is behind still compares stamps
pulled forward by a faster one. Pure: times are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: A server a neighbour lost longer ago than this is not taken from it: a
#: server retired for good would otherwise be passed on from restart to
#: restart, and a new server of its name would look back the whole window.
LOST_TOLD_FOR = 24 * 3600.0
#: At most this many disruptions, and servers lost, are remembered (the oldest go first);
#: also the most servers one told disruption holds missing.
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
    """A disruption as one server tells another: ``end`` is when it settles if nothing changes."""

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
    #: Disruptions heard from neighbours (``heard``), by start.
    told: list[Disruption] = field(default_factory=list)
    #: The disruption assumed at start (``started``), until informed.
    assumed: Disruption | None = None
    #: When this server first linked to another (``linked``): it sees the network since.
    linked_at: float | None = None

    # This server's own start, and what its neighbours tell it.

    def started(self, now: float) -> None:
        """This server (re)started at ``now``: it knows of no disruption, so it assumes one."""
        self._forget_old(now)
        self.assumed = Disruption(start=now - self.keep, opened=now, last_change=now)
        self.recent.append(self.assumed)

    def linked(self, now: float, peer: str) -> None:
        """A neighbour that was not reachable is now.

        If this server never saw it go, it may have been away since before
        this server started: its catch-up is one of the start's, and the
        assumption lasts. One this server saw go (or was told of, ``cut_off``)
        is not: ``returned`` opens a disruption back to its loss, and a kill
        seen while still uninformed no longer makes every catch-up look back
        over the whole window.
        """
        if self.linked_at is None:
            self.linked_at = now
        if peer in self.lost_since:
            return
        if self.assumed is not None and not self.informed(now):
            self.assumed.last_change = now

    def unlinked(self, now: float) -> None:
        """This server's last link went: alone, it sees nothing of the network.

        Not yet informed, it starts counting the window again at its next link-up.
        """
        if self.assumed is not None and not self.informed(now):
            self.linked_at = None

    def informed(self, now: float) -> bool:
        """Does this server know every disruption that may still matter?

        Told by an informed neighbour, or linked for the whole window: it has
        seen every link go since (a server alone knows nothing of the others).
        """
        if self.assumed is None:
            return True
        return self.linked_at is not None and now >= self.linked_at + self.keep

    def settle_assumption(self, now: float) -> bool:
        """Linked for the whole window since it started: drop the assumption.

        It has seen every link go since, so what it saw is all that matters,
        here and to the neighbours that restarted meanwhile and were told by
        it only that it did not know: True when it just became informed this
        way (then the caller tells them).
        """
        if self.assumed is None or not self.informed(now):
            return False
        self._drop_assumption()
        return True

    def _drop_assumption(self) -> None:
        """Informed: what this server assumed at start no longer counts."""
        self.recent = [d for d in self.recent if d is not self.assumed]
        self.assumed = None

    def report(self, now: float) -> dict[str, object]:
        """For /status: is this server informed, and how far back ``AFTER`` looks now."""
        since = self.lookback(now)
        return {
            "informed": self.informed(now),
            "known": len(self._known()),
            "lostServers": sorted(self.lost_since),
            "lookBackSeconds": round(now - since, 1) if since is not None else 0.0,
        }

    def cut_off(self) -> dict[str, float]:
        """Servers this server has lost and not seen back, since when (to tell a neighbour)."""
        return dict(self.lost_since)

    def unknown(self, now: float) -> tuple[float, float] | None:
        """When disruptions may have happened that this server does not know of (None: informed)."""
        if self.assumed is None or self.informed(now):
            return None
        return (self.assumed.start, now)

    def spans(self, now: float) -> list[Span]:
        """The disruptions this server knows of, to tell a neighbour.

        Not the assumed one: what this server does not know is no news. Of
        the servers a disruption holds missing, those still holding it open
        (missing for less than ``keep``), the latest ``MAX_REMEMBERED``.
        """
        self._forget_old(now)
        return [
            Span(d.start, d.last_change + self.settle, self._holding(d.missing, now))
            for d in self._known()
        ]

    def _known(self) -> list[Disruption]:
        """What this server saw and what it was told, not what it assumes."""
        return [d for d in self.recent if d is not self.assumed] + self.told

    def heard(
        self,
        now: float,
        spans: list[Span],
        lost: dict[str, float],
        informed: bool,
        reachable: set[str],
    ) -> bool:
        """A neighbour's disruptions, the servers it has lost (``cut_off``) and whether
        it knows all that may still matter (``informed``).

        Told disruptions that overlap are kept as one (every server dates
        the same disruption a little differently). One that holds a server
        missing stays open until that server is back here too (``returned``;
        already, if it is in ``reachable``). A span that ends after the window
        from now is ignored. True when this server has just become informed.
        """
        self._forget_old(now)
        for span in spans:
            if not span.start <= span.end <= now + self.keep:
                continue
            # Older than twice the window, a start changes no look-back (``lookback``
            # stops at the window); a disruption under way since is kept, from there.
            start = max(span.start, now - 2 * self.keep)
            missing = self._holding({s: min(t, now) for s, t in span.missing.items()}, now)
            self._merge_told(Disruption(start, now, span.end - self.settle, missing))
        for server, since in list(lost.items())[:MAX_REMEMBERED]:
            if server not in reachable and since >= now - LOST_TOLD_FOR:
                # Cut off and not back: when it comes back here, its catch-up may
                # bring what it stamped since, as if this server had seen it go.
                self.lost_since.setdefault(server, min(since, now))
        self._trim_lost()
        self._back_in_told(now, reachable)
        if not informed or self.assumed is None:
            return False
        was_informed = self.informed(now)
        self._drop_assumption()
        return not was_informed

    def _merge_told(self, new: Disruption) -> None:
        """Keep ``new`` among the told disruptions, merged with any it overlaps."""
        told = []
        for old in self.told:
            if old.start <= new.end(self.settle, self.keep) and new.start <= old.end(
                self.settle, self.keep
            ):
                new.start = min(new.start, old.start)
                new.last_change = max(new.last_change, old.last_change)
                new.missing = self._holding({**old.missing, **new.missing}, None)
            else:
                told.append(old)
        told.append(new)
        told.sort(key=lambda d: d.start)
        self.told = told[-MAX_REMEMBERED:]

    def _holding(self, missing: dict[str, float], now: float | None) -> dict[str, float]:
        """Of ``missing``, those still holding a disruption open, the latest ``MAX_REMEMBERED``."""
        held = [
            (since, s) for s, since in missing.items() if now is None or since + self.keep >= now
        ]
        held.sort(reverse=True)
        return {s: since for since, s in held[:MAX_REMEMBERED]}

    def _back_in_told(self, now: float, servers: set[str]) -> None:
        """What neighbours told of ``servers`` missing settles from ``now``."""
        for heard in self.told:
            popped = [heard.missing.pop(s) for s in servers & heard.missing.keys()]
            if any(since + self.keep >= now for since in popped):
                heard.last_change = max(heard.last_change, now)

    # What this server sees.

    def lost(self, now: float, unnoticed: float, servers: set[str]) -> None:
        """A link went at ``now`` (dead ``unnoticed`` seconds before); ``servers`` are cut off."""
        current = self._open(now, now - unnoticed)
        for server in servers:
            current.missing.setdefault(server, now)
            self.lost_since.setdefault(server, current.start)
        self._trim_lost()

    def _trim_lost(self) -> None:
        """At most ``MAX_REMEMBERED`` servers lost, the oldest forgotten first."""
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

    def late(self, now: float, oldest: float) -> None:
        """Messages stamped from ``oldest`` reached this server late (a link's catch-up).

        During a disruption they may be stamped before it started: a server
        never seen going (alone since before this one started) brings what
        it held into one side of a split, and the other side gets it only
        when the split heals. The disruption under way then reaches back to
        them (at most ``keep``), on every server they reach late. With no
        disruption under way, the order they reached servers in is the
        same everywhere, and ``AFTER`` finds them by it.
        """
        current = self._current(now)
        if current is not None:
            current.start = min(current.start, max(oldest, now - self.keep))

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

    def lookback(self, ts: float, assumed: bool = True) -> float | None:
        """How far back what reached a server after a message stamped ``ts`` may be stamped.

        None when no disruption this server knows of was under way at ``ts``
        (``assumed=False``: not counting the one it assumes since its start).
        """
        known = [*self.recent, *self.told] if assumed else self._known()
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
