"""The planner: declared objects in, the desired state of every server out.

A pure function, no I/O. For every server (every replica of a set) it
produces the node's configuration (identity, listeners, limits, history) and
its link plan (portals to dial and to accept). Where a server runs is asked of
a ``Placement`` (on a cluster: pod DNS names; locally: loopback ports), so the
operator, ``chatnet render`` and ``chatnet up`` share this one code path.

Links:
* hubs link to every hub their ``peers`` name (and the replicas of one hub
  set to each other): any connected graph, cycles included, for redundancy.
  Each hub link is dialed by exactly one side, the one with the higher server
  ID, so two hubs never dial each other at once.
* leaves dial the first reachable of their ordered uplinks; replicas of a
  leaf set start on different members of a hub set so the load spreads.
* ``tree`` is one spanning tree over those links (breadth-first from the
  lowest server ID, then each leaf's first uplink): the loop-free backbone
  the routing can start from, and proof that every server is connected.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from chatnet_node.config import (
    Accounts,
    Cloaks,
    History,
    Limits,
    LinkPeer,
    Links,
    NodeConfig,
    Operator,
    Throttle,
)
from chatnet_operator.api.exposure import service_type
from chatnet_operator.api.fields import parse_duration
from chatnet_operator.api.models import ChatNetwork, ChatServer, HistoryStore, LinkTls, Portal, Role
from chatnet_operator.api.outcome import Declared
from chatnet_operator.plan.certificates import certificate_plan
from chatnet_operator.plan.desired import (
    ClusterPlan,
    CnpgPlan,
    EndpointPlan,
    LinkPlan,
    Member,
    NetworkPlan,
    PortalTarget,
    ServerPlan,
    ServerSetPlan,
    ServiceType,
)
from chatnet_operator.plan.exposure import ExposurePlan
from chatnet_operator.plan.linkca import link_ca_plan
from chatnet_operator.plan.linkquotas import link_quotas
from chatnet_operator.plan.lockdown import policy_plan
from chatnet_operator.plan.monitoring import monitoring_plan
from chatnet_operator.plan.placement import CLOAK_SECRET_KEY, Placement, cloak_secret_name
from chatnet_operator.plan.routes import ingress_plan, route_plan

_HUBLIKE = (Role.HUB, Role.CONTROL)


def members_of(server: ChatServer) -> list[Member]:
    """Every replica of a ChatServer, in ordinal order."""
    return [
        Member(name, server_id, server.name, ordinal, server.spec.role)
        for ordinal, (name, server_id) in enumerate(server.members())
    ]


def hub_tree(
    hubs: list[Member], edges: set[frozenset[str]]
) -> tuple[dict[str, str], set[frozenset[str]]]:
    """Breadth-first spanning forest: (child to parent, tree edges).

    Roots and visiting order follow server IDs, so the same input always
    gives the same tree.
    """
    by_id = sorted(hubs, key=lambda m: m.server_id)
    order = {m.name: m.server_id for m in by_id}
    neighbours: dict[str, list[str]] = {m.name: [] for m in by_id}
    for edge in edges:
        a, b = sorted(edge)
        neighbours[a].append(b)
        neighbours[b].append(a)
    parent: dict[str, str] = {}
    seen: set[str] = set()
    tree: set[frozenset[str]] = set()
    for root in by_id:
        if root.name in seen:
            continue
        seen.add(root.name)
        queue = deque([root.name])
        while queue:
            current = queue.popleft()
            for nxt in sorted(neighbours[current], key=order.__getitem__):
                if nxt not in seen:
                    seen.add(nxt)
                    parent[nxt] = current
                    tree.add(frozenset((current, nxt)))
                    queue.append(nxt)
    return parent, tree


def _hub_edges(servers: list[ChatServer], members: dict[str, list[Member]]) -> set[frozenset[str]]:
    edges: set[frozenset[str]] = set()
    for server in servers:
        if server.spec.role not in _HUBLIKE:
            continue
        mine = members[server.name]
        # The replicas of one hub set are equals: each may link to each.
        edges |= {frozenset((a.name, b.name)) for a in mine for b in mine if a.name != b.name}
        for peer in server.spec.peers:
            for a in mine:
                edges |= {frozenset((a.name, b.name)) for b in members.get(peer, [])}
    return edges


def _leaf_candidates(
    server: ChatServer, member: Member, members: dict[str, list[Member]]
) -> list[str | int]:
    """Ordered uplink candidates: member names, or indexes into the server's portals."""
    portals = {p.name: i for i, p in enumerate(server.spec.portals)}
    out: list[str | int] = []
    for uplink in server.spec.uplinks:
        if uplink in portals:
            out.append(portals[uplink])
            continue
        targets = members.get(uplink, [])
        if targets:
            # Rotate by ordinal: fan-out replicas spread over the hub set.
            start = member.ordinal % len(targets)
            out += [t.name for t in targets[start:] + targets[:start]]
    return out


def plan_network(declared: Declared, placement: Placement) -> NetworkPlan:
    """The desired state of every server of one validated network."""
    network = declared.network
    spec = network.spec
    servers = sorted(declared.servers, key=lambda s: s.spec.server_id)
    members = {s.name: members_of(s) for s in servers}
    flat = {m.name: m for ms in members.values() for m in ms}
    hubs = [m for m in flat.values() if m.role in _HUBLIKE]
    edges = _hub_edges(servers, members)
    _, tree_edges = hub_tree(hubs, edges)
    # Locally there are no certificates: links stay plaintext on loopback.
    tls_possible = placement.link_tls()
    tls_required = spec.links.tls == LinkTls.REQUIRED and tls_possible

    irc = network.irc_name  # links know each other by IRC name; placement by object name

    def target(member: Member) -> PortalTarget:
        host, port = placement.link_address(member, tls_required)
        return PortalTarget(
            name=irc(member.name),
            server_id=member.server_id,
            host=host,
            port=port,
            tls=tls_required,
        )

    dial: dict[str, list[PortalTarget]] = {name: [] for name in flat}
    accept: dict[str, set[str]] = {name: set() for name in flat}
    links: list[tuple[str, str]] = []
    for edge in edges:
        low, high = sorted((flat[n] for n in edge), key=lambda m: m.server_id)
        links.append((high.name, low.name))
        accept[low.name].add(irc(high.name))
        accept[high.name].add(irc(low.name))
    links.sort(key=lambda pair: (flat[pair[0]].server_id, flat[pair[1]].server_id))
    for dialer, listener in links:
        dial[dialer].append(target(flat[listener]))
    tree = [pair for pair in links if frozenset(pair) in tree_edges]

    for server in servers:
        portals = server.spec.portals
        named = set(server.spec.peers) | set(server.spec.uplinks)
        for member in members[server.name]:
            accept[member.name] |= {p.name for p in portals}
            if server.spec.role != Role.LEAF:
                # A hub dials the outside servers its peers name; others dial it.
                dial[member.name] += [
                    _external(p, tls_required) for p in portals if p.name in named
                ]
                continue
            candidates = _leaf_candidates(server, member, members)
            for cand in candidates:
                if isinstance(cand, int):
                    dial[member.name].append(_external(portals[cand], tls_required))
                else:
                    dial[member.name].append(target(flat[cand]))
                    accept[cand].add(irc(member.name))
            if candidates and not isinstance(candidates[0], int):
                links.append((member.name, candidates[0]))
                tree.append((member.name, candidates[0]))

    plans: dict[str, ServerPlan] = {}
    # Every server shows its certificate from the network CA when it dials, and
    # demands one of servers dialing in, unless servers outside the cluster
    # (portals) link in: they have no certificate from this CA.
    shown = placement.link_certificate()
    outside = any(server.spec.portals for server in servers)
    ceilings = _ceilings(network, servers)
    quotas = link_quotas(network, servers, {name: len(names) for name, names in ceilings}, outside)
    for server in servers:
        for member in members[server.name]:
            link_plan = LinkPlan(
                role=server.spec.role,
                auto_connect=server.spec.auto_connect,
                tls=spec.links.tls if tls_possible else LinkTls.OPTIONAL,
                ping_interval=parse_duration(spec.links.ping_interval),
                ping_timeout=parse_duration(spec.links.ping_timeout),
                peer_rate=spec.links.peer_rate,
                peer_burst=spec.links.peer_burst,
                max_servers=quotas.max_servers,
                max_users_per_server=quotas.max_users_per_server,
                max_channels_per_user=quotas.max_channels_per_user,
                max_remote_users=quotas.max_remote_users,
                secret_file=placement.link_secret_file(),
                ca_file=placement.link_ca_file(),
                cert_file=shown[0] if shown else None,
                key_file=shown[1] if shown else None,
                require_peer_certificate=shown is not None and not outside,
                sign_adverts=spec.links.sign_adverts and shown is not None,
                dial=dial[member.name],
                accept=sorted(accept[member.name]),
            )
            plans[member.name] = ServerPlan(
                name=member.name,
                server_id=member.server_id,
                role=server.spec.role,
                chat_server=server.name,
                ordinal=member.ordinal,
                serves_clients=server.spec.serves_clients,
                node=_node_config(network, server, member, placement).model_copy(
                    update={"links": node_links(link_plan)}
                ),
                links=link_plan,
            )
    return NetworkPlan(
        network=network.name,
        namespace=network.namespace,
        display_name=network.display_name,
        servers=plans,
        sets=[_set_plan(network, server, members[server.name]) for server in servers],
        cluster=cluster_plan(network).model_copy(
            update={"link_ca": link_ca_plan(network, ceilings, placement)}
        ),
        links=links,
        tree=tree,
        namespaced=network.metadata.namespace is not None,
        network_policy=policy_plan(network, servers),
    )


def _ceilings(network: ChatNetwork, servers: list[ChatServer]) -> list[tuple[str, list[str]]]:
    """Each ChatServer with the IRC names of the most replicas it may run (its autoscale
    maximum): its link certificate names them, so its signed adverts are its own."""
    out = []
    for s in servers:
        ceiling = max(s.spec.replicas, s.spec.autoscale.max_replicas if s.spec.autoscale else 0)
        numbered = ceiling > 1 or s.spec.autoscale is not None  # as ``ChatServer.members``
        names = [f"{s.name}-{i}" for i in range(ceiling)] if numbered else [s.name] * ceiling
        out.append((s.name, [network.irc_name(name) for name in names]))
    return out


def _set_plan(network: ChatNetwork, server: ChatServer, members: list[Member]) -> ServerSetPlan:
    spec = server.spec
    return ServerSetPlan(
        name=server.name,
        role=spec.role,
        serves_clients=spec.serves_clients,
        replicas=spec.replicas,
        members=[m.name for m in members],
        resources=spec.resources.model_dump(exclude_defaults=True) if spec.resources else None,
        zone=spec.zone,
        region=spec.region,
        max_clients=spec.clients_each(network.spec.limits.max_clients),
        pod=spec.pod.over(network.spec.pod),
    )


def cluster_plan(network: ChatNetwork) -> ClusterPlan:
    """How ``network`` runs on a cluster: images, Services, Secrets and volumes."""
    spec = network.spec
    endpoint = spec.endpoint
    tls = endpoint.tls
    return ClusterPlan(
        image=spec.image,
        endpoint=EndpointPlan(
            websocket_port=endpoint.websocket_port,
            irc_port=endpoint.irc_port,
            irc_tls_port=endpoint.irc_tls_port if tls is not None else None,
            tls_secret=tls.secret_for(network.name) if tls is not None else None,
            service_type=ServiceType(service_type(endpoint)),
            exposure=ExposurePlan(
                annotations=endpoint.service.annotations if endpoint.service else {},
                external_traffic_policy=(
                    endpoint.service.external_traffic_policy if endpoint.service else None
                ),
                load_balancer_source_ranges=(
                    endpoint.service.load_balancer_source_ranges if endpoint.service else []
                ),
                proxy_protocol=endpoint.proxy_protocol,
                trusted_proxies=endpoint.trusted_proxies,
                proxy_websocket_port=endpoint.proxy_websocket_port
                if endpoint.proxy_protocol
                else None,
            ),
            certificate=certificate_plan(network),
            ingress=ingress_plan(network),
            route=route_plan(network),
        ),
        link_secret=spec.links.secret_name or f"{network.name}-links",
        link_secret_generated=spec.links.secret_name is None,
        link_tls=spec.links.tls,
        link_tls_port=spec.links.tls_port,
        link_tls_secret=spec.links.tls_secret_name,
        history_store=spec.history.store,
        storage_size=spec.history.storage_size,
        **_postgres(network),
        mounted_secrets=sorted({name for name, _ in secret_keys(network)}),
        cloak_secret_generated=(
            cloak_secret_name(network.name)
            if spec.cloaks.enabled and spec.cloaks.secret_ref is None
            else None
        ),
        monitoring=monitoring_plan(network),
        admin_port=spec.admin_port,
    )


def _postgres(network: ChatNetwork) -> dict[str, Any]:
    """Where the shared store's DSN comes from: a Secret named in the spec, or CNPG's app Secret."""
    history = network.spec.history
    if history.postgres is not None:
        return {"postgres_secret": history.postgres.secret_name}
    cnpg = history.cnpg
    if cnpg is None:
        return {"postgres_secret": None}
    name = cnpg.cluster_name or f"{network.name}-history"
    return {
        # CNPG keeps the application user's connection URI in NAME-app, key uri.
        "postgres_secret": f"{name}-app",
        "postgres_secret_key": "uri",
        "cnpg": CnpgPlan(
            cluster_name=name,
            create=cnpg.cluster_name is None,
            instances=cnpg.instances,
            storage=cnpg.storage,
            storage_class=cnpg.storage_class,
            synchronous=cnpg.synchronous,
        ),
    }


def cloak_secret_key(network: ChatNetwork) -> tuple[str, str] | None:
    """(Secret, key) of the network's cloak secret; None when cloaks are off."""
    cloaks = network.spec.cloaks
    if not cloaks.enabled:
        return None
    if cloaks.secret_ref is None:
        return cloak_secret_name(network.name), CLOAK_SECRET_KEY
    return cloaks.secret_ref.name, cloaks.secret_ref.key


def secret_keys(network: ChatNetwork) -> list[tuple[str, str]]:
    """Every (Secret, key) the servers read: operators' passwords, then the cloak secret."""
    keys = [(o.password_secret_ref.name, o.password_secret_ref.key) for o in network.spec.operators]
    cloak = cloak_secret_key(network)
    if cloak is not None:
        keys.append(cloak)
    return keys


def node_links(plan: LinkPlan) -> Links:
    """The link plan as the node reads it (``links:`` in its configuration)."""
    return Links(
        role=plan.role.value,
        auto_connect=plan.auto_connect,
        tls=plan.tls.value,
        ping_interval=plan.ping_interval,
        ping_timeout=plan.ping_timeout,
        peer_rate=plan.peer_rate,
        peer_burst=plan.peer_burst,
        max_servers=plan.max_servers,
        max_users_per_server=plan.max_users_per_server,
        max_channels_per_user=plan.max_channels_per_user,
        max_remote_users=plan.max_remote_users,
        secret_file=plan.secret_file,
        ca_file=plan.ca_file,
        cert_file=plan.cert_file,
        key_file=plan.key_file,
        require_peer_certificate=plan.require_peer_certificate,
        sign_adverts=plan.sign_adverts,
        dial=[LinkPeer.model_validate(t.model_dump()) for t in plan.dial],
        accept=plan.accept,
    )


def _external(portal: Portal, tls_required: bool) -> PortalTarget:
    return PortalTarget(
        name=portal.name,
        server_id=portal.server_id,
        host=portal.address,
        port=portal.port,
        tls=portal.tls or tls_required,
        external=True,
    )


def _node_config(
    network: ChatNetwork, server: ChatServer, member: Member, placement: Placement
) -> NodeConfig:
    spec = network.spec
    max_clients = server.spec.clients_each(spec.limits.max_clients)
    store = spec.history.store
    history_path = placement.history_path(member) if store == HistoryStore.SQLITE else None
    return NodeConfig(
        name=network.irc_name(member.name),
        server_id=member.server_id,
        network=network.display_name,
        description=f"{network.display_name} {server.spec.role.value} {member.name}",
        listeners=placement.listeners(member),
        trusted_proxies=spec.endpoint.trusted_proxies,
        limits=Limits(
            max_clients=max_clients,
            max_per_address=spec.limits.max_per_address,
            flood_burst=spec.limits.flood_burst,
            flood_rate=float(spec.limits.flood_rate),
            throttle=Throttle.model_validate(spec.limits.throttle.model_dump()),
        ),
        motd=spec.motd,
        operators=[
            Operator(
                name=o.name,
                password_file=placement.secret_file(
                    o.password_secret_ref.name, o.password_secret_ref.key
                ),
                hosts=list(o.hosts),
            )
            for o in spec.operators
        ],
        accounts=Accounts.model_validate(spec.accounts.model_dump()),
        cloaks=_node_cloaks(network, placement),
        drain_seconds=placement.drain_seconds(member),
        # PostgreSQL: no DSN here, a configuration holds no password. The node
        # reads CHATNET_HISTORY_DSN: on a cluster the pod gets it from the
        # Secret history.postgres.secretName; locally ``chatnet up`` passes
        # its own environment on.
        history=History(
            store="postgres" if store == HistoryStore.POSTGRES else "sqlite",
            path=history_path,
            retention_seconds=parse_duration(spec.history.retention),
            max_messages_per_target=spec.history.max_messages_per_target,
        ),
    )


def _node_cloaks(network: ChatNetwork, placement: Placement) -> Cloaks:
    cloaks = network.spec.cloaks
    secret = cloak_secret_key(network)
    return Cloaks(
        enabled=cloaks.enabled,
        secret_file=placement.secret_file(*secret) if secret is not None else None,
        suffix=cloaks.suffix,
        account_cloaks=cloaks.account_cloaks,
    )
