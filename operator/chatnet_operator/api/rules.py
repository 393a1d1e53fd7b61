"""The rules between objects: identities, references, roles, links and ports.

``NetworkRules`` checks every ChatNetwork with its ChatServers at once and
collects every problem (one method per rule), so one run shows everything
to fix. Objects that failed their own checks are known, so rules that would
only echo their problem stay quiet.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from chatnet_node.config import SERVER_NAME_MAX, valid_server_name
from chatnet_node.config.base import ONE_HEX_WIDTH, ids_clash_reason
from chatnet_operator.api.fields import MAX_SERVER_NAME
from chatnet_operator.api.loader import Document, FieldPath, dotted
from chatnet_operator.api.models import (
    REGION_LABEL,
    ZONE_LABEL,
    ChatNetwork,
    ChatServer,
    Portal,
    Role,
)
from chatnet_operator.api.outcome import Broken, Declared, Problem
from chatnet_operator.api.server_ids import free_id_hint

_HUBLIKE = (Role.HUB, Role.CONTROL)
#: With signed adverts, the most replicas one ChatServer may run: its certificate
#: names every replica (five names each, up to 650 bytes with the longest names)
#: and rides in every advert, which must stay well inside a link message (64 KiB).
#: Not with ``links.podCertificates``: each pod's certificate names that pod alone.
SIGNED_SET_MAX = 40


@dataclass(frozen=True)
class _IdOwner:
    """Who has a server ID: a server (a replica of a set) or a portal, and where it is set."""

    server: ChatServer
    path: FieldPath
    name: str
    server_id: int

    @property
    def portal(self) -> bool:
        return self.path[1] == "portals"


class NetworkRules:
    """Collects cross-object problems; one method per rule."""

    def __init__(
        self,
        objects: list[tuple[ChatNetwork | ChatServer, Document | None]],
        broken: list[Broken],
    ) -> None:
        self.objects = objects
        # Objects that failed on their own: their problems are reported already,
        # so rules that would only echo them ("no server named ...") stay quiet.
        self.broken_servers = {(b.namespace, b.name) for b in broken if b.kind == "ChatServer"}
        self.broken_networks = {(b.namespace, b.name) for b in broken if b.kind == "ChatNetwork"}
        self.incomplete = self.broken_networks | {
            (b.namespace, b.network) for b in broken if b.network
        }
        self.problems: list[Problem] = []
        self.where: dict[int, Document | None] = {id(o): d for o, d in objects}
        self.networks: dict[tuple[str, str], ChatNetwork] = {}
        self.servers: dict[tuple[str, str], ChatServer] = {}

    def add(self, obj: ChatNetwork | ChatServer, path: FieldPath, problem: str, fix: str) -> None:
        doc = self.where.get(id(obj))
        where = doc.where(path) if doc else ""
        self.problems.append(Problem(f"{obj.kind}/{obj.name}", dotted(path), problem, fix, where))

    def run(self, local: bool) -> list[Declared]:
        self.index()
        by_network: dict[tuple[str, str], list[ChatServer]] = defaultdict(list)
        for server in self.servers.values():
            key = (server.namespace, server.spec.network)
            if key in self.broken_networks:
                continue
            if key not in self.networks:
                known = sorted(n for ns, n in self.networks if ns == server.namespace)
                self.add(
                    server,
                    ("spec", "network"),
                    f"no ChatNetwork named {server.spec.network!r} in namespace "
                    f"{server.namespace!r}",
                    f"create it, or use one of: {', '.join(known)}"
                    if known
                    else "declare a ChatNetwork with that name",
                )
                continue
            by_network[key].append(server)
        declared = []
        for key, network in self.networks.items():
            servers = by_network.get(key, [])
            self.check_network(network, servers, complete=key not in self.incomplete)
            declared.append(Declared(network, tuple(servers)))
        if local:
            self.check_local_ports()
            self.check_local_signing()
        return declared

    def index(self) -> None:
        for obj, _doc in self.objects:
            table: dict[tuple[str, str], Any] = (
                self.networks if isinstance(obj, ChatNetwork) else self.servers
            )
            key = (obj.namespace, obj.name)
            if key in table:
                first = self.where.get(id(table[key]))
                self.add(
                    obj,
                    ("metadata", "name"),
                    f"{obj.kind} {obj.name!r} is declared twice"
                    + (f" (first at {first.where()})" if first else ""),
                    "rename one of them or delete the duplicate",
                )
                continue
            table[key] = obj
            if isinstance(obj, ChatServer) and len(obj.name) > MAX_SERVER_NAME:
                self.add(
                    obj,
                    ("metadata", "name"),
                    f"name is {len(obj.name)} characters long",
                    f"use at most {MAX_SERVER_NAME} (pod names add a suffix)",
                )

    def check_network(
        self, network: ChatNetwork, servers: list[ChatServer], complete: bool
    ) -> None:
        if complete and not any(
            s.spec.role != Role.CONTROL and s.spec.replicas > 0 for s in servers
        ):
            self.add(
                network,
                ("metadata", "name"),
                "no ChatServer in this network serves clients",
                f"add a ChatServer with spec.network: {network.name} and role hub or leaf",
            )
        self.check_identities(servers)
        self.check_id_widths(servers)
        self.check_irc_names(network, servers)
        self.check_control(servers)
        by_name = {s.name: s for s in servers}
        self.check_signed_adverts(network, servers)
        for server in servers:
            self.check_links(server, by_name)
            self.check_placement(network, server)
        if complete:
            self.check_hubs_connected(network, servers)

    def check_signed_adverts(self, network: ChatNetwork, servers: list[ChatServer]) -> None:
        """A server outside the network (a portal) has no certificate from its CA, so its
        adverts could not be signed, and every server would refuse them."""
        links = network.spec.links
        if not links.sign_adverts:
            return
        for server in servers:
            spec = server.spec
            ceiling = max(spec.replicas, spec.autoscale.max_replicas if spec.autoscale else 0)
            # With podCertificates each certificate names its own pod alone.
            if ceiling > SIGNED_SET_MAX and not links.pod_certificates:
                self.add(
                    network,
                    ("spec", "links", "signAdverts"),
                    f"ChatServer/{server.name} may run {ceiling} replicas; its link certificate "
                    f"names each of them, and every advert carries it: past {SIGNED_SET_MAX} "
                    "an advert outgrows a link message",
                    "set links.podCertificates: true (each pod its own certificate, from "
                    "cert-manager's csi-driver), split the set into ChatServers of at most "
                    f"{SIGNED_SET_MAX} replicas, or turn signAdverts off",
                )
            if server.spec.portals:
                self.add(
                    network,
                    ("spec", "links", "signAdverts"),
                    f"ChatServer/{server.name} links to servers outside the network "
                    f"({', '.join(p.name for p in server.spec.portals)}), which cannot sign "
                    "their adverts with a certificate from the network CA",
                    "turn signAdverts off, or remove the portals",
                )

    def check_placement(self, network: ChatNetwork, server: ChatServer) -> None:
        """A server's zone or region against the network's pod.nodeSelector (an AND of both
        would match no node; the server's own nodeSelector is checked with the server)."""
        selected = network.spec.pod.node_selector or {}
        for key, field, value in (
            (ZONE_LABEL, "zone", server.spec.zone),
            (REGION_LABEL, "region", server.spec.region),
        ):
            if value is None or key not in selected or selected[key] == value:
                continue
            if key in (server.spec.pod.node_selector or {}):
                continue  # the server's own nodeSelector overrides the network's
            self.add(
                server,
                ("spec", field),
                f"{field} {value} contradicts the network's pod.nodeSelector {key}={selected[key]}",
                f"remove {key} from ChatNetwork/{network.name} spec.pod.nodeSelector, "
                f"or set spec.pod.nodeSelector.{key} on this server",
            )

    def check_irc_names(self, network: ChatNetwork, servers: list[ChatServer]) -> None:
        """Every server's IRC name (``serverDomain`` appended) must be a valid server name."""
        if not network.spec.server_domain:
            return
        for server in servers:
            for name, _ in server.members():
                full = network.irc_name(name)
                if not valid_server_name(full):
                    self.add(
                        network,
                        ("spec", "serverDomain"),
                        f"server {name} would be IRC server {full!r}, longer than "
                        f"{SERVER_NAME_MAX} characters",
                        "use a shorter serverDomain or shorter ChatServer names",
                    )

    def check_identities(self, servers: list[ChatServer]) -> None:
        names: dict[str, ChatServer] = {}
        ids: dict[int, str] = {}
        taken = {sid for s in servers for _, sid in s.possible_members()}
        taken |= {p.server_id for s in servers for p in s.spec.portals}
        for server in servers:
            # Every replica a set may run: one autoscaling adds takes its ID then.
            for index, (name, server_id) in enumerate(server.possible_members()):
                other = names.get(name)
                if other is not None and other is not server:
                    self.add(
                        server,
                        ("metadata", "name"),
                        f"server name {name!r} is also a replica of ChatServer {other.name!r}",
                        "rename one of the two ChatServers",
                    )
                names[name] = server
                if server_id in ids:
                    later = (
                        ", a replica autoscaling may add" if index >= server.spec.replicas else ""
                    )
                    self.add(
                        server,
                        ("spec", "serverId"),
                        f"server ID {server_id} (of {name}{later}) is also used by "
                        f"{ids[server_id]}",
                        "give each server its own ID range"
                        + free_id_hint(taken, len(server.possible_members())),
                    )
                    taken |= {sid for _, sid in server.possible_members()}
                else:
                    ids[server_id] = name
        network = servers[0].spec.network if servers else ""
        # Names of the network's own children (plan.render.client_service_name,
        # plan.disruption.backbone_budget_name) that a server's children would take.
        reserved = {
            f"{network}-chat": "the network's client Service",
            f"{network}-hubs": "the PodDisruptionBudget of the network's hubs",
        }
        for server in servers:
            if server.name in reserved:
                self.add(
                    server,
                    ("metadata", "name"),
                    f"the name {server.name!r} is taken by {reserved[server.name]}",
                    "rename this ChatServer",
                )
        for server in servers:
            for index, portal in enumerate(server.spec.portals):
                path: FieldPath = ("spec", "portals", index)
                if portal.name in names:
                    self.add(
                        server,
                        (*path, "name"),
                        f"portal {portal.name!r} has the name of a server in this network",
                        "a portal is for a server outside this network's manifests; "
                        "link to an in-network server with peers or uplinks instead",
                    )
                owner = ids.get(portal.server_id)
                if owner is not None and owner != portal.name:
                    self.add(
                        server,
                        (*path, "serverId"),
                        f"portal {portal.name!r} uses server ID {portal.server_id}, "
                        f"already used by {owner}",
                        "use the remote server's real, unique server ID",
                    )

    def check_id_widths(self, servers: list[ChatServer]) -> None:
        """No server ID's hex may begin another's (``ids_clash``): their msgids would be
        ambiguous. Every ID a set may take counts, to its autoscaling ceiling, and
        portals' IDs too; a clash is the in-network server's to fix (a portal's ID
        is its remote server's). Equal IDs are ``check_identities``' to report."""
        owners: dict[str, _IdOwner] = {}  # hex ID -> the first to take it
        for server in servers:
            for name, server_id in server.possible_members():
                owners.setdefault(
                    f"{server_id:x}", _IdOwner(server, ("spec", "serverId"), name, server_id)
                )
            for index, portal in enumerate(server.spec.portals):
                path: FieldPath = ("spec", "portals", index, "serverId")
                owners.setdefault(
                    f"{portal.server_id:x}", _IdOwner(server, path, portal.name, portal.server_id)
                )
        reported: set[tuple[str, FieldPath]] = set()
        for hex_id, longer in sorted(owners.items()):
            shorter = next(
                (owners[hex_id[:w]] for w in range(1, len(hex_id)) if hex_id[:w] in owners),
                None,
            )
            if shorter is None:
                continue
            blamed, other = (
                (shorter, longer)
                if longer.portal and not shorter.portal
                else (
                    longer,
                    shorter,
                )
            )
            if (blamed.server.name, blamed.path) in reported:
                continue
            reported.add((blamed.server.name, blamed.path))
            own = blamed.server.possible_members() if not blamed.portal else []
            others = {o.server_id for o in owners.values() if o.server is not blamed.server}
            others |= {o.server_id for o in owners.values() if o.portal}
            self.add(
                blamed.server,
                blamed.path,
                ids_clash_reason(blamed.server_id, blamed.name, other.server_id, other.name),
                ONE_HEX_WIDTH + (free_id_hint(others, len(own)) if own else ""),
            )

    def check_control(self, servers: list[ChatServer]) -> None:
        controls = [s for s in servers if s.spec.role == Role.CONTROL]
        for extra in controls[1:]:
            self.add(
                extra,
                ("spec", "role"),
                f"the network already has a control server ({controls[0].name}); "
                "a network has at most one",
                "make this server a hub, or remove it",
            )

    def check_links(self, server: ChatServer, by_name: dict[str, ChatServer]) -> None:
        portals: dict[str, Portal] = {p.name: p for p in server.spec.portals}
        field_name = "uplinks" if server.spec.role == Role.LEAF else "peers"
        targets = server.spec.uplinks if server.spec.role == Role.LEAF else server.spec.peers
        hubs = sorted(n for n, s in by_name.items() if s.spec.role in _HUBLIKE and n != server.name)
        choices = ", ".join(hubs) or "(none: declare a hub first)"
        for index, target in enumerate(targets):
            path: FieldPath = ("spec", field_name, index)
            if target == server.name:
                self.add(server, path, "a server cannot link to itself", "remove this entry")
                continue
            if target in portals:
                continue
            other = by_name.get(target)
            if other is None and (server.namespace, target) in self.broken_servers:
                continue
            if other is None:
                elsewhere = [
                    s
                    for (ns, n), s in self.servers.items()
                    if ns == server.namespace and n == target
                ]
                problem = (
                    f"{target!r} belongs to network {elsewhere[0].spec.network!r}, "
                    f"not {server.spec.network!r}"
                    if elsewhere
                    else f"no ChatServer or portal named {target!r}"
                )
                self.add(
                    server, path, problem, f"use a hub of network {server.spec.network}: {choices}"
                )
                continue
            if other.spec.role not in _HUBLIKE:
                self.add(
                    server,
                    path,
                    f"{target!r} is a {other.spec.role.value}; {field_name} must be hubs",
                    f"use a hub of network {server.spec.network}: {choices}",
                )

    def check_hubs_connected(self, network: ChatNetwork, servers: list[ChatServer]) -> None:
        hubs = {s.name: s for s in servers if s.spec.role in _HUBLIKE}
        if len(hubs) < 2:
            return
        parent = {name: name for name in hubs}

        def find(name: str) -> str:
            while parent[name] != name:
                parent[name] = parent[parent[name]]
                name = parent[name]
            return name

        for hub in hubs.values():
            for peer in hub.spec.peers:
                if peer in hubs:
                    parent[find(peer)] = find(hub.name)
        groups: dict[str, list[str]] = defaultdict(list)
        for name in sorted(hubs):
            groups[find(name)].append(name)
        if len(groups) > 1:
            parts = sorted(groups.values())
            described = " | ".join(", ".join(g) for g in parts)
            self.add(
                network,
                ("metadata", "name"),
                f"its hubs form {len(parts)} separate groups ({described}), so users on one "
                "side never see the other",
                f"add {parts[1][0]!r} to spec.peers of ChatServer {parts[0][0]!r}"
                + (" (and join the other groups the same way)" if len(parts) > 2 else ""),
            )

    def check_local_signing(self) -> None:
        """Run locally, links stay on loopback with no certificates: nothing to sign with."""
        for network in self.networks.values():
            if network.spec.links.sign_adverts:
                self.add(
                    network,
                    ("spec", "links", "signAdverts"),
                    "run locally, servers have no link certificates from a network CA "
                    "to sign their adverts with",
                    "set signAdverts: false to run this network with chatnet up",
                )

    def check_local_ports(self) -> None:
        used: dict[int, str] = {}
        for network in self.networks.values():
            endpoint = network.spec.endpoint
            ports = [("websocketPort", endpoint.websocket_port), ("ircPort", endpoint.irc_port)]
            if endpoint.tls is not None:
                ports.append(("ircTlsPort", endpoint.irc_tls_port))
            for name, port in ports:
                if port in used:
                    self.add(
                        network,
                        ("spec", "endpoint", name),
                        f"port {port} is also used by {used[port]}; run locally, both "
                        "front doors cannot listen on it",
                        "give each network its own endpoint ports",
                    )
                else:
                    used[port] = f"network {network.name} ({name})"
