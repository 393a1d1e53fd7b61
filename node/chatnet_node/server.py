"""The node runtime: listeners, the clock, config reload and graceful drain.

This is the only module that owns the event loop's resources for a node. It
builds the core, opens every listener at once (TCP, TLS, WebSocket+HTTP),
ticks the core's clock, reloads the configuration on SIGHUP or when the file
changes, and on SIGTERM drains: ``/readyz`` turns 503, new clients are told
to go elsewhere, connected ones are asked to reconnect and, after the grace
period, disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, NodeConfig, load_config
from .core import ChatCore
from .history import HistoryStore
from .httpapi import HttpRoutes
from .links.session import LinkRuntime
from .metrics import make_registry
from .transport import IrcStreamProtocol, flush_soon
from .websocket import WebSocketProtocol

log = logging.getLogger("chatnet.node")

TICK_SECONDS = 0.1
WATCH_SECONDS = 1.0


@dataclass(frozen=True)
class Bound:
    """A listener and the address it actually got (port 0 resolved)."""

    kind: str  # "irc", "irc-tls" or "websocket"
    host: str
    port: int


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server TLS context from PEM files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


class Node:
    """One running chat server."""

    def __init__(self, config: NodeConfig, config_path: Path | None = None) -> None:
        self.config_path = config_path
        self.history = HistoryStore(
            config.history.path,
            config.history.retention_seconds,
            config.history.max_messages_per_target,
        )
        self.core = ChatCore(config, self.history)
        self.registry = make_registry(self.core)
        self.routes = HttpRoutes(self.core, self.registry)
        self.links: LinkRuntime | None = None
        if config.links.read_secret() is not None:
            self.links = LinkRuntime(self.core, config.links)
        self.servers: list[asyncio.Server] = []
        self.bound: list[Bound] = []
        self.stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._config_mtime = self._mtime()
        self._draining = False

    async def start(self) -> None:
        """Open every listener; raises OSError if an address is taken."""
        loop = asyncio.get_running_loop()
        self.core.wake = flush_soon(self.core, loop)
        listeners = self.core.config.listeners
        core = self.core
        for spec in listeners.irc:
            server = await loop.create_server(lambda: IrcStreamProtocol(core), spec.host, spec.port)
            self._remember("irc", server)
        for tls in listeners.irc_tls:
            context = tls_context(tls.cert_file, tls.key_file)
            server = await loop.create_server(
                lambda: IrcStreamProtocol(core, secure=True),
                tls.host,
                tls.port,
                ssl=context,
            )
            self._remember("irc-tls", server)
        for spec in listeners.websocket:
            server = await loop.create_server(
                lambda: WebSocketProtocol(core, self.routes, self.links), spec.host, spec.port
            )
            self._remember("websocket", server)
        for tls in listeners.websocket_tls:
            context = tls_context(tls.cert_file, tls.key_file)
            server = await loop.create_server(
                lambda: WebSocketProtocol(core, self.routes, self.links, secure=True),
                tls.host,
                tls.port,
                ssl=context,
            )
            self._remember("websocket-tls", server)
        self._tasks.append(asyncio.create_task(self._tick()))
        if self.links is not None:
            self.links.start()
        if self.config_path is not None:
            self._tasks.append(asyncio.create_task(self._watch_config()))

    def _remember(self, kind: str, server: asyncio.Server) -> None:
        self.servers.append(server)
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            self.bound.append(Bound(kind, str(host), int(port)))

    def install_signal_handlers(self) -> None:
        """SIGHUP reloads; SIGTERM and SIGINT drain and stop."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)

    def request_stop(self) -> None:
        """Begin a graceful drain (idempotent)."""
        if not self._draining:
            self._draining = True
            self._tasks.append(asyncio.create_task(self.drain()))

    async def drain(self) -> None:
        """Stop taking clients, ask the connected ones to leave, then close."""
        grace = self.core.config.drain_seconds
        log.info("draining: %d clients, grace %.1fs", len(self.core.clients), grace)
        self.core.begin_drain()
        deadline = time.monotonic() + grace
        while self.core.clients and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if self.links is not None:
            await self.links.stop()
        self.core.close_all("Server shutting down")
        self.core.flush()
        await asyncio.sleep(0.05)
        await self.close()

    async def close(self) -> None:
        """Close listeners and the history store, and mark the node stopped."""
        for server in self.servers:
            server.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for server in self.servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self.history.close()
        self.stopped.set()
        log.info("stopped")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.core.tick()
            except Exception:  # one bad client must not stop the clock for all
                log.exception("tick failed")

    # Configuration reload.

    def _mtime(self) -> float | None:
        if self.config_path is None:
            return None
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return None

    async def _watch_config(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            mtime = self._mtime()
            if mtime is not None and mtime != self._config_mtime:
                self.reload()

    def reload(self) -> bool:
        """Re-read the configuration file; keep the old one if the new one is bad."""
        self._config_mtime = self._mtime()
        if self.config_path is None:
            log.info("reload: no configuration file to read")
            return False
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False
        ignored = self.core.reload(config)
        if self.links is not None:
            self.links.reconfigure(config.links)
        if ignored:
            log.warning("reload: %s change only on restart", ", ".join(ignored))
        log.info("configuration reloaded from %s", self.config_path)
        return True
