"""The link manager: routes events between this server and the network.

No sockets here: established links are ``LinkSession`` objects (the asyncio
adapters in ``links.session`` implement them), and every decision is a
plain method call, so whole networks can be simulated in one process.

* Link up: advertise the new neighbour (link state, flooded: adverts are
  sent, taken or refused by ``links.linkstate``), then, if the
  peer was not reachable before (two networks joining), burst: every user,
  then every channel with its members, modes and topic. The burst waits for
  the peer's advert, which puts the peer in the routing tree: a change made
  here from then on is routed to it, one made before is in the burst.
* Events: a change made here goes down this server's routing tree; an event
  from a link is checked (duplicate? origin plausible for that link? within
  the bounds of ``links.quotas``, or the overfilling peer's link dropped?),
  applied, and forwarded down its origin's tree, never back where it came
  from. Channel traffic goes only towards servers with members there. Which
  neighbours, and which neighbour may bring what, is ``links.routing``.
* Link down: advertise the loss; users of servers no longer reachable quit
  with the netsplit reason ``"<server> <server>"``. When the lost link was
  part of a cycle nobody becomes unreachable, so nobody quits.
* Throttle counts: every server floods its per-address-block connection
  counts (``share_counts``, ``links.linkstate``), so the connection
  throttle is network-wide.
* Failover: confirmations and catch-up between neighbours (``catchup``).
  With a per-server store every channel message goes to every server, so
  each keeps every channel's history; with a shared store only to servers
  with members there.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field

from pydantic import BaseModel

from ..config import Links
from ..irc import remote, transitions
from ..irc.disruptions import Span
from ..irc.events import ChannelState, ChatMessage, ClockTick, Event, UserIntro
from ..irc.ids import MAX_AHEAD
from ..irc.state import ChatState
from . import protocol as lp
from . import quotas, restarts
from .admission import Admission
from .adverts import SignedAdverts
from .burst import BURST_MARK, burst, restates
from .catchup import REPLAY_SLACK, CatchUp
from .drops import drop_reason
from .guard import PeerRate
from .linkstate import CLOCK_INTERVAL, LinkState
from .loglimit import LogLimit
from .ownership import strangers
from .peers import LinkControl, LinkCounters, LinkSession, ServerInfo
from .restarts import Starts
from .routing import SETTLE_SECONDS, Routing, kept_everywhere
from .topology import Topology
from .views import LinkViews

log = logging.getLogger("chatnet.links")


@dataclass
class LinkManager(LinkState, LinkViews):
    """Routes link events for one server."""

    core: ChatState
    role: str = "hub"
    sessions: dict[str, LinkSession] = field(default_factory=dict)
    counters: dict[str, LinkCounters] = field(default_factory=dict)
    dropped: int = 0
    control: LinkControl | None = None

    def __post_init__(self) -> None:
        config = self.core.config
        self.topology = Topology(config.name)
        self.known: dict[str, ServerInfo] = {
            config.name: ServerInfo(config.server_id, config.description, self.role)
        }
        self.adverts = SignedAdverts(config.name)  # each server's latest, as it came
        self._burst_ids = itertools.count(1)
        self._bursted: set[str] = set()  # peers burst to on their current link
        self._burst_due: set[str] = set()  # peers to burst to once they are reachable
        self._next_clock = 0.0
        links = config.links
        self.rate = PeerRate(links.peer_rate, links.peer_burst)
        self._dropping: set[int] = set()  # links being dropped: flooding, overfilling
        self.log_limit = LogLimit()  # warnings about each peer's messages
        self.routing = Routing(self.core, self.topology, self.sid_of)
        self.admission = Admission(self.core, self.routing)
        self.starts = Starts()  # each server's latest start (``links.restarts``)
        self.catchup = CatchUp(
            self.core, self._send, lambda: self.sessions, self.routing.replay_problem
        )
        self.core.network = self
        self.core.disruptions.settle = SETTLE_SECONDS
        self.reconfigure(links)
        # Started (or restarted): the first catch-ups bring the window this
        # server missed, in their own order, and it remembers no disruption
        # until a neighbour tells it (``irc.disruptions``).
        self.core.disruptions.started(self.core.ids.now())

    # Link lifecycle.

    def link_up(self, session: LinkSession) -> None:
        """A link finished its handshake."""
        peer = session.peer
        # Checked again: the handshake began with the servers reachable then,
        # and another with a clashing ID may have come meanwhile.
        clash = lp.id_clash(self.reachable_sids(), session.peer_sid, peer)
        if clash is not None:
            log.warning("link %s: refused: %s", peer, clash)
            session.close(clash)
            return
        was_reachable = peer in self.topology.reachable()
        self.sessions[peer] = session
        self.counters.setdefault(peer, LinkCounters())
        self.known[peer] = ServerInfo(session.peer_sid, session.peer_description, session.peer_role)
        log.info("link up: %s -- %s (%s)", self.me, peer, "join" if not was_reachable else "cycle")
        self._advertise()
        for advert in list(self.topology.adverts.values()):
            if advert.server != self.me:
                self._send(peer, self._advert_message(advert))
        if not was_reachable:
            now = self.core.ids.now()
            self.core.disruptions.linked(now, peer)
            self.core.disruptions.returned(now, {peer})
            # Not yet: until the peer's advert confirms the link, the peer is
            # not in this server's routing tree, so a change made between a
            # burst now and that advert (a client registering on a server
            # that just restarted) would reach the peer by neither.
            self._burst_due.add(peer)
            self._send(peer, lp.WantBurst())
        self._tell_disruptions(peer)
        self.catchup.offer_window(peer)

    def _tell_disruptions(self, peer: str) -> None:
        """What this server knows of the network's recent disruptions, for a neighbour."""
        seen = self.core.disruptions
        now = self.core.ids.now()
        spans = [
            lp.DisruptionSpan(start=span.start, end=span.end, missing=span.missing)
            for span in seen.spans(now)
        ]
        for part in lp.disruption_parts(spans, seen.unknown(now), seen.cut_off()):
            self._send(peer, part)

    def link_down(self, session: LinkSession, reason: str) -> None:
        """A link closed (or failed): re-route, and split what is cut off."""
        peer = session.peer
        if self.sessions.get(peer) is not session:
            return
        del self.sessions[peer]
        self.rate.forget(id(session))
        self._dropping.discard(id(session))
        self._bursted.discard(peer)
        self._burst_due.discard(peer)
        self.catchup.forget(peer)
        held = self.log_limit.forget(peer)
        if held:
            log.warning("link %s: %d more warnings about it were not logged", peer, held)
        counters = self.counters.setdefault(peer, LinkCounters())
        counters.flaps += 1
        kind = drop_reason(reason)
        counters.drops[kind] = counters.drops.get(kind, 0) + 1
        before = self.topology.reachable()
        self._advertise()
        lost = self.topology.split(before)
        log.warning(
            "link down: %s -- %s (%s); cut off: %s",
            self.me,
            peer,
            reason,
            ", ".join(sorted(lost)) or "nobody",
        )
        self._disrupted(lost, unnoticed=session.silent_for())
        if not self.sessions:
            self.core.disruptions.unlinked(self.core.ids.now())
        self._netsplit(lost, f"{self.me} {peer}")
        self.catchup.resync()

    def reconfigure(self, links: Links) -> None:
        """A reloaded configuration: the link flood limit applies at once."""
        self.rate.rate, self.rate.burst = links.peer_rate, links.peer_burst
        # Nothing older than the sync window is ever caught up, so no
        # disruption makes a message come later than that.
        self.core.disruptions.keep = links.sync_window + REPLAY_SLACK

    def _burst_if_due(self, peer: str) -> None:
        """Burst to ``peer`` if it is owed one and now in the routing tree.

        From then on every change made here is routed to it as well, so
        the burst and the traffic after it leave no gap.
        """
        if peer in self._burst_due and peer in self.topology.reachable():
            self._burst(peer)

    def _burst(self, peer: str) -> None:
        """Everything this side knows, in dependency order: users, then channels."""
        self._burst_due.discard(peer)
        self._bursted.add(peer)
        for event in burst(self.core, self.me, self._burst_id):
            self._send(peer, event)

    def _burst_id(self) -> str:
        # Unique across restarts: a server killed and started again within
        # one second made the same ids, and its new burst (its users) was
        # dropped everywhere as one already seen.
        start, now, n = self.core.ids.start, int(time.time()), next(self._burst_ids)
        return f"{self.me}{BURST_MARK}{start}{now}:{n}"

    # Messages.

    def received(self, session: LinkSession, raw: str) -> None:
        """One message from an established link."""
        counters = self.counters.setdefault(session.peer, LinkCounters())
        counters.messages_in += 1
        counters.bytes_in += lp.utf8_size(raw)
        link = id(session)
        if link in self._dropping or self.sessions.get(session.peer) is not session:
            return  # being dropped: what is still queued is not applied
        try:
            message = lp.decode(raw)
        except lp.LinkProtocolError as exc:
            if self._flooded(session, session.peer):
                return
            self.warn(session.peer, "link %s: dropped a bad message: %s", session.peer, exc)
            self.dropped += 1
            return
        # An event counts for the server behind the peer only where this server
        # takes it from that peer (``Routing.may_pass_on``): a peer cannot get fresh
        # allowances by naming new origins.
        origin = session.peer
        if (
            not isinstance(message, BaseModel)
            and message.o not in (origin, self.me)
            and self.routing.may_pass_on(session.peer, message)
        ):
            origin = message.o
        if self._flooded(session, origin):
            return
        if isinstance(message, ClockTick):
            counters.clocks_in += 1
        if isinstance(message, lp.Advert):
            self._learn(session, message)
            self._burst_if_due(session.peer)
        elif isinstance(message, lp.Counts):
            self._counts(session, message)
        elif isinstance(message, lp.WantBurst):
            if session.peer not in self._bursted:
                log.info("link %s: asked for a burst", session.peer)
                self._burst_due.add(session.peer)
                self._burst_if_due(session.peer)
        elif isinstance(message, lp.Stored):
            self.core.replication.confirm_safe(message.ids)
        elif isinstance(message, lp.SyncIds):
            self.catchup.sync_received(session.peer, message)
        elif isinstance(message, lp.Replay):
            self.catchup.replay_received(session.peer, message)
        elif isinstance(message, lp.Disruptions):
            spans = [Span(span.start, span.end, span.missing) for span in message.spans]
            reachable = set(self.topology.reachable())
            now = self.core.ids.now()
            informed = message.unknown is None and not message.more
            if self.core.disruptions.heard(now, spans, message.lost, informed, reachable):
                # Informed now: a neighbour that linked here first learns it too.
                for peer in self.sessions:
                    if peer != session.peer:
                        self._tell_disruptions(peer)
        elif isinstance(message, lp.Ping | lp.Pong | lp.Ready | lp.Hello | lp.Auth | lp.Error):
            return  # the session handles these itself
        else:
            self._routed(session, message)

    def _flooded(self, session: LinkSession, origin: str) -> bool:
        """Count one message of ``origin`` on this link; True (and the link dropped) if too many."""
        link = id(session)
        if self.rate.admit(link, origin, time.monotonic(), origin != session.peer):
            return False
        limits = self.core.config.links
        whose = "" if origin == session.peer else f" from {origin}"
        self._drop(
            session,
            f"flooding: more than {limits.peer_burst:g} link messages{whose} at once "
            f"or {limits.peer_rate:g} a second",
        )
        return True

    def _drop(self, session: LinkSession, reason: str) -> None:
        """Drop a link whose peer misbehaves: what it still has queued is not applied."""
        self._dropping.add(id(session))
        self.dropped += 1
        log.warning("link %s: dropped the link: %s", session.peer, reason)
        session.close(reason)

    def send_clock(self, now: float) -> None:
        """Every ``CLOCK_INTERVAL`` (monotonic ``now``): tell every server this one's clock.

        Down this server's tree like its messages, so a server that heard it
        has every message stamped here before it: what bounds the look back
        of ``CHATHISTORY AFTER`` (``irc.ids``).
        """
        if now < self._next_clock or not self.sessions:
            return
        self._next_clock = now + CLOCK_INTERVAL
        self.catchup.resync_if_due()
        self.core.emit(ClockTick(ts=self.core.ids.now()))
        if self.core.disruptions.settle_assumption(self.core.ids.now()):
            # Informed by time: the neighbours that restarted meanwhile, told
            # only that this server did not know, learn that it knows now.
            for peer in self.sessions:
                self._tell_disruptions(peer)

    def _routed(self, session: LinkSession, event: Event) -> None:
        admission = self.admission
        if admission.duplicate(event):
            return  # already applied and forwarded
        sid_of = self.sid_of()
        why = admission.problem(session.peer, event, sid_of)
        if why is None:
            why = self._start_checked(session, event, sid_of.get(event.o))
        if why is None and isinstance(event, ChannelState):
            self._restated_by(session.peer, event)
        overfill = quotas.over(self.core, event) if why is None else None
        if overfill is not None:
            if overfill.server == session.peer and not restates(event):
                self._drop(session, overfill.why)  # the peer itself overfills: cut it off
                return
            why = overfill.why
        if why is not None:
            self.warn(
                session.peer,
                "link %s: dropped %s from %s: %s",
                session.peer,
                event.t,
                event.o,
                why,
            )
            self.dropped += 1
            # Not passed on either: events routed by interest are worked out again
            # here, where the user refused is unknown, and would end here.
            return
        admission.taken(event)
        remote.apply(self.core, event, sid_of)
        self._forward(event, exclude=session.peer)
        if (
            isinstance(event, ChatMessage)
            and event.o == session.peer
            and event.command != "TAGMSG"
            and kept_everywhere(event.target)
        ):
            self.catchup.will_confirm(session.peer, [event.tags.get("msgid", "")])

    def _start_checked(self, session: LinkSession, event: Event, sid: int | None) -> str | None:
        """The start of ``event``'s server (``links.restarts``): a new one first quits
        that server's users of earlier starts; events of a replaced one are refused,
        and its link dropped where it is the peer's own. Why refused (None: take it)."""
        if sid is None:
            return None
        if isinstance(event, ClockTick):
            start, ts = restarts.start_of(event.id, sid), event.ts
        elif isinstance(event, UserIntro):
            start, ts = restarts.uid_start(event.uid, sid), event.signon
        else:
            return None
        if start is None:
            return None
        # A stamp far ahead would pin the start heard last until a split.
        heard = self.starts.heard(event.o, start, min(ts, self.core.ids.now() + MAX_AHEAD))
        if heard == "replaced":
            why = f"of {event.o}'s start {start}, replaced since: it started again"
            if event.o == session.peer:
                self._drop(session, f"this link is {why}")
            return why
        if heard == "new":
            theirs = self.core.users_by_server.get(event.o, {}).values()
            earlier = restarts.earlier_users(theirs, sid, start)
            if earlier:
                log.warning(
                    "server %s started again (start %s) before its link went: %d users of "
                    "its earlier start quit",
                    event.o,
                    start,
                    len(earlier),
                )
                transitions.split_off(
                    self.core, earlier, f"{event.o} restarted", [event.o, event.o]
                )
        return None

    def _restated_by(self, peer: str, event: ChannelState) -> None:
        """Keep only the members of a burst's channel that are ``peer``'s to restate."""
        others = strangers(self.core, event, lambda server: self.routing.speaks_for(peer, server))
        if others:
            event.members = [member for member in event.members if member[0] not in others]
            self.warn(
                peer,
                "link %s: ignored %d of the members of %s in its burst: not users of "
                "servers behind this link (%s)",
                peer,
                len(others),
                event.name,
                ", ".join(sorted(others)[:5]),
            )

    def local_event(self, event: Event) -> None:
        """A change made here: send it down this server's tree."""
        if not isinstance(event, ClockTick):  # many, and harmless twice
            self.admission.remember(event)
        self._forward(event, exclude=None)

    def _forward(self, event: Event, exclude: str | None) -> None:
        """To the neighbours the routing picks (``links.routing``), never back to ``exclude``."""
        hops = self.routing.hops(event, self.sessions)
        hops.discard(exclude or "")
        if not hops:
            return
        text = lp.encode(event)
        for peer in hops:
            if peer in self.sessions:
                self._send_text(peer, text)
