"""Where local servers listen: loopback ports, and files in a state directory.

Ports of a server never change while ``chatnet up`` runs, so a live edit
that leaves a server alone leaves its clients connected. A network with
``endpoint.tls`` gives each server an IRC-over-TLS port too, with the
certificate of the ``kind: Secret`` in the files (``tls_files``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from chatnet_node.config import Listener, Listeners, TlsListener
from chatnet_operator.api.outcome import Declared
from chatnet_operator.plan.desired import Member
from chatnet_operator.plan.planner import members_of

LOOPBACK = "127.0.0.1"
#: How many ports ``assign_ports`` asks for before giving up on finding an unused one.
ALLOCATE_TRIES = 1000


@dataclass(frozen=True)
class ServerPorts:
    """The loopback ports of one local server."""

    irc: int
    ws: int
    #: /healthz, /readyz, /status and /metrics (what ``chatnet up`` polls).
    admin: int
    #: IRC over TLS, when the network has ``endpoint.tls``.
    irc_tls: int | None = None

    def all(self) -> list[int]:
        """Every port this server listens on."""
        return [self.irc, self.ws, self.admin, *([self.irc_tls] if self.irc_tls else [])]


def assign_ports(
    declared: Declared,
    existing: Mapping[str, ServerPorts],
    allocate: Callable[[], int],
    in_use: Iterable[int] = (),
) -> dict[str, ServerPorts]:
    """Ports for every server of a network: kept for known servers, new for new ones.

    A TLS port is added (or dropped) as the network's ``endpoint.tls`` comes or goes.
    ``allocate`` gives a port free right now, so it may give the same one twice
    before any server binds it: a port already handed out (in ``existing``,
    ``in_use`` or earlier in this call) is asked for again, or two servers
    would race for one port and the loser would crash-loop on it.
    """
    taken = set(in_use) | {port for ports in existing.values() for port in ports.all()}

    def fresh() -> int:
        for _ in range(ALLOCATE_TRIES):
            port = allocate()
            if port not in taken:
                taken.add(port)
                return port
        raise RuntimeError(f"no free port after {ALLOCATE_TRIES} tries")

    tls = declared.network.spec.endpoint.tls is not None
    out: dict[str, ServerPorts] = {}
    for server in declared.servers:
        for member in members_of(server):
            ports = existing.get(member.name) or ServerPorts(fresh(), fresh(), fresh())
            if tls and ports.irc_tls is None:
                ports = replace(ports, irc_tls=fresh())
            elif not tls and ports.irc_tls is not None:
                ports = replace(ports, irc_tls=None)
            out[member.name] = ports
    return out


def handoff_name(host: str, irc_port: int) -> str:
    """The node's handoff socket name: unique while its IRC port is bound on ``host``."""
    return f"chatnet-handoff-{host}-{irc_port}"


@dataclass(frozen=True)
class LocalPlacement:
    """A ``Placement`` for processes on this machine."""

    ports: Mapping[str, ServerPorts]
    state_dir: Path
    host: str = LOOPBACK
    #: The endpoint certificate and key (``endpoint.tls``'s Secret, written from the files).
    tls_files: tuple[Path, Path] | None = None

    def listeners(self, member: Member) -> Listeners:
        ports = self.ports[member.name]
        tls = []
        if self.tls_files is not None and ports.irc_tls is not None:
            cert, key = self.tls_files
            tls = [TlsListener(host=self.host, port=ports.irc_tls, cert_file=cert, key_file=key)]
        return Listeners(
            irc=[Listener(host=self.host, port=ports.irc)],
            irc_tls=tls,
            websocket=[Listener(host=self.host, port=ports.ws)],
            admin=[Listener(host=self.host, port=ports.admin)],
            handoff=handoff_name(self.host, ports.irc),
        )

    def link_address(self, member: Member, tls: bool) -> tuple[str, int]:
        return self.host, self.ports[member.name].ws

    def history_path(self, member: Member) -> Path | None:
        return self.state_dir / f"{member.name}.history.sqlite3"

    def link_secret_file(self) -> Path | None:
        return self.state_dir / "link-secret"

    def secret_file(self, name: str, key: str) -> Path:
        # ``chatnet up`` writes these from the manifests' Secrets (and the cloak secret).
        return self.state_dir / "secrets" / name / key

    def drain_seconds(self, member: Member) -> float:
        # Ctrl-C must stop everything within 5 seconds.
        return 1.0

    def link_tls(self) -> bool:
        # No certificates on this machine; links never leave loopback.
        return False

    def link_ca_file(self) -> Path | None:
        return None

    def link_names(self, chat_server: str, ordinal: int) -> list[str]:
        return []

    def pod_link_names(self, chat_server: str) -> list[str]:
        return []

    def link_certificate(self) -> tuple[Path, Path] | None:
        return None
