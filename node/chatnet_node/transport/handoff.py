"""Client connections handed over by a local front door, as file descriptors.

``chatnet up``'s front door accepts a client, picks a server, and passes the
accepted socket itself over a Unix ``SOCK_SEQPACKET`` socket (``SCM_RIGHTS``),
one message per connection: ``i`` for IRC, ``w`` for WebSocket/HTTP, ``t`` for IRC
over TLS (the node runs the handshake, with its ``ircTls`` certificate). The node
then serves it exactly as if it had accepted it (and sees the client's real
address). The front door keeps no socket and relays no byte, so it costs
nothing per connected client.

The socket lives in the abstract namespace (a name, not a file): nothing to
clean up, and no path-length limit. Only processes in this network namespace
can reach it, and what they can hand over is a connection to this server,
which they could have opened themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger("chatnet.node")

#: Connections read from the handoff socket per wake-up (fairness to other work).
BATCH = 64


def abstract_address(name: str) -> str:
    """The socket address of handoff name ``name`` (Linux abstract namespace)."""
    return "\0" + name


class HandoffServer:
    """Receives accepted client sockets and starts ``factories[kind]`` protocols on them."""

    def __init__(self, name: str, factories: Mapping[bytes, Callable[[], asyncio.Protocol]]):
        self.name = name
        self.factories = factories
        self.sock: socket.socket | None = None
        self.peers: set[socket.socket] = set()
        self.tasks: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        sock.bind(abstract_address(self.name))
        sock.listen(16)
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        assert self.sock is not None
        try:
            peer, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        peer.setblocking(False)
        self.peers.add(peer)
        asyncio.get_running_loop().add_reader(peer.fileno(), self._receive, peer)

    def _receive(self, peer: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(BATCH):
            try:
                kind, fds, _flags, _addr = socket.recv_fds(peer, 16, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("handoff: %s", exc)
                kind, fds = b"", []
            if not kind and not fds:
                self._drop(peer)  # the front door went away
                return
            factory = self.factories.get(kind[:1])
            for fd in fds:
                client = socket.socket(fileno=fd)
                if factory is None or client.type != socket.SOCK_STREAM:
                    client.close()
                    continue
                client.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(factory, client))
                self.tasks.add(task)
                task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[object]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("handoff: cannot serve a handed-over client: %s", task.exception())

    def _drop(self, peer: socket.socket) -> None:
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(peer.fileno())
        self.peers.discard(peer)
        peer.close()

    def close(self) -> None:
        for peer in list(self.peers):
            self._drop(peer)
        if self.sock is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
