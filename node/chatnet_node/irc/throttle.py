"""The connection throttle: connections per address block, counted across the network.

Pure bookkeeping, no I/O. A client's address maps to its *block* (the
address itself for IPv4 by default, its /64 for IPv6: ``limits.throttle``).
Each server counts, per block, the connections open here, the connections
still registering here, and the connection attempts of the last window.
Every ``shareInterval`` it tells the other servers its counts (the link
layer floods ``snapshot`` as one ``counts`` message; ``learn`` takes theirs),
so a new connection is judged by the sum over the whole network.

Memory and traffic stay bounded: attempts are kept only up to the limit
per block (more never changes the answer), at most ``MAX_BLOCKS`` blocks
are tracked, and a snapshot names at most ``MAX_SHARED`` blocks (the
busiest). A server that stops sharing (gone, or split off) is forgotten
after a few intervals.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, deque
from dataclasses import dataclass, field

from ..config import Throttle

#: Blocks one server tracks attempts for; beyond that the oldest are dropped.
MAX_BLOCKS = 100_000
#: Blocks one ``counts`` message names (the busiest): about 30 bytes each.
MAX_SHARED = 1000
#: A server's shared counts are forgotten after this many intervals of silence.
STALE_INTERVALS = 5

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: One shared entry: block, connections open, attempts in the window.
Entry = tuple[str, int, int]


def block_of(address: str, settings: Throttle, exempt: list[Network]) -> str | None:
    """The block ``address`` is counted under, or None (exempt, or not an IP address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:203.0.113.7 is 203.0.113.7
    if any(ip in net for net in exempt):
        return None
    bits = settings.ipv4_prefix if ip.version == 4 else settings.ipv6_prefix
    if bits == ip.max_prefixlen:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


@dataclass
class _Remote:
    """What another server last said."""

    seq: int
    at: float
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)


class ConnectionThrottle:
    """One server's per-block counts and the other servers' latest ones."""

    def __init__(self, settings: Throttle) -> None:
        self.open: Counter[str] = Counter()  # connections open here
        self.unregistered: Counter[str] = Counter()  # of those, still registering
        self.attempts: dict[str, deque[float]] = {}  # recent attempts here, oldest first
        self.remote: dict[str, _Remote] = {}
        self.handshakes: Counter[str] = Counter()  # TLS/WebSocket handshakes under way here
        self._shared_any = False
        self._last_share = 0.0
        self._seq = 0
        self.configure(settings)

    def configure(self, settings: Throttle) -> None:
        """Take new settings (a configuration reload); counts are kept."""
        self.settings = settings
        self.exempt: list[Network] = [ipaddress.ip_network(b) for b in settings.exempt]

    def block(self, address: str) -> str | None:
        """The block of ``address`` (None: not throttled)."""
        if not self.settings.enabled:
            return None
        return block_of(address, self.settings, self.exempt)

    # Connections.

    def admit(self, block: str | None, now: float) -> str | None:
        """Count an attempt from ``block``; why it is refused, or None.

        Every attempt counts, refused ones too: a block that keeps hammering
        stays throttled until it slows down.
        """
        if block is None:
            return None
        settings = self.settings
        recent = self._attempts(block, now)
        if len(recent) > settings.max_attempts:
            recent.popleft()  # one over the limit is all an answer needs
        recent.append(now)
        tried = len(recent) + sum(r.counts.get(block, (0, 0))[1] for r in self.remote.values())
        if tried > settings.max_attempts:
            wait = max(1, int(settings.window_seconds - (now - recent[0]) + 0.999))
            return (
                f"Throttled: too many connection attempts from {block} "
                f"(limit {settings.max_attempts} per {settings.window_seconds:g}s across "
                f"the network), try again in {wait}s"
            )
        open_now = self.open[block] + sum(
            r.counts.get(block, (0, 0))[0] for r in self.remote.values()
        )
        if open_now >= settings.max_connections:
            return (
                f"Throttled: too many connections from {block} "
                f"({open_now} open across the network, limit {settings.max_connections})"
            )
        if self.unregistered[block] >= settings.max_unregistered:
            return (
                f"Throttled: too many unregistered connections from {block} "
                f"(limit {settings.max_unregistered}), finish registering first"
            )
        return None

    def opened(self, block: str | None) -> None:
        """A connection from ``block`` was admitted."""
        if block is not None:
            self.open[block] += 1
            self.unregistered[block] += 1

    def registered(self, block: str | None) -> None:
        """A connection from ``block`` finished registering."""
        if block is not None:
            _decrement(self.unregistered, block)

    def closed(self, block: str | None, registered: bool) -> None:
        """A connection from ``block`` is gone."""
        if block is not None:
            _decrement(self.open, block)
            if not registered:
                _decrement(self.unregistered, block)

    def handshake_started(self, block: str | None, limit: int) -> bool:
        """A TLS or WebSocket handshake from ``block`` begins; False: too many under way."""
        if block is None:
            return True
        if self.handshakes[block] >= limit:
            return False
        self.handshakes[block] += 1
        return True

    def handshake_over(self, block: str | None) -> None:
        """A handshake from ``block`` finished, failed or timed out."""
        if block is not None:
            _decrement(self.handshakes, block)

    def _attempts(self, block: str, now: float) -> deque[float]:
        recent = self.attempts.get(block)
        if recent is None:
            if len(self.attempts) >= MAX_BLOCKS:
                del self.attempts[next(iter(self.attempts))]  # the least recently started
            recent = self.attempts[block] = deque()
        horizon = now - self.settings.window_seconds
        while recent and recent[0] <= horizon:
            recent.popleft()
        return recent

    # Sharing with the other servers.

    def share_due(self, now: float) -> bool:
        """Is it time to tell the other servers this server's counts?"""
        return now - self._last_share >= self.settings.share_interval

    def snapshot(self, now: float) -> tuple[int, list[Entry]] | None:
        """This server's counts to share, with a fresh sequence number.

        None when there is nothing new to say (no counts now, none last time).
        Also forgets expired attempts and servers silent for too long.
        """
        self._last_share = now
        self._expire(now)
        busy: Counter[str] = Counter(self.open)
        for block, recent in self.attempts.items():
            busy[block] += len(recent)
        if not busy and not self._shared_any:
            return None
        self._shared_any = bool(busy)
        entries = [
            (block, self.open[block], len(self.attempts.get(block, ())))
            for block, _ in busy.most_common(MAX_SHARED)
        ]
        # Milliseconds since the epoch: still increasing after a restart.
        self._seq = max(self._seq + 1, int(now * 1000))
        return self._seq, entries

    def learn(self, server: str, seq: int, entries: list[Entry], now: float) -> bool:
        """Another server's counts; False when they are not newer than what is known."""
        known = self.remote.get(server)
        if known is not None and seq <= known.seq:
            return False
        counts = {block: (max(0, o), max(0, a)) for block, o, a in entries[:MAX_SHARED]}
        self.remote[server] = _Remote(seq, now, counts)
        return True

    def forget(self, servers: set[str]) -> None:
        """Servers that left the network: their connections are gone with them."""
        for server in servers:
            self.remote.pop(server, None)

    def _expire(self, now: float) -> None:
        horizon = now - self.settings.window_seconds
        for block in [
            b for b, recent in self.attempts.items() if not recent or recent[-1] <= horizon
        ]:
            del self.attempts[block]
        stale = now - STALE_INTERVALS * self.settings.share_interval - 1.0
        for server in [s for s, r in self.remote.items() if r.at < stale]:
            del self.remote[server]


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
