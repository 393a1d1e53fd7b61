"""What the core and the admin port ask of the link manager: servers, links, their counters.

LINKS and MAP (``servers``), CONNECT and SQUIT (handed to the dialer), and
the per-peer books /metrics and /status show. Read-only over the manager's
state, apart from CONNECT and SQUIT, which the dialer carries out.
"""

from __future__ import annotations

from ..irc.network import ServerView
from .peers import LinkControl, LinkCounters, LinkSession, ServerInfo
from .topology import Topology


class LinkViews:
    """The manager's answers to LINKS, MAP, CONNECT, SQUIT, /metrics and /status."""

    topology: Topology
    known: dict[str, ServerInfo]
    sessions: dict[str, LinkSession]
    counters: dict[str, LinkCounters]
    control: LinkControl | None

    def servers(self) -> list[ServerView]:
        """Every reachable server, this one first, then by hops and name."""
        topology = self.topology
        views = []
        for name in topology.reachable():
            info = self.known.get(name, ServerInfo(0))
            views.append(
                ServerView(
                    name=name,
                    uplink=topology.uplink_of(name) or name,
                    hops=topology.hops(name) or 0,
                    description=" ".join(info.description.split()),  # one line
                    sid=info.sid,
                )
            )
        return sorted(views, key=lambda v: (v.hops, v.name))

    def beside(self, server: str) -> str:
        """The server next to ``server`` on the way there from here (``NetworkHooks``)."""
        return self.topology.uplink_of(server) or self.topology.me

    def connect(self, name: str) -> str | None:
        """CONNECT: dial a configured peer."""
        if self.control is None:
            return "links are not configured on this server"
        return self.control.connect(name)

    def squit(self, name: str, reason: str) -> str | None:
        """SQUIT: close a link (it stays down until CONNECT)."""
        if self.control is None:
            return "links are not configured on this server"
        return self.control.squit(name, reason)

    def link_metrics(self) -> dict[str, dict[str, int]]:
        """Per peer (current or past): traffic counters and flaps."""
        return {
            peer: {
                "messages_in": c.messages_in,
                "messages_out": c.messages_out,
                "bytes_in": c.bytes_in,
                "bytes_out": c.bytes_out,
                "flaps": c.flaps,
            }
            for peer, c in self.counters.items()
        }

    def link_drops(self) -> dict[str, dict[str, int]]:
        """Per peer (current or past): times its link went down, by kind of reason."""
        return {peer: dict(c.drops) for peer, c in self.counters.items()}

    def link_rtts(self) -> dict[str, float]:
        """Per linked peer: the last measured round trip in seconds (unmeasured ones left out)."""
        return {
            peer: session.rtt for peer, session in self.sessions.items() if session.rtt is not None
        }

    def status(self) -> list[dict[str, object]]:
        """Every established link, for /status."""
        result = []
        for peer, session in sorted(self.sessions.items()):
            counters = self.counters.get(peer, LinkCounters())
            result.append(
                {
                    "peer": peer,
                    "serverId": session.peer_sid,
                    "role": session.peer_role,
                    "up": True,
                    "state": "up",
                    **session.info(),
                    "messagesIn": counters.messages_in,
                    "messagesOut": counters.messages_out,
                    "clocksIn": counters.clocks_in,
                }
            )
        return result
