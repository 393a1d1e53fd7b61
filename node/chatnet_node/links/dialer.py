"""Dialing: which portals this server opens, and again after they fail.

``LinkRuntime`` dials what the configuration says (hubs: every peer;
leaves: the first reachable uplink, in order, the one just lost last; for
``START_GRACE`` after a start the first alone), redials with jittered
backoff, accepts inbound links (handed over by ``transport.websocket``),
follows configuration reloads and serves CONNECT and SQUIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ..config import LinkPeer, Links
from ..irc.state import ChatState
from . import protocol as lp
from .handshake import Handshake
from .manager import LinkManager
from .session import LinkSession
from .signatures import SIGNING_ERRORS, AdvertSignatures

log = logging.getLogger("chatnet.links")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
#: Seconds a leaf that just started dials only its first uplink, which may be
#: starting too (a whole network started at once: ``chatnet up``, a new
#: cluster): without it a leaf would settle on a later uplink for good, as
#: there is no fail-back (an EU leaf on the US hub).
START_GRACE = 10.0


class LinkRuntime:
    """Dials and accepts this server's links."""

    def __init__(self, core: ChatState, links: Links) -> None:
        self.core = core
        self.links = links
        self.secret = links.read_secret()
        self.manager = LinkManager(core, role=links.role)
        self.manager.control = self
        self._sign_adverts(links)
        self.refusals = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._wanted: dict[str, asyncio.Event] = {}
        self._held: set[str] = set()  # SQUIT: not redialed until CONNECT

    @property
    def ping_interval(self) -> float:
        """Seconds of silence on a link before a ping."""
        return self.links.ping_interval

    @property
    def ping_timeout(self) -> float:
        """Seconds of silence on a link before it is dropped."""
        return self.links.ping_timeout

    @property
    def enabled(self) -> bool:
        """Links need a secret; without one the server stays alone."""
        return self.secret is not None

    def new_handshake(self) -> Handshake:
        config = self.core.config
        mine = lp.Hello(
            network=config.network,
            server=config.name,
            sid=config.server_id,
            role=self.links.role,
            version=lp.VERSION,
            challenge=lp.new_challenge(),
            description=config.description,
        )
        manager = self.manager
        allowed = set(self.links.accept) | {p.name for p in self.links.dial}
        return Handshake(
            mine,
            self.secret or "",
            known=manager.reachable_sids(),
            linked=set(manager.sessions),
            allowed=allowed or None,
            have_uplink=self.links.role == "leaf" and bool(manager.sessions),
            signatures=manager.signatures,
        )

    def start(self) -> None:
        if not self.enabled or not self.links.dial:
            return
        if self.links.role == "leaf":
            self._tasks.append(asyncio.create_task(self._leaf_loop(), name="leaf-loop"))
            return
        for peer in self.links.dial:
            event = self._wanted.setdefault(peer.name, asyncio.Event())
            if self.links.auto_connect:
                event.set()
            self._tasks.append(asyncio.create_task(self._hub_loop(peer, event)))

    def _sign_adverts(self, links: Links) -> None:
        """Sign adverts, and check others', as ``links.signAdverts`` says (``links.signatures``)."""
        wanted = None
        # The configuration gives all three files with signAdverts (``config.links``).
        if links.sign_adverts and links.cert_file and links.key_file and links.ca_file:
            files = (links.cert_file, links.key_file, links.ca_file)
            current = self.manager.signatures
            wanted = current if current is not None and current.files == files else None
            wanted = wanted or AdvertSignatures(*files)
            try:
                wanted.sign_bytes(b"can this server sign?")
            except SIGNING_ERRORS as exc:
                # Said now, not at the first link: its peers will refuse it.
                log.error("links.signAdverts: this server cannot sign: %s", exc)
        self.manager.use_signatures(wanted)

    def reconfigure(self, links: Links) -> None:
        """A reloaded configuration: new accept list, new peers to dial, dropped peers."""
        old = {p.name for p in self.links.dial}
        self.links = links
        self._sign_adverts(links)
        self.secret = links.read_secret() or self.secret
        new = {p.name for p in links.dial}
        for name in old - new:
            if name in self.manager.sessions:
                self.manager.sessions[name].close("portal removed from the configuration")
            event = self._wanted.pop(name, None)
            if event is not None:
                event.clear()
                self._held.add(name)
        if links.role == "leaf":  # the leaf loop reads the uplink list each round
            if not any(t.get_name() == "leaf-loop" and not t.done() for t in self._tasks):
                self.start()
            return
        for peer in links.dial:
            if peer.name in old and peer.name not in self._held:
                continue
            self._held.discard(peer.name)
            event = self._wanted.setdefault(peer.name, asyncio.Event())
            if links.auto_connect:
                event.set()
            self._tasks.append(asyncio.create_task(self._hub_loop(peer, event)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for session in list(self.manager.sessions.values()):
            session.close("server shutting down")
        await asyncio.sleep(0)

    # CONNECT and SQUIT.

    def connect(self, name: str) -> str | None:
        """Dial a configured peer now; returns why not, or None."""
        if not self.enabled:
            return "links are not configured on this server (no link secret)"
        if name in self.manager.sessions:
            return f"already linked to {name}"
        if name not in {p.name for p in self.links.dial}:
            return f"no portal to {name} is configured here"
        self._held.discard(name)
        event = self._wanted.get(name)
        if event is None:  # a leaf's uplink
            event = self._wanted.setdefault("*leaf*", asyncio.Event())
        event.set()
        return None

    def squit(self, name: str, reason: str) -> str | None:
        """Close the link to a direct neighbour and keep it down until CONNECT."""
        session = self.manager.sessions.get(name)
        if session is None:
            return f"not linked to {name}"
        self._held.add(name)
        event = self._wanted.get(name)
        if event is not None:
            event.clear()
        session.close(f"SQUIT: {reason}")
        return None

    # Dialing.

    async def _hub_loop(self, peer: LinkPeer, wanted: asyncio.Event) -> None:
        delay = BACKOFF_FIRST
        while True:
            await wanted.wait()
            if peer.name in self._held:
                wanted.clear()
                continue
            # The peer as configured now: a reload may have moved it (a new host
            # or port under the same name, as ``chatnet up`` does when a port it
            # picked was taken).
            current = next((p for p in self.links.dial if p.name == peer.name), None)
            if current is None:
                return  # removed from the configuration
            session = await self._dial(current)
            if session is not None:
                delay = BACKOFF_FIRST
                await session.done.wait()
                if not self.links.auto_connect:
                    wanted.clear()
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_MAX)

    async def _leaf_loop(self) -> None:
        wanted = self._wanted.setdefault("*leaf*", asyncio.Event())
        if self.links.auto_connect:
            wanted.set()
        delay = BACKOFF_FIRST
        lost: str | None = None  # the uplink whose link ended last
        loop = asyncio.get_running_loop()
        grace_until = loop.time() + START_GRACE
        ever_linked = False
        while True:
            await wanted.wait()
            linked = False
            uplinks = [peer for peer in self._uplinks(lost) if peer.name not in self._held]
            starting = not ever_linked and len(uplinks) > 1 and loop.time() < grace_until
            if starting:
                uplinks = uplinks[:1]  # the first may be starting too: it gets the grace
            for peer in uplinks:
                session = await self._dial(peer)
                if session is None:
                    continue
                linked = ever_linked = True
                delay = BACKOFF_FIRST
                await session.done.wait()
                lost = peer.name
                break
            if not self.links.auto_connect:
                wanted.clear()
            if not linked and starting:
                await asyncio.sleep(BACKOFF_FIRST * random.uniform(0.8, 1.2))
            elif not linked:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)
            else:
                await asyncio.sleep(BACKOFF_FIRST)

    def _uplinks(self, lost: str | None) -> list[LinkPeer]:
        """A leaf's uplinks in the order to dial: as configured (the first reachable
        wins), but the one just lost last. A hub that vanished (a node gone, a
        process frozen) does not refuse: its dial would wait out the 5 s open
        timeout while the leaf's users are split from the network."""
        dial = self.links.dial
        return [p for p in dial if p.name != lost] + [p for p in dial if p.name == lost]

    async def _dial(self, peer: LinkPeer) -> LinkSession | None:
        """Open, handshake and run one outbound link; None if it never came up."""
        if peer.name in self.manager.sessions:
            return self.manager.sessions[peer.name]  # type: ignore[return-value]
        scheme = "wss" if peer.tls else "ws"
        uri = f"{scheme}://{peer.host}:{peer.port}/"
        if not peer.tls and self.links.tls == "required":
            log.warning(
                "link to %s: not dialed: the network requires TLS, %s is plain", peer.name, uri
            )
            return None
        try:
            ws = await connect(
                uri,
                subprotocols=[lp.PROTOCOL],  # type: ignore[list-item]
                open_timeout=5,
                ping_interval=None,
                max_size=lp.MAX_LINK_MESSAGE,
                ssl=self._client_tls(peer) if peer.tls else None,
            )
        except ssl.SSLCertVerificationError as exc:
            log.warning(
                "link to %s at %s: refused: its certificate is not trusted (caFile %s): %s",
                peer.name,
                uri,
                self.links.ca_file,
                exc.verify_message or exc,
            )
            return None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            log.info("link to %s at %s: cannot connect: %s", peer.name, uri, exc)
            return None
        session = self._outbound_session(ws, secure=peer.tls)
        session.opened()
        try:
            await asyncio.wait_for(self._read_until_established(ws, session), 10)
        except (TimeoutError, ConnectionClosed):
            session.lost("handshake did not finish")
            await ws.close()
            return None
        if not session.established:
            await ws.close()
            return None
        task = asyncio.create_task(self._read(ws, session))
        self._tasks.append(task)
        return session

    def _client_tls(self, peer: LinkPeer) -> ssl.SSLContext:
        """TLS for dialing: verify against ``caFile`` when given (not an ``external`` peer).

        With ``certFile`` this server shows its certificate too. The files
        are read at every dial, so a renewed certificate or CA bundle (during
        a CA rotation: the old CA and the new one) counts for the next link
        while the links already up stay as they are. Without a CA the peer's
        certificate is not checked: the link secret still authenticates the
        peer (challenge and response), and TLS still keeps the traffic
        private.
        """
        if self.links.ca_file is not None and not peer.external:
            context = ssl.create_default_context(cafile=str(self.links.ca_file))
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.links.cert_file is not None and self.links.key_file is not None:
            # Shown to the peer, which checks it with links.requirePeerCertificate.
            context.load_cert_chain(str(self.links.cert_file), str(self.links.key_file))
        return context

    def _outbound_session(self, ws: ClientConnection, secure: bool) -> LinkSession:
        queue: asyncio.Queue[str] = asyncio.Queue()
        pending = [0]

        def send_text(text: str) -> None:
            pending[0] += len(text)
            queue.put_nowait(text)

        def hang_up() -> None:
            queue.put_nowait("")

        async def writer() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    text = await queue.get()
                    if not text:
                        await ws.close()
                        return
                    pending[0] -= len(text)
                    await ws.send(text)

        self._tasks.append(asyncio.create_task(writer()))
        return LinkSession(self, "out", send_text, hang_up, lambda: pending[0], secure)

    async def _read_until_established(self, ws: ClientConnection, session: LinkSession) -> None:
        while not session.established and not session.closed:
            raw = await ws.recv()
            session.received(raw if isinstance(raw, str) else raw.decode())

    async def _read(self, ws: ClientConnection, session: LinkSession) -> None:
        reason = "connection closed"
        try:
            async for raw in ws:
                session.received(raw if isinstance(raw, str) else raw.decode())
                if session.closed:
                    break
        except ConnectionClosed as exc:
            reason = f"connection lost: {exc}"
        session.lost(reason)
