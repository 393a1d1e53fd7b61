"""What the link manager expects of a link, and what it keeps per peer server.

``LinkSession`` and ``LinkControl`` are the shapes the asyncio adapters
(``links.session``, ``links.dialer``) give the manager; ``LinkCounters``
and ``ServerInfo`` are its books, for /metrics, /status and LINKS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .drops import DROP_REASONS

__all__ = ["LinkControl", "LinkCounters", "LinkSession", "ServerInfo"]


class LinkSession(Protocol):
    """One established link, as the manager uses it."""

    peer: str
    peer_sid: int
    peer_role: str
    peer_description: str
    #: The last measured round trip in seconds (None before the first pong).
    rtt: float | None

    def send(self, text: str) -> None:
        """Queue one link message (never blocks)."""

    def close(self, reason: str) -> None:
        """Send ``error`` with the reason and close the link."""

    def info(self) -> dict[str, object]:
        """State for /status: direction, round-trip time, queued bytes..."""

    def silent_for(self) -> float:
        """Seconds since anything last came over this link."""


class LinkControl(Protocol):
    """Dialing, owned by the runtime: what CONNECT and SQUIT reach."""

    def connect(self, name: str) -> str | None:
        """Dial ``name`` now; returns why not, or None."""

    def squit(self, name: str, reason: str) -> str | None:
        """Close the link to ``name``; returns why not, or None."""


@dataclass
class LinkCounters:
    """Per-peer traffic counters for /metrics."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    flaps: int = 0
    #: Times the link went down, by kind of reason (``drops.drop_reason``); every
    #: kind from 0, so that a rate over the first drop sees it.
    drops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    clocks_in: int = 0  # of messages_in, the ``clock`` events (two a second per server)


@dataclass
class ServerInfo:
    """What the network knows of one server (from its adverts)."""

    sid: int
    description: str = ""
    role: str = "hub"
