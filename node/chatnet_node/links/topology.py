"""The network's shape as one server sees it: servers, links, routes.

Pure data and graph algorithms, no I/O. Every server floods its own list of
neighbours (a link-state advertisement with a sequence number); from the
latest advertisement of every server each server builds the same graph, and
from the graph the same routes:

* a link counts only when both ends advertise it;
* a message from ``origin`` travels down ``origin``'s shortest-path tree
  (breadth-first, neighbours taken in name order, so every server computes
  the same tree), hence it reaches each server exactly once even when the
  hubs form rings or a full mesh;
* interest routing prunes the tree: a server forwards only towards servers
  that want the message (for a channel: those with members in it);
* when a link of a cycle breaks, the trees change and no server becomes
  unreachable: no netsplit. When servers do become unreachable, ``split``
  says which, so their users can quit with the netsplit reason;
* while the servers' views of a change differ, trees differ too, and the
  link manager floods instead (``reaches_without_me`` says whether a peer
  may plausibly pass on an origin's event: through links both ends
  confirm, never through this server).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Advert:
    """One server's link-state advertisement."""

    server: str
    seq: int
    neighbours: frozenset[str]


@dataclass
class Topology:
    """The link-state database of one server (``me``)."""

    me: str
    adverts: dict[str, Advert] = field(default_factory=dict)
    _trees: dict[str, dict[str, str | None]] = field(default_factory=dict)
    _paths: dict[tuple[str, str], bool] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        # Sequence numbers start at the clock, so a restarted server's adverts
        # are newer than any its peers may still remember.
        self._seq = int(time.time() * 1000)
        if self.me not in self.adverts:
            self.adverts[self.me] = Advert(self.me, 0, frozenset())

    # Building the database.

    def set_my_neighbours(self, neighbours: Iterable[str]) -> Advert:
        """Record this server's direct links; returns the advert to flood."""
        self._seq += 1
        advert = Advert(self.me, self._seq, frozenset(neighbours))
        self.adverts[self.me] = advert
        self._changed()
        return advert

    def learn(self, advert: Advert) -> bool:
        """Take another server's advert; True when it is news (flood it on)."""
        if advert.server == self.me:
            return False
        known = self.adverts.get(advert.server)
        if known is not None and known.seq >= advert.seq:
            return False
        self.adverts[advert.server] = advert
        self._changed()
        return True

    def unreachable_past(self, keep: int) -> list[str]:
        """Past ``keep`` adverts, the servers out of reach whose adverts to forget,
        first learnt first.

        An advert may come before the one that links its server in, so those
        of servers out of reach are kept; but only so many (a peer could
        otherwise send adverts of made-up servers that nobody links to).
        """
        if len(self.adverts) <= keep:
            return []
        reachable = self.reachable()
        out_of_reach = [server for server in self.adverts if server not in reachable]
        return out_of_reach[: len(self.adverts) - keep]

    def forget(self, servers: Iterable[str]) -> None:
        """Drop the adverts of servers that are no longer reachable."""
        for server in servers:
            if server != self.me:
                self.adverts.pop(server, None)
        self._changed()

    def _changed(self) -> None:
        self._trees.clear()
        self._paths.clear()

    # Reading the graph.

    def neighbours(self, server: str) -> list[str]:
        """Servers linked to ``server``, confirmed by both ends, in name order."""
        advert = self.adverts.get(server)
        if advert is None:
            return []
        confirmed = []
        for other in advert.neighbours:
            back = self.adverts.get(other)
            if back is not None and server in back.neighbours:
                confirmed.append(other)
        return sorted(confirmed)

    def tree(self, origin: str) -> dict[str, str | None]:
        """``origin``'s shortest-path tree: every reachable server to its parent."""
        cached = self._trees.get(origin)
        if cached is not None:
            return cached
        parents: dict[str, str | None] = {origin: None}
        queue = deque([origin])
        while queue:
            server = queue.popleft()
            for other in self.neighbours(server):
                if other not in parents:
                    parents[other] = server
                    queue.append(other)
        self._trees[origin] = parents
        return parents

    def reaches_without_me(self, start: str, target: str) -> bool:
        """Can ``start`` reach ``target`` over confirmed links, never through ``me``?

        A neighbour passing on an event of ``target`` must be on such a path:
        a peer that only this server connects to the rest of the network
        cannot speak for servers behind other links.
        """
        if self.me in (start, target):
            return False
        key = (start, target)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        seen = {start, self.me}
        queue = deque([start])
        found = start == target
        while queue and not found:
            for other in self.neighbours(queue.popleft()):
                if other == target:
                    found = True
                    break
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        self._paths[key] = found
        return found

    def reachable(self) -> set[str]:
        """Every server this one can reach, itself included."""
        return set(self.tree(self.me))

    def hops(self, server: str) -> int | None:
        """How many links away ``server`` is (0 for this server), or None."""
        parents = self.tree(self.me)
        if server not in parents:
            return None
        count = 0
        while parents[server] is not None:
            parent = parents[server]
            assert parent is not None
            server = parent
            count += 1
        return count

    def uplink_of(self, server: str) -> str | None:
        """The server through which ``server`` joined this one's tree (for LINKS/MAP)."""
        return self.tree(self.me).get(server)

    def next_hops(self, origin: str, wanted: Iterable[str]) -> set[str]:
        """Neighbours of ``me`` to forward an ``origin`` message to, towards ``wanted``.

        Walks each wanted server up ``origin``'s tree; where the walk passes
        through ``me``, the step below ``me`` is a next hop.
        """
        parents = self.tree(origin)
        if self.me not in parents:
            return set()
        hops: set[str] = set()
        for target in wanted:
            if target == self.me or target not in parents:
                continue
            child = target
            parent = parents[child]
            while parent is not None and parent != self.me:
                child = parent
                parent = parents[child]
            if parent == self.me:
                hops.add(child)
        return hops

    def split(self, before: set[str]) -> set[str]:
        """Servers in ``before`` that are not reachable any more."""
        return before - self.reachable()
