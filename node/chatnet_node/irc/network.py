"""What the core asks of the network it is linked into (the link layer answers).

The core never imports the link layer: ``links.manager`` implements
``NetworkHooks`` and plugs itself in (``ChatState.network``); a server with
no links has none, and answers LINKS, MAP and LUSERS for itself alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .events import Event


@dataclass(frozen=True, slots=True)
class ServerView:
    """One server as LINKS and MAP show it."""

    name: str
    uplink: str
    hops: int
    description: str
    sid: int


class NetworkHooks(Protocol):
    """What the core tells and asks the link layer."""

    def local_event(self, event: Event) -> None:
        """A change made on this server, to route to the servers that need it."""

    def servers(self) -> list[ServerView]:
        """Every reachable server, this one first, for LINKS, MAP and LUSERS."""

    def beside(self, server: str) -> str:
        """The server next to ``server`` on the way there from here (this one, if linked).

        Where two networks join, the end of the new link on this side: what a
        ``netjoin`` batch names with the server that came back.
        """

    def connect(self, name: str) -> str | None:
        """CONNECT: dial a configured peer; returns why not, or None."""

    def squit(self, name: str, reason: str) -> str | None:
        """SQUIT: close the link to a neighbour; returns why not, or None."""

    def status(self) -> list[dict[str, object]]:
        """Every link, for /status."""

    def link_metrics(self) -> dict[str, dict[str, int]]:
        """Per peer: messagesIn/Out, bytesIn/Out and flaps, for /metrics."""

    def link_drops(self) -> dict[str, dict[str, int]]:
        """Per peer: times its link went down, by kind of reason, for /metrics."""

    def link_rtts(self) -> dict[str, float]:
        """Per linked peer: the last measured round trip in seconds, for /metrics."""
