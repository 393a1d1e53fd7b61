"""Link state between servers: adverts, who is reachable under which ID, throttle counts.

Every server floods an advert of its links (``links.topology`` keeps what
they say, ``links.adverts`` the messages, signed where the network signs).
Here the manager's part of that: this server's advert sent when its links
change, another's taken only if it is news, signed by its server where
adverts must be, and under a server ID that clashes with no reachable
server's (``lp.id_clash``); a server that becomes reachable later under a
clashing ID is not heard, and one beyond ``links.maxServers`` not kept
(``quotas``). Servers no longer reachable are split off (their
users quit). The connection throttle's counts are flooded the same way.

A mixin of ``LinkManager`` (``links.manager``), which holds the state named
below; plain methods over it, no I/O but the sessions' ``send``.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterable

from ..irc import transitions
from ..irc.state import ChatState
from . import protocol as lp
from . import quotas
from .admission import Admission
from .adverts import SignedAdverts
from .catchup import CatchUp
from .loglimit import WINDOW, LogLimit
from .peers import LinkCounters, LinkSession, ServerInfo
from .restarts import Starts
from .routing import Routing
from .signatures import AdvertSignatures
from .topology import Advert, Topology

log = logging.getLogger("chatnet.links")

#: Seconds between this server's ``clock`` events (``irc.ids``).
CLOCK_INTERVAL = 0.5


class LinkState:
    """Adverts and throttle counts, taken and sent: the manager's link state."""

    core: ChatState
    topology: Topology
    known: dict[str, ServerInfo]
    sessions: dict[str, LinkSession]
    counters: dict[str, LinkCounters]
    adverts: SignedAdverts
    routing: Routing
    admission: Admission
    catchup: CatchUp
    starts: Starts
    dropped: int
    log_limit: LogLimit

    @property
    def me(self) -> str:
        return self.core.config.name

    @property
    def signatures(self) -> AdvertSignatures | None:
        """With ``links.signAdverts``: signs ours, checks everyone else's."""
        return self.adverts.signatures

    @signatures.setter
    def signatures(self, signatures: AdvertSignatures | None) -> None:
        self.adverts.signatures = signatures

    def warn(self, peer: str, text: str, *args: object) -> None:
        """A warning about what ``peer`` sent, within the peer's share of the log
        (``links.loglimit``): a peer refused at its link's rate fills no disk."""
        write, held = self.log_limit.admit(peer, time.monotonic())
        if held:
            log.warning(
                "link %s: %d more warnings about it were not logged in %g s", peer, held, WINDOW
            )
        if write:
            log.warning(text, *args)

    def sid_of(self) -> dict[str, int]:
        """Server name to server ID, for the collision tie-break."""
        return {name: info.sid for name, info in self.known.items()}

    def reachable_sids(self) -> dict[str, int]:
        """The server IDs of the servers reachable now (this one too): taken in this network."""
        reachable = self.topology.reachable()
        return {name: info.sid for name, info in self.known.items() if name in reachable}

    def use_signatures(self, signatures: AdvertSignatures | None) -> None:
        """Sign adverts (and take only signed ones) with these, or stop (None).

        Turned on or off by a reload, this server advertises again, so its
        neighbours get its advert in the new form.
        """
        changed = signatures is not self.signatures
        self.signatures = signatures
        if changed and self.sessions:
            self._advertise()

    def _disrupted(self, lost: set[str], unnoticed: float | None = None) -> None:
        """A link went, here or elsewhere: what it held up may come late (``irc.disruptions``).

        ``unnoticed``: how long it carried nothing before it went (one of this
        server's links); another server's link may have been dead a ping timeout.
        """
        if unnoticed is None:
            unnoticed = self.core.config.links.ping_timeout
        self.core.disruptions.lost(self.core.ids.now(), unnoticed + CLOCK_INTERVAL, lost)

    def _utc_now(self) -> datetime.datetime:
        """This server's clock as certificates are checked against it."""
        return datetime.datetime.fromtimestamp(self.core.clock(), datetime.UTC)

    def _advertise(self) -> None:
        self.routing.unsettle()
        advert = self.topology.set_my_neighbours(self.sessions)
        text = lp.encode(self._advert_message(advert))
        for peer in self.sessions:
            self._send_text(peer, text)

    def _advert_message(self, advert: Advert) -> lp.Advert:
        """The advert as sent: another server's as it came (its signature intact), ours signed."""
        info = self.known.get(advert.server, ServerInfo(0))
        message = lp.Advert(
            server=advert.server,
            sid=info.sid,
            seq=advert.seq,
            neighbours=sorted(advert.neighbours),
            description=info.description,
            role=info.role,
        )
        return self.adverts.outgoing(message)

    def _authentic(self, session: LinkSession, message: lp.Advert) -> bool:
        """Is ``message`` news signed by its own server (when adverts must be signed)?

        And under a server ID that clashes with no other server's here
        (``lp.id_clash``): ids (uids, msgids, event ids) are judged by their
        server's ID, so a server claiming another's, or one whose hex begins
        alike, could speak in its ids.
        """
        known = self.topology.adverts.get(message.server)
        if message.server == self.me or (known is not None and known.seq >= message.seq):
            return False  # old news: nothing to check
        why = self.adverts.advert_problem(message, self._utc_now())
        if why is None:  # as the handshake checks a peer's hello
            why = lp.id_clash(self.reachable_sids(), message.sid, message.server)
        if why is None:
            others = self.topology.reachable() - {self.me}
            why = quotas.too_many_servers(message.server, others, self.core.config.links)
        if why is None:
            return True
        self.warn(
            session.peer,
            "link %s: refused the advert of %s (seq %d): %s",
            session.peer,
            message.server,
            message.seq,
            why,
        )
        self.dropped += 1
        return False

    def _check_ids(self, arrived: set[str]) -> None:
        """Servers just reachable: one whose ID clashes with another's is not heard.

        Its own advert was checked when it came (``_authentic``), but a server
        may become reachable later, by another's advert, and two may come at once.
        """
        clashing = self.admission.clashing
        heard = {
            name: sid
            for name, sid in self.reachable_sids().items()
            if name not in arrived and name not in clashing
        }
        for server in sorted(arrived):
            info = self.known.get(server)
            if info is None or server in clashing:
                continue
            why = lp.id_clash(heard, info.sid, server)
            if why is None:
                heard[server] = info.sid
            else:
                clashing[server] = why
                log.warning("server %s: its events are refused: %s", server, why)

    def _netsplit(self, lost: set[str], reason: str) -> None:
        for name in lost:
            self.admission.clashing.pop(name, None)
        if not lost:
            return
        transitions.netsplit(self.core, lost, reason)
        self.routing.cut_off(lost)
        self.core.ids.forget(lost)
        self.starts.forget(lost)
        self.core.throttle.forget(lost)
        self._forget_servers(lost)

    def _forget_servers(self, servers: Iterable[str]) -> None:
        """Let these servers' adverts go: the graph's, what is known of them, the messages."""
        servers = list(servers)
        if not servers:
            return  # nothing to forget: the routes stay computed
        self.topology.forget(servers)
        for name in servers:
            self.known.pop(name, None)
        self.adverts.forget(servers)

    def _learn(self, session: LinkSession, message: lp.Advert) -> None:
        if not self._authentic(session, message):
            return
        advert = Advert(message.server, message.seq, frozenset(message.neighbours))
        previous = self.topology.adverts.get(message.server)
        before = self.topology.reachable()
        if not self.topology.learn(advert):
            return
        self.adverts.learnt(message)
        if previous is None or previous.neighbours != advert.neighbours:
            self.routing.unsettle()
        if message.server not in self.known or self.known[message.server].sid != message.sid:
            self.known[message.server] = ServerInfo(message.sid, message.description, message.role)
        text = lp.encode(message)
        for peer in self.sessions:
            if peer != session.peer:
                self._send_text(peer, text)
        lost = self.topology.split(before)
        gone = (previous.neighbours if previous else frozenset()) - advert.neighbours
        if lost or gone:
            self._disrupted(lost)
        back = self.topology.reachable() - before
        if back:
            self.core.disruptions.returned(self.core.ids.now(), back)
            self._check_ids(back)
        if lost:
            other = sorted(gone)[0] if gone else session.peer
            self._netsplit(lost, f"{message.server} {other}")
        if gone:
            self.catchup.resync()
        # After the split: the servers it cut off have been let go as such.
        self._forget_servers(self.topology.unreachable_past(2 * self.core.config.links.max_servers))

    def share_counts(self, now: float) -> None:
        """Every ``shareInterval``: tell every server this one's throttle counts."""
        throttle = self.core.throttle
        if not throttle.share_due(now):
            return
        snapshot = throttle.snapshot(now)
        if snapshot is None or not self.sessions:
            return
        seq, entries = snapshot
        counts = lp.Counts(server=self.me, seq=seq, blocks=entries)
        text = lp.encode(self.adverts.sign_counts(counts))
        for peer in self.sessions:
            self._send_text(peer, text)

    def _counts(self, session: LinkSession, message: lp.Counts) -> None:
        """Another server's counts: keep them if newer, and pass them on."""
        if message.server == self.me or message.server not in self.topology.reachable():
            return  # ours coming back, or from a server not (yet) in the network
        why = self.adverts.counts_problem(message, self._utc_now())
        if why is not None:
            self.warn(
                session.peer,
                "link %s: refused the throttle counts of %s: %s",
                session.peer,
                message.server,
                why,
            )
            self.dropped += 1
            return
        if not self.core.throttle.learn(message.server, message.seq, message.blocks, time.time()):
            return  # seen already, by another path
        text = lp.encode(message)
        for peer in self.sessions:
            if peer != session.peer:
                self._send_text(peer, text)

    def _send(self, peer: str, message: lp.AnyMessage) -> None:
        self._send_text(peer, lp.encode(message))

    def _send_text(self, peer: str, text: str) -> None:
        session = self.sessions.get(peer)
        if session is None:
            return
        counters = self.counters.setdefault(peer, LinkCounters())
        counters.messages_out += 1
        counters.bytes_out += lp.utf8_size(text)
        session.send(text)
