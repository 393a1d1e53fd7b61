"""The node runtime: listeners, the clock, config reload and graceful drain.

This is the only module that owns the event loop's resources for a node. It
builds the core, opens every listener at once (TCP, TLS, WebSocket+HTTP),
ticks the core's clock, reloads the configuration on SIGHUP or when the file
changes, and on SIGTERM drains (see ``Node.drain``): ``/readyz`` turns 503,
new clients are told to go elsewhere, messages already sent get their
acknowledgement, and the connected clients are handed over: closed in small
batches, each told to reconnect, so the other servers are not stampeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex

from .config import ConfigError, Listener, NodeConfig, TlsListener, inline_secrets, load_config
from .history.contract import HistoryUnavailable
from .history.factory import open_history
from .irc.commands.table import COMMANDS
from .irc.core import ChatCore
from .irc.transitions import accounts
from .links.dialer import LinkRuntime
from .metrics import make_registry
from .transport.admin import AdminProtocol
from .transport.connection import IrcStreamProtocol, flush_soon
from .transport.forwarded import Network, trusted_networks
from .transport.handoff import HandoffServer
from .transport.http import HttpRoutes
from .transport.offload import offload, worker_pool
from .transport.proxylisten import ProxiedListener, Refusal, http_refusal, irc_refusal
from .transport.tls import ReloadingCertificate, tls_context
from .transport.tlsgate import TlsGate
from .transport.websocket import WebSocketProtocol

log = logging.getLogger("chatnet.node")

TICK_SECONDS = 0.1
WATCH_SECONDS = 1.0
#: What a client closed by a drain is told (``ERROR :Closing Link: HOST (...)``).
RESTART_REASON = "Server restarting, please reconnect"
#: A drain spreads its clients' reconnections over at most this many seconds...
HANDOVER_SECONDS = 3.0
#: ...closing one batch every this many seconds.
HANDOVER_STEP = 0.1
#: Shares of the grace period: waiting for acknowledgements before the handover,
#: and the handover itself; what is left waits for the last acknowledgements.
SETTLE_SHARE = 0.25
HANDOVER_SHARE = 0.5


#: A listening server: asyncio's, or one that reads PROXY headers first.
Listening = asyncio.Server | ProxiedListener


@dataclass(frozen=True)
class Bound:
    """A listener and the address it actually got (port 0 resolved)."""

    kind: str  # "irc", "irc-tls", "websocket", "websocket-tls" or "admin"
    host: str
    port: int


class Node:
    """One running chat server."""

    def __init__(self, config: NodeConfig, config_path: Path | None = None) -> None:
        self.config_path = config_path
        config = with_secrets(config)
        # SQLite (this server's file) or PostgreSQL (shared by the network);
        # raises ConfigError for PostgreSQL without a DSN.
        self.history = open_history(config.history)
        self.core = ChatCore(config, self.history, COMMANDS)
        self.registry = make_registry(self.core)
        # With an admin listener, /status, /metrics and the probes leave the client port.
        has_admin = bool(config.listeners.admin)
        self.routes = HttpRoutes(self.core, self.registry, admin=not has_admin)
        self.admin_routes = HttpRoutes(self.core, self.registry, page=False)
        self.links: LinkRuntime | None = None
        if config.links.read_secret() is not None:
            self.links = LinkRuntime(self.core, config.links)
        self.servers: list[Listening] = []
        self.bound: list[Bound] = []
        self.stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._config_mtime = self._mtime()
        self._draining = False
        #: File-based client certificates, reloaded when renewed on disk.
        self.certificates: list[ReloadingCertificate] = []
        self.handoff: HandoffServer | None = None
        #: Where password hashing runs, off the event loop (``transport.offload``).
        self._worker = worker_pool()

    async def start(self) -> None:
        """Open every listener; raises OSError if an address is taken."""
        loop = asyncio.get_running_loop()
        # A shared store gets a few seconds to connect before clients come,
        # but never keeps the node from serving chat (see PostgresHistory.start).
        await self.history.start()
        self._load_records()
        self.core.replication.remember_recent()
        self.core.output.wake = flush_soon(self.core, loop)
        self.core.crowds.on = True  # every turn's flush has a budget now
        self.core.offload = offload(loop, self._worker)
        listeners = self.core.config.listeners
        core = self.core
        routes, links = self.routes, self.links
        for spec in listeners.irc:
            await self._listen(
                "irc", spec, None, irc_refusal, lambda peer: IrcStreamProtocol(core, peer=peer)
            )
        handoff_tls: ssl.SSLContext | None = None
        for tls in listeners.irc_tls:
            context = self._tls_context(tls)
            handoff_tls = handoff_tls or context
            await self._listen(
                "irc-tls",
                tls,
                context,
                irc_refusal,
                lambda peer: IrcStreamProtocol(core, secure=True, peer=peer),
            )
        for spec in listeners.websocket:
            await self._listen(
                "websocket",
                spec,
                None,
                http_refusal,
                lambda peer: WebSocketProtocol(core, routes, links, peer=peer),
            )
        for tls in listeners.websocket_tls:
            context = self._tls_context(tls)
            await self._listen(
                "websocket-tls",
                tls,
                context,
                http_refusal,
                lambda peer: WebSocketProtocol(core, routes, links, secure=True, peer=peer),
            )
        for spec in listeners.admin:
            server = await loop.create_server(
                lambda: AdminProtocol(self.admin_routes), spec.host, spec.port
            )
            self._remember("admin", server)
        if listeners.handoff is not None:
            factories: dict[bytes, Callable[[], asyncio.Protocol]] = {
                b"i": lambda: IrcStreamProtocol(core),
                b"w": lambda: WebSocketProtocol(core, self.routes, self.links),
            }
            if handoff_tls is not None:
                # Raw sockets from the front door's TLS port: the handshake is ours,
                # gated like one accepted on the ircTls listener.
                context = handoff_tls
                factories[b"t"] = lambda: TlsGate(
                    core, context, lambda: IrcStreamProtocol(core, secure=True)
                )
            self.handoff = HandoffServer(listeners.handoff, factories)
            self.handoff.start()
        self._tasks.append(asyncio.create_task(self._tick()))
        if self.links is not None:
            self.links.start()
        if self.config_path is not None:
            self._tasks.append(asyncio.create_task(self._watch_config()))
        if self.certificates:
            self._tasks.append(asyncio.create_task(self._watch_certificates()))

    def _tls_context(self, listener: TlsListener) -> ssl.SSLContext:
        """A client listener's context; from files, it follows their renewals."""
        context = tls_context(listener, self.core.config.name, client_certificates=True)
        if listener.cert_file is not None and listener.key_file is not None:
            self.certificates.append(
                ReloadingCertificate(context, listener.cert_file, listener.key_file)
            )
        return context

    async def _watch_certificates(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            for certificate in self.certificates:
                certificate.check()

    def _load_records(self) -> None:
        """Accounts and registered channels this server stored before it restarted."""
        try:
            count = accounts.load_records(self.core, self.history.load_records())
        except HistoryUnavailable as exc:
            log.warning("accounts: cannot read stored records (%s); links will bring them", exc)
            return
        if count:
            log.info("accounts: %d stored records loaded", count)

    async def _listen(
        self,
        kind: str,
        spec: Listener,
        context: ssl.SSLContext | None,
        refusal: Refusal,
        factory: Callable[[str | None], asyncio.Protocol],
    ) -> None:
        """Open one listener; a ``proxyProtocol`` one reads a PROXY header first.

        On a TLS listener the handshake is run by a ``TlsGate`` (bounded per
        address block and timed), after the PROXY header where there is one,
        so the gate counts the real client's address.
        """
        core = self.core

        def gated(peer: str | None) -> asyncio.Protocol:
            if context is None:
                return factory(peer)
            return TlsGate(core, context, lambda: factory(peer), address=peer)

        if spec.proxy_protocol:

            def trusted() -> tuple[Network, ...]:
                # Read at every connection: a reload changes the list at once.
                return trusted_networks(tuple(core.config.trusted_proxies))

            proxied = await ProxiedListener.open(
                spec.host, spec.port, kind, gated, trusted, refusal, None
            )
            self._remember(kind, proxied)
            return
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: gated(None), spec.host, spec.port)
        self._remember(kind, server)

    def _remember(self, kind: str, server: Listening) -> None:
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
        """Stop taking clients, hand the connected ones over, lose nothing; then close.

        Within ``drainSeconds`` (the grace), in order:

        1. ``/readyz`` turns 503 and new connections are refused with a reason;
           every client gets a NOTICE asking it to reconnect;
        2. messages already sent get their acknowledgement (up to a quarter of
           the grace), so no sender is cut off between its message and its ack;
        3. the clients are handed over: closed in batches over a few seconds
           (at most half the grace), each with ``ERROR :Closing Link: HOST
           (Server restarting, please reconnect)`` and, over WebSocket, close
           code 1012 (Service Restart), so they come back through the
           network's endpoint without all landing on one server at once;
        4. the links stay up until what the last clients sent is acknowledged
           (the rest of the grace): a message is stored on a second server
           before this one goes.
        """
        grace = self.core.config.drain_seconds
        started = time.monotonic()
        deadline = started + grace
        log.info(
            "draining: %d clients, %d unacknowledged messages, grace %.1fs",
            len(self.core.clients),
            self.unacknowledged(),
            grace,
        )
        self.core.begin_drain()
        self.core.flush()
        await self._settle(started + grace * SETTLE_SHARE)
        window = min(HANDOVER_SECONDS, grace * HANDOVER_SHARE)
        await self._hand_over(time.monotonic() + window)
        if not await self._settle(deadline):
            log.warning(
                "drain: %d messages still unacknowledged after %.1fs",
                self.unacknowledged(),
                grace,
            )
        if self.links is not None:
            await self.links.stop()
        self.core.close_all(RESTART_REASON)
        self.core.flush()
        await asyncio.sleep(0.05)
        log.info("drained in %.2fs", time.monotonic() - started)
        await self.close()

    def unacknowledged(self) -> int:
        """Channel messages sent here still waiting for their acknowledgement."""
        return self.core.unacknowledged()

    async def _settle(self, until: float) -> bool:
        """Wait until no message waits for its acknowledgement; False at ``until``."""
        while self.unacknowledged() > 0:
            if time.monotonic() >= until:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _hand_over(self, until: float) -> None:
        """Close the clients in batches spread until ``until`` (all at once if no time)."""
        core = self.core
        while core.clients:
            steps_left = max(1, round((until - time.monotonic()) / HANDOVER_STEP))
            # Unregistered connections first (nobody is waiting for them), oldest clients next.
            queue = sorted(core.clients, key=lambda c: (c.registered, c.connected_at))
            batch = queue[: -(-len(queue) // steps_left)]
            for client in batch:
                core.quit(client, RESTART_REASON)
            core.flush()
            if steps_left <= 1:
                return
            await asyncio.sleep(HANDOVER_STEP)
            # What the remaining clients sent meanwhile is acknowledged before they go.
            await self._settle(min(until, time.monotonic() + HANDOVER_STEP))

    async def close(self) -> None:
        """Close listeners and the history store, and mark the node stopped."""
        if self.handoff is not None:
            self.handoff.close()
        for server in self.servers:
            server.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for server in self.servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        await self.history.aclose()  # PostgreSQL: writes what is still queued
        self._worker.shutdown(wait=False, cancel_futures=True)
        self.stopped.set()
        log.info("stopped")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.core.tick()
                if self.links is not None:
                    self.links.manager.share_counts(time.time())
                    self.links.manager.send_clock(time.monotonic())
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
            config = with_secrets(load_config(self.config_path), self.core.config)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False
        before = self.core.config
        ignored = self.core.reload(config)
        if self.links is not None:
            self.links.reconfigure(config.links)
            self.links.manager.reconfigure(config.links)
        if "name" in ignored or "serverId" in ignored:
            # A new identity (a ChatServer scaled from one replica to several
            # renames its first server): drain, exit, and let the supervisor
            # or the kubelet start it again under the new name.
            log.warning(
                "reload: this server is now %s (ID %d), was %s (ID %d): "
                "draining, then restarting to take the new identity",
                config.name,
                config.server_id,
                before.name,
                before.server_id,
            )
            self.request_stop()
        elif ignored:
            log.warning("reload: %s change only on restart", ", ".join(ignored))
        log.info("configuration reloaded from %s", self.config_path)
        return True


def with_secrets(config: NodeConfig, running: NodeConfig | None = None) -> NodeConfig:
    """``config`` with its secret files read (``inline_secrets``) and a cloak secret.

    With cloaks on and no secret configured, the running one is kept on a
    reload, or a random one is made (cloaks then differ between servers and
    change on restart: a warning says so).
    """
    config = inline_secrets(config, os.environ)
    cloaks = config.cloaks
    if cloaks.enabled and cloaks.secret is None:
        secret = running.cloaks.secret if running is not None else None
        if secret is None:
            log.warning(
                "cloaks: no secret configured (cloaks.secret, cloaks.secretFile or "
                "CHATNET_CLOAK_SECRET): using a random one, so cloaks differ between "
                "servers and change when this server restarts"
            )
            secret = token_hex(32)
        config = config.model_copy(update={"cloaks": cloaks.model_copy(update={"secret": secret})})
    return config
