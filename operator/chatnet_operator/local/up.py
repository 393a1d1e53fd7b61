"""``chatnet up``: run declared networks as local processes until Ctrl-C.

The loop: read the files (``manifests``), plan with loopback placement,
start one supervised node per server and one front door per network, then
poll the nodes (for the front door's choice and the endpoints file) and the
files (for live edits, applied like ``kubectl apply``). SIGINT, SIGTERM or
SIGHUP (the terminal closed) stops everything within 5 seconds, in the order
clients notice least: the front doors take no one new, every node drains (its
clients get a NOTICE and a final ``ERROR``, passed on by the front door),
then the front doors close. Should ``chatnet up`` die without stopping
(SIGKILL), the kernel sends each node SIGTERM (see ``supervisor``), so no
node is left holding its ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import resource
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from chatnet_node.config import dump_config
from chatnet_operator.api.outcome import Declared
from chatnet_operator.local.autoscaler import LocalAutoscaler
from chatnet_operator.local.balance import ServerLoad, least_loaded, settle, trust_last_good
from chatnet_operator.local.changes import diff_servers
from chatnet_operator.local.frontdoor import LINGER, Listener
from chatnet_operator.local.manifests import InputError, read_networks, read_secret_values
from chatnet_operator.local.placement import (
    LocalPlacement,
    ServerPorts,
    assign_ports,
    handoff_name,
)
from chatnet_operator.local.report import (
    FrontDoor,
    endpoints_document,
    endpoints_json,
    network_ready,
    table,
    write_atomically,
)
from chatnet_operator.local.supervisor import ServerProcess
from chatnet_operator.observe.probe import probe
from chatnet_operator.observe.status import Probe, network_status, summary
from chatnet_operator.plan.desired import NetworkPlan, ServerPlan
from chatnet_operator.plan.placement import CLOAK_SECRET_KEY
from chatnet_operator.plan.planner import plan_network

log = logging.getLogger("chatnet.up")
POLL_SECONDS = 0.3
#: Seconds a node has to drain and exit before it is killed (it drains in 1 s locally).
STOP_GRACE = 3.0
#: Each of these stops ``chatnet up`` gracefully (SIGHUP: its terminal was closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by this user only (mode 0600)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def raise_open_files_limit() -> None:
    """Lift the soft limit on open files to the hard one, for this process and its nodes.

    The front door holds two sockets per client and each node one: the usual
    soft limit of 1024 would refuse the 500th client of a network.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


#: Where local servers' ports are picked: below Linux's ephemeral range (32768
#: and up by default), so that an outgoing connection (a client's, a link's)
#: can never take the port of a server while it restarts after a crash.
LOCAL_PORTS = range(10000, 20000)


def free_port(host: str, tries: int = 200) -> int:
    """A port that was free a moment ago (the node binds it right after).

    Picked at random from ``LOCAL_PORTS`` (two local networks at once rarely
    meet); the kernel's choice if none of ``tries`` is free.
    """
    for _ in range(tries):
        port = random.choice(LOCAL_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Options:
    """What the command line asked for."""

    files: list[Path]
    state_dir: Path = Path(".chatnet")
    endpoints: Path | None = None
    host: str = "127.0.0.1"
    ws_port: int | None = None
    irc_port: int | None = None
    irc_tls_port: int | None = None


@dataclass
class _Network:
    declared: Declared
    plan: NetworkPlan
    front: FrontDoor | None = None
    listeners: list[Listener] = field(default_factory=list)


class Runtime:
    """Every local network, its processes and its front doors."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.networks: dict[str, _Network] = {}
        self.ports: dict[str, ServerPorts] = {}
        self.procs: dict[str, ServerProcess] = {}
        self.probes: dict[str, Probe] = {}
        self.pending: dict[str, list[float]] = {}
        #: The probes the front door balances on, and when each server last answered.
        self.door_probes: dict[str, Probe] = {}
        self.answered_at: dict[str, float] = {}
        self.stopping = asyncio.Event()
        self._mtimes: dict[Path, float | None] = {}
        self._endpoints_written = False
        self.autoscaler = LocalAutoscaler()
        # A live edit and an autoscaling step must not interleave their starts and stops.
        self._applying = asyncio.Lock()

    # ----------------------------------------------------------------- files

    def _state(self, network: str) -> Path:
        return self.options.state_dir / network

    def _server_files(self, network: str, name: str) -> tuple[Path, Path]:
        base = self._state(network)
        return base / f"{name}.yaml", base / f"{name}.log"

    def _write_server(self, network: str, server: ServerPlan) -> None:
        config, _ = self._server_files(network, server.name)
        write_atomically(config, dump_config(server.node))

    def _link_secret(self, network: str) -> None:
        path = self._state(network) / "link-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")

    def _secrets(self, network: str, plan: NetworkPlan) -> None:
        """Write the Secret keys the servers read: from the files, and the cloak secret.

        The generated cloak secret is made once per network and kept across
        runs (mode 0600), so every server of the network, now and after a
        restart, cloaks an address the same way.
        """
        values = read_secret_values(self.options.files)
        base = (self._state(network) / "secrets").resolve()
        generated = plan.cluster.cloak_secret_generated
        tls = plan.cluster.endpoint.tls_secret
        for name in [*plan.cluster.mounted_secrets, *([tls] if tls is not None else [])]:
            folder = base / name
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if name == generated:
                path = folder / CLOAK_SECRET_KEY
                if not path.exists():
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "w") as handle:
                        handle.write(secrets.token_urlsafe(32) + "\n")
                continue
            for (secret, key), value in values.items():
                if secret == name:
                    _write_private(folder / key, value)

    def _mtime_now(self) -> dict[Path, float | None]:
        out: dict[Path, float | None] = {}
        for path in self.options.files:
            try:
                out[path] = path.stat().st_mtime
            except OSError:
                out[path] = None
        return out

    # -------------------------------------------------------------- planning

    def _plan(self, networks: list[Declared]) -> dict[str, tuple[Declared, NetworkPlan]]:
        planned: dict[str, tuple[Declared, NetworkPlan]] = {}
        new_ports: dict[str, ServerPorts] = {}
        # The front doors' ports too: they are bound after the servers start.
        fronts = [port for d in networks for port in self._front_ports(d) if port]
        for declared in networks:
            in_use = [port for ports in new_ports.values() for port in ports.all()] + fronts
            ports = assign_ports(declared, self.ports, lambda: free_port(self.options.host), in_use)
            new_ports |= ports
            state = self._state(declared.network.name).resolve()
            tls = declared.network.spec.endpoint.tls
            tls_files = None
            if tls is not None:
                folder = state / "secrets" / tls.secret_for(declared.network.name)
                tls_files = (folder / "tls.crt", folder / "tls.key")
            placement = LocalPlacement(ports, state, tls_files=tls_files)
            planned[declared.network.name] = (declared, plan_network(declared, placement))
        self.ports = new_ports
        return planned

    async def apply(self, networks: list[Declared]) -> None:
        """Make the running processes match ``networks`` (start, stop, restart, reload).

        Autoscaled sets run the replica count the autoscaler chose, not the file's.
        """
        async with self._applying:
            await self._apply(self.autoscaler.override(networks))

    async def _apply(self, networks: list[Declared]) -> None:
        planned = self._plan(networks)
        old = {n: s for net in self.networks.values() for n, s in net.plan.servers.items()}
        new = {n: s for _, plan in planned.values() for n, s in plan.servers.items()}
        network_of = {n: name for name, (_, plan) in planned.items() for n in plan.servers}
        changes = diff_servers(old, new)
        old_network = {n: k for k, net in self.networks.items() for n in net.plan.servers}
        await asyncio.gather(*(self._stop_server(old_network[name], name) for name in changes.stop))
        for network, (_, plan) in planned.items():
            self._secrets(network, plan)
        for name in changes.start + changes.restart + changes.reload:
            self._link_secret(network_of[name])
            self._write_server(network_of[name], new[name])
        for name in changes.start:
            self._start_server(network_of[name], name)
        for name in changes.restart:
            log.info("server %s: identity or listeners changed; restarting it", name)
            self.procs[name].restart()
        for name in changes.reload:
            log.info("server %s: configuration changed; reloading (clients stay)", name)
            self.procs[name].reload()
        for name in list(self.networks):
            if name not in planned:
                await self._close_front(self.networks.pop(name))
        for name, (declared, plan) in planned.items():
            current = self.networks.get(name)
            if current is None:
                current = _Network(declared, plan)
                self.networks[name] = current
                await self._open_front(current)
            else:
                endpoint_changed = (
                    current.declared.network.spec.endpoint != declared.network.spec.endpoint
                )
                current.declared, current.plan = declared, plan
                if endpoint_changed:
                    # Its servers keep running: cut the old door's connections at once.
                    await self._close_front(current, linger=0)
                    await self._open_front(current)
                    self._endpoints_written = False
        if not changes.empty:
            self._endpoints_written = False

    def _start_server(self, network: str, name: str) -> None:
        config, log_path = self._server_files(network, name)
        proc = ServerProcess(name, config, log_path)
        self.procs[name] = proc
        self.probes[name] = Probe()
        proc.start()

    async def _stop_server(self, network: str, name: str) -> None:
        proc = self.procs.pop(name, None)
        self.probes.pop(name, None)
        self.door_probes.pop(name, None)
        self.answered_at.pop(name, None)
        if proc is not None:
            log.info("server %s: removed from the network; stopping it", name)
            await proc.stop(STOP_GRACE)
        # Its configuration goes; its log and history stay for a post-mortem.
        config, _ = self._server_files(network, name)
        config.unlink(missing_ok=True)

    # ------------------------------------------------------------ front door

    def _address(self, name: str, kind: str) -> tuple[str, int]:
        ports = self.ports[name]
        if kind == "irc-tls":
            # A network without TLS has no irc-tls door, so this is never asked then.
            assert ports.irc_tls is not None
            return self.options.host, ports.irc_tls
        return self.options.host, ports.irc if kind == "irc" else ports.ws

    def _chooser(
        self, network: str, kind: str, exclude: set[tuple[str, int]]
    ) -> tuple[str, int] | None:
        net = self.networks.get(network)
        if net is None:
            return None
        loads = []
        for name, server in net.plan.servers.items():
            if not server.serves_clients or name not in self.probes or name not in self.ports:
                continue
            if self._address(name, kind) in exclude:
                continue
            p = self.door_probes.get(name, self.probes[name])
            max_clients = p.max_clients or server.node.limits.max_clients
            ready = p.healthy and p.ready
            pending = len(self.pending.get(name, []))
            live = sum(door.live[self._address(name, door.kind)] for door in net.listeners)
            loads.append(ServerLoad(name, ready, p.clients, max_clients, pending, live))
        choice = least_loaded(loads)
        if choice is None:
            return None
        self.pending.setdefault(choice, []).append(time.monotonic())
        return self._address(choice, kind)

    def _handoff_of(self, address: tuple[str, int]) -> str | None:
        """The handoff socket of the server listening at ``address``."""
        host = self.options.host
        for ports in self.ports.values():
            if address in ((host, ports.irc), (host, ports.ws), (host, ports.irc_tls)):
                return handoff_name(host, ports.irc)
        return None

    def _front_ports(self, declared: Declared) -> tuple[int, int, int | None]:
        """The front door's IRC, WebSocket and IRC-over-TLS ports for a network."""
        endpoint = declared.network.spec.endpoint
        options = self.options
        irc = options.irc_port if options.irc_port is not None else endpoint.irc_port
        ws = options.ws_port if options.ws_port is not None else endpoint.websocket_port
        tls = options.irc_tls_port if options.irc_tls_port is not None else endpoint.irc_tls_port
        return irc, ws, tls if endpoint.tls is not None else None

    async def _open_front(self, net: _Network) -> None:
        name = net.declared.network.name
        host = self.options.host
        irc_port, ws_port, wanted_tls = self._front_ports(net.declared)
        ws = Listener(
            host, ws_port, lambda ex: self._chooser(name, "ws", ex), "ws", self._handoff_of
        )
        irc = Listener(
            host, irc_port, lambda ex: self._chooser(name, "irc", ex), "irc", self._handoff_of
        )
        ws_port, irc_port = await ws.start(), await irc.start()
        net.listeners = [ws, irc]
        tls_port = None
        if wanted_tls is not None:
            # The TLS handshake is the node's: the door hands off (or relays) the raw socket.
            tls = Listener(
                host,
                wanted_tls,
                lambda ex: self._chooser(name, "irc-tls", ex),
                "irc-tls",
                self._handoff_of,
            )
            tls_port = await tls.start()
            net.listeners.append(tls)
        net.front = FrontDoor(name, host, irc_port, ws_port, tls_port)

    async def _close_front(self, net: _Network, linger: float = LINGER) -> None:
        """Close a network's listeners; stop its servers first, so their goodbyes get through."""
        await asyncio.gather(*(listener.close(linger) for listener in net.listeners))
        net.listeners = []

    # ----------------------------------------------------------------- loops

    async def _poll_servers(self) -> None:
        while not self.stopping.is_set():
            names = [n for n in self.procs if n in self.ports]
            started = time.monotonic()
            results = await asyncio.gather(
                *(probe(self.options.host, self.ports[n].admin) for n in names)
            )
            now = time.monotonic()
            for name, result in zip(names, results, strict=False):
                if name in self.procs:
                    self.probes[name] = result
                    if trust_last_good(result.healthy, self.answered_at.get(name), now):
                        continue  # too busy to answer, most likely: keep its last good view
                    self.door_probes[name] = result
                    if result.healthy:
                        self.answered_at[name] = now
                        self.pending[name] = settle(self.pending.get(name, []), started)
            declared = [net.declared for net in self.networks.values()]
            # Only while it is down: a restart with the old ports may have worked since.
            taken = [name for name, proc in self.procs.items() if proc.port_taken and proc.down]
            for name in taken:
                log.warning(
                    "server %s: a port picked for it was taken while it was down; "
                    "new ports, and a restart",
                    name,
                )
                self.procs[name].port_taken = False
                self.ports.pop(name, None)  # ``_plan`` picks new ones
            if self.autoscaler.observe(declared, self.probes, time.monotonic()) or taken:
                await self.apply(declared)
            self._maybe_write_endpoints()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self.stopping.wait()

    def _maybe_write_endpoints(self) -> None:
        if self._endpoints_written:
            return
        plans = [n.plan for n in self.networks.values()]
        if not all(network_ready(plan, self.probes) for plan in plans):
            return
        self._endpoints_written = True
        for net in self.networks.values():
            status = network_status(net.plan, self.probes)
            log.info("ready: %s", summary(status, net.declared.network.name))
        fronts = [n.front for n in self.networks.values() if n.front is not None]
        if self.options.endpoints is not None:
            doc = endpoints_document(fronts, plans, self.ports, self.options.host)
            write_atomically(self.options.endpoints, endpoints_json(doc))
            log.info("endpoints written to %s", self.options.endpoints)

    async def _watch_files(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self.stopping.wait()
            now = self._mtime_now()
            if now == self._mtimes:
                continue
            self._mtimes = now
            try:
                networks = read_networks(self.options.files)
            except InputError as exc:
                log.error(
                    "the edited files were not applied; still running the last good version:\n%s",
                    exc,
                )
                continue
            log.info("files changed; applying")
            await self.apply(networks)

    async def shutdown(self) -> None:
        """Stop everything, saying goodbye to the connected clients.

        The front doors stop taking connections, then every node drains at once:
        each tells its clients why and closes them with an ``ERROR``, which the
        front door passes on before it closes the client's side. Only then do the
        front doors close (cutting whatever a killed node left behind).
        """
        for net in self.networks.values():
            for listener in net.listeners:
                listener.stop_accepting()
        await asyncio.gather(*(proc.stop(STOP_GRACE) for proc in self.procs.values()))
        self.procs.clear()
        await asyncio.gather(*(self._close_front(net) for net in self.networks.values()))

    async def run(self, networks: list[Declared]) -> int:
        self._mtimes = self._mtime_now()
        loop = asyncio.get_running_loop()
        # ``nohup chatnet up`` survives a hangup: a SIGHUP ignored at start stays ignored.
        stop_signals = [
            s for s in STOP_SIGNALS if s != signal.SIGHUP or signal.getsignal(s) != signal.SIG_IGN
        ]
        for signum in stop_signals:
            loop.add_signal_handler(signum, self.stopping.set)
        try:
            try:
                await self.apply(networks)
            except OSError as exc:
                log.error(
                    "cannot start: %s; change spec.endpoint in the file or pass "
                    "--ws-port/--irc-port (0 picks a free port)",
                    exc,
                )
                return 2
            fronts = [n.front for n in self.networks.values() if n.front is not None]
            plans = [n.plan for n in self.networks.values()]
            sys.stdout.write(table(fronts, plans, self.ports, self.options.host))
            sys.stdout.write(f"\nstate and logs in {self.options.state_dir}/; Ctrl-C stops\n")
            sys.stdout.flush()
            tasks = [
                asyncio.create_task(self._poll_servers()),
                asyncio.create_task(self._watch_files()),
            ]
            await self.stopping.wait()
            log.info("stopping")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self.shutdown()
            for signum in stop_signals:
                loop.remove_signal_handler(signum)
        log.info("stopped")
        return 0


def run_up(options: Options) -> int:
    """Entry point of ``chatnet up``: 0 after a clean stop, 1 invalid, 2 unreadable."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s chatnet: %(message)s", datefmt="%H:%M:%S"
    )
    raise_open_files_limit()
    try:
        networks = read_networks(options.files)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    if len(networks) > 1 and (options.ws_port is not None or options.irc_port is not None):
        print("chatnet: --ws-port and --irc-port need a single network", file=sys.stderr)
        return 2
    return asyncio.run(Runtime(options).run(networks))
