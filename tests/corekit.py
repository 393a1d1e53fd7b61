"""Chat servers in the test process: a ``ChatCore`` fed lines, its bytes read back.

No socket, no subprocess, no event loop: the IRC core does no I/O, so a
test drives it exactly (every line a client gets, in order, byte for byte)
and fast. ``CoreServer`` is one server with a clock the test moves;
``CoreNetwork`` is several, linked by in-memory links through their real
``LinkManager``s, settled until no link message is in flight::

    server = CoreServer()
    alice, bob = server.user("alice", caps="echo-message"), server.user("bob")
    alice.send("JOIN #room")
    bob.send("JOIN #room")
    bob.lines()  # what bob got so far, read and forgotten
    alice.send("PRIVMSG #room :hi")
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :hi"]

Tests of what only sockets show (framing, TLS, a slow reader, the process)
stay on real sockets (``tests/irc/``).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatnet_node.config import NodeConfig
from chatnet_node.history.sqlite import SqliteHistory
from chatnet_node.irc import wire
from chatnet_node.irc.commands.table import COMMANDS
from chatnet_node.irc.core import ChatCore
from chatnet_node.irc.model import Client
from chatnet_node.links.manager import LinkManager

START = 1_800_000_000.0  # 2027-01-15: far from any real clock, so nothing mixes them up


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingSink:
    """A Sink that keeps what the core writes, like a socket that never blocks."""

    def __init__(self, core: ChatCore, kind: int = wire.STREAM) -> None:
        self.core = core
        self.kind = kind
        self.data: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def close(self) -> None:
        self.closed = True

    def lines(self) -> list[str]:
        """Every line written since the last call (after the end-of-turn flush)."""
        self.core.flush()  # what the adapter does at the end of each loop turn
        data = b"".join(self.data)
        self.data.clear()
        if self.kind != wire.STREAM:
            return [payload.decode() for payload in _frames(data)]
        return [line for line in data.decode().split("\r\n") if line]


def _frames(data: bytes) -> list[bytes]:
    """The payloads of unmasked server-to-client WebSocket frames, one line each."""
    payloads = []
    while data:
        size, start = data[1] & 0x7F, 2
        if size == 126:
            size, start = int.from_bytes(data[2:4], "big"), 4
        elif size == 127:
            size, start = int.from_bytes(data[2:10], "big"), 10
        payloads.append(data[start : start + size])
        data = data[start + size :]
    return payloads


@dataclass(eq=False)
class CoreUser:
    """One client connection to a ``CoreServer``."""

    server: CoreServer
    client: Client
    sink: RecordingSink

    @property
    def nick(self) -> str:
        return self.client.nick

    @property
    def closed(self) -> bool:
        """The server closed the connection (after its ERROR)."""
        return self.sink.closed

    def send(self, *lines: str | bytes) -> None:
        """Lines from the client, each without its CR LF."""
        for line in lines:
            data = line.encode() if isinstance(line, str) else line
            self.server.core.receive_line(self.client, data)

    def lines(self) -> list[str]:
        """What the client got since the last call, one string per line."""
        return self.sink.lines()

    def ask(self, *lines: str | bytes) -> list[str]:
        """Send lines and return everything the client got, theirs included."""
        self.lines()
        self.send(*lines)
        return self.lines()

    def numerics(self) -> list[str]:
        """The commands (numerics included) of what the client got since the last call."""
        return [_command(line) for line in self.lines()]


def _command(line: str) -> str:
    words = line.split(" ")
    if words[0].startswith("@"):
        words = words[1:]
    if words[0].startswith(":"):
        words = words[1:]
    return words[0]


class CoreServer:
    """One chat server in the test process, with history in memory (or a file)."""

    def __init__(self, name: str = "unit", history: Path | None = None, **config: Any) -> None:
        self.clock = FakeClock()
        # Cloaks off unless a test asks: exact lines show the real address.
        settings: dict[str, Any] = {
            "name": name,
            "network": "TestNet",
            "cloaks": {"enabled": False},
            **config,
        }
        if history is not None:
            settings.setdefault("history", {})["path"] = str(history)
        self.config = NodeConfig.model_validate(settings)
        self.core = ChatCore(self.config, SqliteHistory(history), COMMANDS, clock=self.clock)

    def connection(
        self, address: str = "127.0.0.1", kind: int = wire.STREAM, secure: bool = False
    ) -> CoreUser:
        """A new connection, not registered yet."""
        sink = RecordingSink(self.core, kind)
        client = self.core.connect(sink, address, secure)
        assert client is not None, f"refused: {b''.join(sink.data)!r}"
        return CoreUser(self, client, sink)

    def user(self, nick: str, caps: str = "", realname: str = "", **connection: Any) -> CoreUser:
        """A registered client (its welcome burst already read)."""
        user = self.connection(**connection)
        if caps:
            user.send(f"CAP REQ :{caps}")
        user.send(f"NICK {nick}", f"USER {nick} 0 * :{realname or nick + ' Real'}")
        if caps:
            user.send("CAP END")
        assert user.client.registered, user.lines()
        user.lines()
        return user

    def room(self, *members: tuple[str, str], channel: str = "#room") -> list[CoreUser]:
        """``(nick, caps)`` users who joined ``channel`` in this order (the first one
        made it: an operator); what they got so far is read."""
        users = [self.user(nick, caps) for nick, caps in members]
        for user in users:
            user.send(f"JOIN {channel}")
        for user in users:
            user.lines()
        return users

    def tick(self, seconds: float = 0.0) -> None:
        """Let time pass and the server's clock tick."""
        self.clock.now += seconds
        self.core.tick()


Wire = deque[tuple["MemSession", str]]


@dataclass(eq=False)
class MemSession:
    """One end of an in-memory link."""

    manager: LinkManager
    peer: str
    peer_sid: int
    wire: Wire
    peer_role: str = "hub"
    peer_description: str = ""
    other: MemSession | None = None
    rtt: float | None = None
    closed: bool = False
    sent: list[str] = field(default_factory=list)
    silent: float = 0.0  # what ``silent_for`` says: a test sets how long the link was dead

    def send(self, text: str) -> None:
        assert self.other is not None
        if not self.closed:
            self.sent.append(text)
            self.wire.append((self.other, text))

    def close(self, reason: str) -> None:
        self.closed = True

    def info(self) -> dict[str, object]:
        return {}

    def silent_for(self) -> float:
        return self.silent


class CoreNetwork:
    """Servers, their links and the wire between them, in one process."""

    def __init__(self, *names: str, **config: Any) -> None:
        self.wire: Wire = deque()
        self.servers: dict[str, CoreServer] = {}
        self.managers: dict[str, LinkManager] = {}
        self.links: dict[frozenset[str], tuple[MemSession, MemSession]] = {}
        for sid, name in zip(itertools.count(10), names, strict=False):
            others = [n for n in names if n != name]
            server = CoreServer(name, serverId=sid, network="t", links={"accept": others}, **config)
            self.servers[name] = server
            self.managers[name] = LinkManager(server.core)

    @property
    def cores(self) -> dict[str, ChatCore]:
        return {name: server.core for name, server in self.servers.items()}

    def pair(self, a: str, b: str) -> tuple[MemSession, MemSession]:
        """The two ends of a new link between ``a`` and ``b``, not yet up
        (a test brings each end up when it wants: ``manager.link_up(end)``)."""
        ma, mb = self.managers[a], self.managers[b]
        sa = MemSession(ma, b, self.servers[b].config.server_id, self.wire)
        sb = MemSession(mb, a, self.servers[a].config.server_id, self.wire)
        sa.other, sb.other = sb, sa
        self.links[frozenset((a, b))] = (sa, sb)
        return sa, sb

    def link(self, a: str, b: str) -> None:
        sa, sb = self.pair(a, b)
        self.managers[a].link_up(sa)
        self.managers[b].link_up(sb)
        self.settle()

    def cut(self, a: str, b: str) -> None:
        sa, sb = self.links.pop(frozenset((a, b)))
        sa.closed = sb.closed = True
        self.managers[a].link_down(sa, "cut")
        self.managers[b].link_down(sb, "cut")
        self.settle()

    def settle(self) -> None:
        """Deliver link messages (and end loop turns) until nothing is in flight."""
        for _ in range(100_000):
            if not self.wire:
                for server in self.servers.values():
                    server.core.flush()  # the end of a loop turn: commits, then ``stored``
                if not self.wire:
                    return
                continue
            session, text = self.wire.popleft()
            if not session.closed:
                session.manager.received(session, text)
        raise AssertionError("the network did not settle")

    def user(self, server: str, nick: str, caps: str = "") -> CoreUser:
        user = self.servers[server].user(nick, caps)
        self.settle()
        user.lines()
        return user

    def say(self, user: CoreUser, *lines: str) -> None:
        """Lines from a user, then the network settles."""
        user.send(*lines)
        self.settle()


def in_room(server: CoreServer, *nicks: str, channel: str = "#room") -> list[CoreUser]:
    """Users who joined ``channel`` in this order (the first one made it: an operator),
    with nothing left unread."""
    users = [server.user(nick) for nick in nicks]
    for user in users:
        user.send(f"JOIN {channel}")
    for user in users:
        user.lines()
    return users
