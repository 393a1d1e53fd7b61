"""What the link manager expects of a link, and what it keeps per peer server.

``LinkSession`` and ``LinkControl`` are the shapes the asyncio adapters
(``links.session``, ``links.dialer``) give the manager; ``LinkCounters``
and ``KnownServers`` (a ``ServerInfo`` each) are its books, for /metrics,
/status and LINKS, and for judging whose a msgid is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .drops import DROP_REASONS

__all__ = ["KnownServers", "LinkControl", "LinkCounters", "LinkSession", "ServerInfo"]


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
    start: str = ""  # its msgids' random part (``irc.ids``); empty: not told

    @property
    def prefix(self) -> str:
        """What its msgids of this start begin with (empty: its start is not known)."""
        return f"{self.sid:x}{self.start}" if self.start else ""


class KnownServers(Mapping[str, ServerInfo]):
    """The servers this one knows of (this one too), by name, from hellos and adverts."""

    def __init__(self, me: str, info: ServerInfo) -> None:
        self._servers = {me: info}
        self._owners: dict[str, str] | None = None
        self._refused: dict[str, str] = {}  # per server, the last start refused (logged once)

    def __getitem__(self, name: str) -> ServerInfo:
        return self._servers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._servers)

    def __len__(self) -> int:
        return len(self._servers)

    def learn(self, name: str, info: ServerInfo) -> None:
        """What ``name`` is now; a start left empty keeps the one known for the same ID.

        A hello tells no start; the advert that follows it does.
        """
        old = self._servers.get(name)
        if not info.start and old is not None and old.sid == info.sid:
            info.start = old.start
        self._servers[name] = info
        self._owners = None

    def forget(self, name: str) -> None:
        """``name`` left the network."""
        self._refused.pop(name, None)
        if self._servers.pop(name, None) is not None:
            self._owners = None

    def heard(self, name: str, event_id: str) -> str | None:
        """An event of ``name``'s was taken: its id tells ``name``'s current start.

        Event ids, like msgids, begin with their server's ID in hex and its
        start (``irc.ids``). Returns why a new start is not taken, once per
        start refused (None: taken, the same as before, or not that shape): a
        prefix that begins another server's, or that another's begins, would
        let the msgids of one pass as the other's. So a server cannot claim
        a start that covers another's msgids; the first to tell keeps it.
        """
        info = self._servers.get(name)
        if info is None or (info.start and event_id.startswith(info.prefix)):
            return None
        width = len(f"{info.sid:x}") + 6
        prefix = event_id[:width]
        if event_id[width : width + 1] != "e" or not _is_prefix_of(info.sid, prefix):
            return None
        for other, owner in self.owners().items():
            if owner != name and (other.startswith(prefix) or prefix.startswith(other)):
                if self._refused.get(name) == prefix:
                    return None
                self._refused[name] = prefix
                return f"its start {prefix[width - 6 :]} would make {owner}'s msgids fit its own"
        info.start = prefix[width - 6 :]
        self._refused.pop(name, None)
        self._owners = None
        return None

    def sids(self) -> dict[str, int]:
        """Server name to server ID."""
        return {name: info.sid for name, info in self._servers.items()}

    def owners(self) -> dict[str, str]:
        """Each current msgid prefix (server ID in hex, then start) to its server."""
        if self._owners is None:
            self._owners = {
                info.prefix: name for name, info in self._servers.items() if info.prefix
            }
        return self._owners


_HEX = frozenset("0123456789abcdef")


def _is_prefix_of(sid: int, prefix: str) -> bool:
    """Is ``prefix`` server ``sid``'s ID in hex and 6 hex digits of start?"""
    head = f"{sid:x}"
    return len(prefix) == len(head) + 6 and prefix.startswith(head) and set(prefix) <= _HEX
