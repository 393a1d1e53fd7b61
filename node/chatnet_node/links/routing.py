"""Where an event goes, and which neighbour may bring one: the link manager's routing policy.

* **Out.** An event goes down its origin's routing tree, towards the servers
  that want it: with a per-server store every channel and private message
  goes to every server (each keeps the whole history); otherwise only to
  servers with members in the channel, or the recipient's.
* **While views differ.** For ``SETTLE_SECONDS`` after this server's view of
  the links changes, servers' trees may disagree: a server may leave to a
  neighbour what that neighbour's tree leaves to it, and a server is missed.
  So for that long an event is flooded to every neighbour that is, or
  leads to, a server that wants it; duplicates are dropped by event id. What
  is lost harmlessly keeps to the tree and to interest: clock events (they
  bound the look back of ``CHATHISTORY AFTER`` only along the tree,
  ``irc.ids``) and TAGMSG (never stored).
* **In.** A neighbour may bring an event of its own, or one whose tree here
  goes through it; while the view is fresh (plus ``SETTLE_MARGIN``, for a
  neighbour that learnt of the change a moment later), also one of an origin
  it reaches without this server, over links both ends confirm. A peer that
  only this server links to the network never speaks for servers behind
  other links.
* **Caught up.** A ``replay`` (``links.catchup``) carries messages of any
  origin, each with its sender's ``nick!user@host``, and a server's users
  trust what it delivers. So a neighbour may bring one of its own; one of an
  origin it may pass events on for (above); one of a server this server lost
  (``cut_off``) from a server that was cut off with it (its side of the
  split), or from any neighbour if stamped before the loss (whoever kept the
  second copy of a dead server's messages may be anywhere); one of a server
  out of reach and not seen go since this server started (or of an earlier
  start of this server), stamped before it started. Never one of this
  server's own start: it has every one of those. A restarted server's
  window comes from its store, which keeps no origin: the msgid's prefix
  (server ID, start) tells which server it may be.

Pure: it reads the topology, the core's channels and users and the clock,
and sends nothing. The window runs on the server's clock (``core.clock``): a
wall-clock step lengthens or shortens it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from ..irc.events import ChatMessage, ClockTick, Event, UserInvite
from ..irc.ids import MAX_AHEAD
from ..irc.names import casefold, is_channel_name
from ..irc.state import ChatState
from .catchup import REPLAY_SLACK
from .guard import counter_of, foreign_msgid
from .topology import Topology

#: Seconds after this server's view of the links last changed during which it
#: floods events to every neighbour instead of down the origin's tree: long
#: enough for every server's view to have caught up.
SETTLE_SECONDS = 30.0
#: Seconds past its own window that this server still takes an event from a
#: flooding neighbour (one that learnt of the change a moment later).
SETTLE_MARGIN = 10.0
#: Seconds past the moment this server lost a server that a caught-up
#: message of that server may still be stamped: its clock may be a little
#: ahead of this server's hybrid clock (which its clock ticks, every half
#: second, pull forward).
LOSS_SLACK = 5.0


@dataclass(frozen=True)
class Lost:
    """A server this one can no longer reach: when, with whom, and its server ID."""

    at: float  # this server's hybrid clock then
    side: frozenset[str]  # every server cut off with it: its side of the split
    sid: int | None


class Routing:
    """The routing decisions of one server."""

    def __init__(
        self,
        core: ChatState,
        topology: Topology,
        sids: Callable[[], Mapping[str, int]],
    ) -> None:
        self.core = core
        self.topology = topology
        self._sids = sids  # the servers known now (this one too), by name: their server IDs
        self._unsettled_until = 0.0  # flood until then: the views of a change may differ
        self._lost: dict[str, Lost] = {}

    @property
    def me(self) -> str:
        return self.core.config.name

    def unsettle(self) -> None:
        """This server's view of the links changed: others may not see it yet."""
        self._unsettled_until = self.core.clock() + SETTLE_SECONDS

    def fresh(self, margin: float = 0.0) -> bool:
        """Is this server's view of the links still settling (flooding)?"""
        return self.core.clock() < self._unsettled_until + margin

    def may_pass_on(self, peer: str, event: Event) -> bool:
        """May ``peer`` hand this server ``event``?

        Its origin itself, or the origin's tree parent here; while this
        server's view is fresh, also a neighbour that reaches the origin
        without this server (every change's advert reaches a server before
        the events flooded because of it). Clock events are never flooded:
        only the tree brings them.
        """
        return self.speaks_for(peer, event.o, flooded=not isinstance(event, ClockTick))

    def speaks_for(self, peer: str, origin: str, flooded: bool = True) -> bool:
        """Is ``peer`` ``origin``, its tree parent here, or (``flooded``) a fresh path to it?"""
        if peer == origin or self.topology.tree(origin).get(self.me) == peer:
            return True
        if not flooded or not self.fresh(SETTLE_MARGIN):
            return False
        return self.topology.reaches_without_me(peer, origin)

    def cut_off(self, lost: AbstractSet[str]) -> None:
        """This server can no longer reach ``lost`` (call before their IDs are forgotten)."""
        now = self.core.ids.now()
        # Nothing older than the sync window is caught up: older losses bound nothing.
        keep = self.core.config.links.sync_window + REPLAY_SLACK
        self._lost = {name: gone for name, gone in self._lost.items() if gone.at > now - keep}
        sids, side = self._sids(), frozenset(lost)
        for name in lost:
            self._lost[name] = Lost(now, side, sids.get(name))

    def replay_problem(self, peer: str, origin: str, msgid: str, ts: float) -> str | None:
        """Why ``peer`` may not bring a message of ``origin`` in a catch-up (None: it may)."""
        ids = self.core.ids
        if msgid.startswith(ids.prefix):
            # Whatever origin it names: taken, it would shut out the line that
            # this server gives that msgid next (acknowledged, and lost).
            return "a msgid of this server's own start, every one of which it holds"
        if ts > ids.now() + MAX_AHEAD:
            return f"stamped {ts - ids.now():.0f} s ahead of this server's clock"
        # Every server ID each name had: known now (this one's too) or lost.
        sids = [(name, gone.sid) for name, gone in self._lost.items() if gone.sid is not None]
        sids += self._sids().items()
        if origin:
            return self._replay_problem(peer, origin, msgid, ts, sids)
        # From a restarted server's store, which keeps no origin: whose prefix is it?
        names = {name for name, sid in sids if counter_of(msgid, sid) is not None}
        problems = [self._replay_problem(peer, name, msgid, ts, sids) for name in names or {""}]
        return None if None in problems else problems[0]

    def _replay_problem(
        self, peer: str, origin: str, msgid: str, ts: float, sids: list[tuple[str, int]]
    ) -> str | None:
        why = foreign_msgid(msgid, origin, [sid for name, sid in sids if name == origin])
        if why is not None:
            return why
        if origin == peer:
            return None
        lost = self._lost.get(origin)
        reachable = origin != self.me and origin in self.topology.reachable()
        if lost is not None and not reachable and peer in lost.side:
            return None  # cut off with it: the same side of the split
        if lost is not None and ts <= lost.at + LOSS_SLACK:
            return None  # the second copy of a lost server's line may be anywhere
        if reachable:
            return None if self.speaks_for(peer, origin) else f"{origin} is not behind this link"
        if lost is not None:
            return f"stamped {ts - lost.at:.0f} s after {origin} was cut off from this server"
        # Gone before this server started: it cannot tell where from. Its clock
        # may have run ahead of this one's, as far as a stamp is taken at all.
        if ts <= self.core.started + MAX_AHEAD:
            return None
        return f"stamped {ts - self.core.started:.0f} s after this server started"

    def hops(self, event: Event, neighbours: Iterable[str]) -> set[str]:
        """The neighbours ``event`` goes to from here (its sender still among them)."""
        wanted = self.wanted(event)
        if self.fresh() and kept(event):
            return self._towards(wanted, event.o, neighbours)
        return self.topology.next_hops(event.o, wanted)

    def _towards(
        self, wanted: AbstractSet[str], origin: str, neighbours: Iterable[str]
    ) -> set[str]:
        """Neighbours (not ``origin``) that are, or reach without this server, a wanted one."""
        topology = self.topology
        return {
            peer
            for peer in neighbours
            if peer != origin
            and any(w == peer or topology.reaches_without_me(peer, w) for w in wanted)
        }

    def wanted(self, event: Event) -> AbstractSet[str]:
        """The servers an event must reach (interest routing for traffic)."""
        core = self.core
        if isinstance(event, ChatMessage):
            if is_channel_name(event.target):
                if event.command != "TAGMSG" and not core.replication.shared_store:
                    return self.topology.reachable()  # every server keeps every channel's history
                channel = core.channels.get(casefold(event.target))
                return channel.servers() if channel is not None else set()
            if is_channel_name(event.target[1:]):  # STATUSMSG (@#chan): not stored anywhere
                channel = core.channels.get(casefold(event.target[1:]))
                return channel.servers() if channel is not None else set()
            if event.command != "TAGMSG" and not core.replication.shared_store:
                return self.topology.reachable()  # private messages too: see private_message
            user = core.users.get(event.target)
            return {user.server} if user is not None else set()
        if isinstance(event, UserInvite):
            user = core.users.get(event.target)
            return {user.server} if user is not None else set()
        return self.topology.reachable()


def kept(event: Event) -> bool:
    """Must every server that should get ``event`` get it (flooded while views differ)?"""
    if isinstance(event, ClockTick):
        return False
    return not (isinstance(event, ChatMessage) and event.command == "TAGMSG")


def kept_everywhere(target: str) -> bool:
    """True for a message every server stores: to a channel or a user, not ``@#chan``."""
    return is_channel_name(target) or not is_channel_name(target[1:])
