"""The chatnet API: ``ChatNetwork`` and ``ChatServer`` (group chatnet.io, v1alpha1).

These pydantic models are the one source of truth for the custom resources:
the CRD YAML in ``crds/`` is generated from them (see ``crds.py``), the
validator, the planner and the renderer read them. Keys are camelCase as in
any Kubernetes manifest; unknown keys are errors so a typo never silently
becomes a default.

Rules that need only one object live here twice on purpose: as a Python check
(so ``chatnet validate`` works offline) and as a CEL expression (so the API
server enforces the same rule). Both come from one ``Rule`` entry, which keeps
their messages identical.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from chatnet_operator.api.autoscale import SERVER_AUTOSCALE_RULES, Autoscale, AutoscaleStatus
from chatnet_operator.api.certificates import IssuerRef
from chatnet_operator.api.endpoint import Endpoint, SecretRef
from chatnet_operator.api.fields import (
    DOMAIN_PATTERN,
    MAX_SERVER_ID,
    ApiModel,
    Condition,
    Duration,
    Name,
    ObjectMeta,
    Port,
    Quantity,
    Rule,
    check_rules,
    parse_duration,
)
from chatnet_operator.api.monitoring import Monitoring
from chatnet_operator.api.netpolicy import DEFAULT_ADMIN_PORT, NetworkPolicySpec
from chatnet_operator.api.pod import PodSettings
from chatnet_operator.api.staff import Accounts, Cloaks, IrcOperator

# ----------------------------------------------------------------- ChatNetwork


class LinkTls(StrEnum):
    """Whether server-to-server links use TLS (ConferenceRoom's SSL-only links)."""

    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


class HistoryStore(StrEnum):
    """Where channel history lives: memory (lost on restart), SQLite per server, PostgreSQL."""

    MEMORY = "memory"
    SQLITE = "sqlite"
    POSTGRES = "postgres"


class Links(ApiModel):
    """How servers link to each other (portals)."""

    tls: LinkTls = Field(default=LinkTls.OPTIONAL, description="TLS on server-to-server links")
    ping_interval: Duration = Field(default="60s", description="how often an idle link is pinged")
    ping_timeout: Duration = Field(default="120s", description="silence after which a link drops")
    secret_name: Name | None = Field(
        default=None,
        description="Secret with key 'secret' shared by every server; generated when omitted",
    )
    tls_port: Port = Field(
        default=8443, description="port of each server's wss:// link listener (tls not off)"
    )
    tls_secret_name: Name | None = Field(
        default=None,
        description=(
            "kubernetes.io/tls Secret (tls.crt, tls.key) for the wss:// link listener;"
            " shared by every server and not verified by peers; when omitted each"
            " ChatServer gets its own certificate from the network CA and peers verify it"
        ),
    )
    issuer_ref: IssuerRef | None = Field(
        default=None,
        description=(
            "cert-manager CA issuer that signs each ChatServer's link certificate; when"
            " omitted the network keeps its own CA (cert-manager's when installed, else"
            " one the operator generates)"
        ),
    )
    peer_rate: int = Field(
        default=20000,
        ge=0,
        le=10_000_000,
        description=(
            "link messages a second one peer may send (0: no limit); a peer that goes"
            " peerBurst beyond it is flooding and its link is dropped"
        ),
    )
    peer_burst: int = Field(
        default=200000,
        ge=1,
        le=100_000_000,
        description="link messages one peer may send at once (a large network's burst)",
    )
    max_servers: int | None = Field(
        default=None,
        ge=1,
        le=4095,
        description=(
            "other servers each server reaches at once; default: twice every replica the"
            " ChatServers may run (at least 64), or 256 with a portal to a server outside"
            " the cluster"
        ),
    )
    max_users_per_server: int | None = Field(
        default=None,
        ge=1,
        description=(
            "users one other server may have on each server at once (its link dropped"
            " for one more); default: twice the largest maxClients, or 100000 with a"
            " portal to a server outside the cluster"
        ),
    )
    max_channels_per_user: int | None = Field(
        default=None,
        ge=1,
        description=(
            "channels one user of another server may be in on each server (its link"
            " dropped for one more); default: twice what a node lets a client join, or"
            " 200 with a portal to a server outside the cluster"
        ),
    )
    max_remote_users: int | None = Field(
        default=None,
        ge=1,
        description=(
            "users of other servers each server holds at once, all together (one more"
            " is refused, the link stays); default: twice every replica's maxClients"
            " together, rounded up to a power of two, or 1000000 with a portal to a"
            " server outside the cluster"
        ),
    )
    sign_adverts: bool = Field(
        default=False,
        description=(
            "each server signs its adverts (which links it has) with its own link"
            " certificate, and servers take another's advert only with its signature: a"
            " server that has the link secret cannot speak for another's links; needs"
            " per-server certificates (tls not off, no tlsSecretName, no portals); turn on"
            " once every server runs a release that knows it"
        ),
    )
    pod_certificates: bool = Field(
        default=False,
        description=(
            "each pod gets its own link certificate from cert-manager's csi-driver (CSI"
            " driver csi.cert-manager.io) naming that pod alone, so a replica cannot sign"
            " adverts for its siblings and a ChatServer may run any number of replicas with"
            " signAdverts; needs cert-manager and its csi-driver installed, tls not off, no"
            " tlsSecretName"
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> Links:
        check_rules(self, LINKS_RULES)
        return self


LINKS_RULES = [
    Rule(
        "duration(self.pingTimeout) > duration(self.pingInterval)",
        "pingTimeout must be longer than pingInterval",
        lambda lk: parse_duration(lk.ping_timeout) > parse_duration(lk.ping_interval),
    ),
    Rule(
        "!has(self.issuerRef) || !has(self.tlsSecretName)",
        "links.issuerRef and links.tlsSecretName exclude each other: certificates from an "
        "issuer, or one Secret you keep",
        lambda lk: lk.issuer_ref is None or lk.tls_secret_name is None,
    ),
    Rule(
        "!self.signAdverts || (self.tls != 'off' && !has(self.tlsSecretName))",
        "links.signAdverts needs each server's own certificate from the network CA: "
        "tls not off, and no tlsSecretName (one certificate shared by every server)",
        lambda lk: not lk.sign_adverts or (lk.tls != LinkTls.OFF and lk.tls_secret_name is None),
    ),
    Rule(
        "!self.podCertificates || (self.tls != 'off' && !has(self.tlsSecretName))",
        "links.podCertificates needs each pod's own certificate from the network CA (or "
        "issuerRef): tls not off, and no tlsSecretName (one certificate shared by every server)",
        lambda lk: (
            not lk.pod_certificates or (lk.tls != LinkTls.OFF and lk.tls_secret_name is None)
        ),
    ),
]


class Cnpg(ApiModel):
    """A PostgreSQL cluster run by CloudNativePG for the network's shared history."""

    instances: int = Field(
        default=3, ge=1, le=9, description="PostgreSQL instances: one primary, the rest standbys"
    )
    storage: Quantity = Field(default="10Gi", description="volume per instance")
    storage_class: Name | None = Field(default=None, description="StorageClass of the volumes")
    synchronous: bool = Field(
        default=True,
        description="commit on a standby too before a message is acknowledged (instances >= 2)",
    )
    cluster_name: Name | None = Field(
        default=None,
        description="adopt this existing CNPG Cluster (its NAME-app Secret) instead of "
        "creating NETWORK-history",
    )


class History(ApiModel):
    """Channel history for CHATHISTORY, kept so reconnecting users catch up."""

    store: HistoryStore = HistoryStore.SQLITE
    retention: Duration = Field(default="24h", description="how long messages are kept")
    max_messages_per_target: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="at most this many messages kept per channel or conversation",
    )
    postgres: SecretRef | None = Field(
        default=None, description="Secret with key 'dsn' when store is postgres"
    )
    cnpg: Cnpg | None = Field(
        default=None,
        description="store postgres on a CloudNativePG Cluster the operator creates (or adopts)",
    )
    storage_size: Quantity = Field(default="1Gi", description="volume per server for sqlite")

    @model_validator(mode="after")
    def _rules(self) -> History:
        check_rules(self, HISTORY_RULES)
        return self


HISTORY_RULES = [
    Rule(
        "self.store != 'postgres' || has(self.postgres) || has(self.cnpg)",
        "store postgres needs postgres.secretName or cnpg",
        lambda h: h.store != HistoryStore.POSTGRES or h.postgres is not None or h.cnpg is not None,
    ),
    Rule(
        "!has(self.postgres) || !has(self.cnpg)",
        "postgres.secretName and cnpg exclude each other: name one database",
        lambda h: h.postgres is None or h.cnpg is None,
    ),
    Rule(
        "!has(self.cnpg) || self.store == 'postgres'",
        "cnpg needs store postgres",
        lambda h: h.cnpg is None or h.store == HistoryStore.POSTGRES,
    ),
]


class Throttle(ApiModel):
    """The connection throttle: connections per address block, counted across the network."""

    enabled: bool = True
    ipv4_prefix: int = Field(default=32, ge=8, le=32, description="IPv4 block width (bits)")
    ipv6_prefix: int = Field(default=64, ge=16, le=128, description="IPv6 block width (bits)")
    max_connections: int = Field(
        default=20, ge=1, le=1_000_000, description="connections open at once per block"
    )
    max_attempts: int = Field(
        default=30, ge=1, le=1_000_000, description="new connections per block per window"
    )
    window_seconds: int = Field(default=60, ge=1, le=3600)
    max_unregistered: int = Field(
        default=10, ge=1, le=100_000, description="connections per block still registering"
    )
    exempt: list[Annotated[str, Field(max_length=43)]] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        max_length=100,
        description="address blocks (CIDR) never throttled",
    )

    @field_validator("exempt")
    @classmethod
    def _blocks(cls, value: list[str]) -> list[str]:
        for block in value:
            try:
                ipaddress.ip_network(block, strict=False)
            except ValueError:
                raise ValueError(
                    f"{block!r} is not an address block (e.g. 203.0.113.0/24)"
                ) from None
        return value


class Limits(ApiModel):
    """Per-server client limits; a ChatServer may override maxClients."""

    max_clients: int = Field(default=1000, ge=0, le=1_000_000, description="clients per server")
    max_per_address: int = Field(default=0, ge=0, description="clients per address, 0: no limit")
    flood_burst: int = Field(
        default=20, ge=1, le=1000, description="lines a client may send at once"
    )
    flood_rate: int = Field(default=4, ge=1, le=1000, description="lines per second, sustained")
    throttle: Throttle = Field(default_factory=Throttle)


def _unique(items: list[Any]) -> bool:
    return len(items) == len(set(items))


NETWORK_RULES = [
    Rule(
        "!has(self.operators)"
        " || self.operators.all(o, self.operators.exists_one(p, p.name == o.name))",
        "operators must not repeat a name (operators[].name)",
        lambda s: _unique([o.name for o in s.operators]),
    ),
]


class ChatNetworkSpec(ApiModel):
    """One chat network: its endpoint, its links, its history and defaults for its servers."""

    display_name: str | None = Field(
        default=None, max_length=64, description="network name users see; metadata.name if unset"
    )
    server_domain: str | None = Field(
        default=None,
        max_length=60,
        pattern=DOMAIN_PATTERN,
        description="the domain of the servers' IRC names: ChatServer east becomes IRC "
        "server east.<serverDomain> (object names stay as they are); unset: east",
    )
    endpoint: Endpoint = Endpoint()
    links: Links = Links()
    history: History = History()
    limits: Limits = Limits()
    motd: str = Field(default="Welcome to chatnet.", max_length=4096)
    image: str | None = Field(default=None, max_length=512, description="node image override")
    accounts: Accounts = Accounts()
    cloaks: Cloaks = Cloaks()
    operators: list[IrcOperator] = Field(
        default=[], max_length=64, description="IRC operators of every server"
    )
    admin_port: Port = Field(
        default=DEFAULT_ADMIN_PORT,
        description="each pod's admin port: /healthz, /readyz, /status, /metrics "
        "(not on the client Service)",
    )
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description="who may reach which port of the network's pods",
    )
    pod: PodSettings = Field(
        default=PodSettings(), description="pod settings of every server; a ChatServer's override"
    )
    monitoring: Monitoring = Field(
        default=Monitoring(),
        description="ServiceMonitor/PodMonitor and alerts (prometheus-operator)",
    )

    @model_validator(mode="after")
    def _ports_differ(self) -> ChatNetworkSpec:
        check_rules(self, NETWORK_RULES)
        endpoint = self.endpoint
        taken = {endpoint.websocket_port, endpoint.irc_port}
        if endpoint.tls is not None:
            taken.add(endpoint.irc_tls_port)
        if endpoint.proxy_protocol:
            if endpoint.tls is not None and endpoint.irc_tls_port == endpoint.proxy_websocket_port:
                raise ValueError("endpoint.proxyWebsocketPort must differ from ircTlsPort")
            taken.add(endpoint.proxy_websocket_port)
        if self.links.tls != LinkTls.OFF and self.links.tls_port in taken:
            raise ValueError(
                f"links.tlsPort {self.links.tls_port} is also an endpoint port; pick another"
            )
        if self.links.tls != LinkTls.OFF:
            taken.add(self.links.tls_port)
        if self.admin_port in taken:
            raise ValueError(
                f"adminPort {self.admin_port} is also a client or link port; pick another"
            )
        return self


class ObservedStatus(ApiModel):
    """What both kinds report: the generation seen, clients against capacity, links up."""

    observed_generation: int | None = Field(default=None, ge=0)
    client_count: int = Field(default=0, ge=0)
    capacity: int = Field(default=0, ge=0)
    clients: str = Field(default="", description="clients/capacity, for kubectl get")
    links_up: int = Field(default=0, ge=0)
    links_expected: int = Field(default=0, ge=0)
    links: str = Field(default="", description="up/expected, for kubectl get")
    conditions: list[Condition] = []


class ChatNetworkStatus(ObservedStatus):
    """What the operator last saw of the network."""

    servers_ready: int = Field(default=0, ge=0)
    servers_declared: int = Field(default=0, ge=0)
    servers: str = Field(default="", description="ready/declared, for kubectl get")


class ChatNetwork(ApiModel):
    """A ChatNetwork resource."""

    api_version: Literal["chatnet.io/v1alpha1"] = "chatnet.io/v1alpha1"
    kind: Literal["ChatNetwork"] = "ChatNetwork"
    metadata: ObjectMeta
    spec: ChatNetworkSpec = ChatNetworkSpec()
    status: ChatNetworkStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def display_name(self) -> str:
        return self.spec.display_name or self.metadata.name

    def irc_name(self, server: str) -> str:
        """The IRC name of server ``server`` (a ChatServer or a replica's name)."""
        domain = self.spec.server_domain
        return f"{server}.{domain}" if domain else server


# ------------------------------------------------------------------ ChatServer


class Role(StrEnum):
    """A hub links to hubs and accepts leaves; a leaf links to one hub; control is a
    hub that serves no clients (Web Crossing's control room)."""

    HUB = "hub"
    LEAF = "leaf"
    CONTROL = "control"


class Portal(ApiModel):
    """A server outside this cluster (Exchange's portals: name, address, port, server ID)."""

    name: Name = Field(description="the remote server's name")
    address: str = Field(min_length=1, max_length=253, description="host name or IP address")
    port: Port
    server_id: int = Field(ge=1, le=MAX_SERVER_ID)
    tls: bool = Field(default=False, description="dial with TLS")
    role: Literal["hub", "control"] = Field(default="hub", description="the remote server's role")


class Resources(ApiModel):
    """Container requests and limits, as in a Pod spec."""

    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}


#: The well-known node labels spec.zone and spec.region select on.
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


class ChatServerSpec(ApiModel):
    """One chat server, or a numbered set of them when replicas > 1."""

    network: Name = Field(description="the ChatNetwork this server belongs to")
    role: Role
    server_id: int = Field(
        ge=1,
        le=MAX_SERVER_ID,
        description="ID of replica 0; replica i gets serverId + i. The network's IDs are of "
        "one hex width (1-15, 16-255 or 256-4095): no ID's hex may begin another's",
    )
    max_clients: int | None = Field(
        default=None, ge=0, le=1_000_000, description="overrides the network's limits.maxClients"
    )
    replicas: int = Field(default=1, ge=0, le=1000, description="numbered servers NAME-0..N-1")
    peers: list[Name] = Field(
        default=[], max_length=64, description="hubs (or portals) this hub links to"
    )
    uplinks: list[Name] = Field(
        default=[],
        max_length=16,
        description="hubs a leaf tries in order; the first reachable wins",
    )
    portals: list[Portal] = Field(default=[], max_length=64)
    auto_connect: bool = Field(default=True, description="dial links at start; off: manual CONNECT")
    zone: str | None = Field(default=None, max_length=63, description="topology.kubernetes.io/zone")
    region: str | None = Field(
        default=None, max_length=63, description="topology.kubernetes.io/region"
    )
    resources: Resources | None = Field(
        default=None, description="container requests and limits; default: sized from maxClients"
    )
    pod: PodSettings = Field(
        default=PodSettings(), description="pod settings over the network's spec.pod"
    )
    autoscale: Autoscale | None = Field(
        default=None, description="fan-out replicas that follow the load (chatnet sets replicas)"
    )

    @model_validator(mode="after")
    def _rules(self) -> ChatServerSpec:
        check_rules(self, SERVER_RULES)
        selected = self.pod.node_selector or {}
        for key, value in ((ZONE_LABEL, self.zone), (REGION_LABEL, self.region)):
            if value is not None and selected.get(key, value) != value:
                raise ValueError(
                    f"pod.nodeSelector {key}={selected[key]} contradicts "
                    f"{key.rsplit('/', 1)[1]}: {value}; set one of them"
                )
        return self

    @property
    def serves_clients(self) -> bool:
        return self.role != Role.CONTROL

    def clients_each(self, network_max_clients: int) -> int:
        """Clients each replica takes: none in a control room, else maxClients or the network's."""
        if not self.serves_clients:
            return 0
        return network_max_clients if self.max_clients is None else self.max_clients


SERVER_RULES = [
    Rule(
        "self.role != 'control' || !has(self.maxClients) || self.maxClients == 0",
        "a control server serves no clients: remove maxClients or set it to 0",
        lambda s: s.role != Role.CONTROL or not s.max_clients,
    ),
    Rule(
        "self.role != 'control' || self.replicas == 1",
        "a control server runs exactly one replica",
        lambda s: s.role != Role.CONTROL or s.replicas == 1,
    ),
    Rule(
        "self.role == 'leaf' || self.replicas >= 1",
        "a hub runs at least one replica",
        lambda s: s.role == Role.LEAF or s.replicas >= 1,
    ),
    Rule(
        "self.role == 'leaf' || !has(self.uplinks) || size(self.uplinks) == 0",
        "only leaves have uplinks: list hubs a hub links to in peers",
        lambda s: s.role == Role.LEAF or not s.uplinks,
    ),
    Rule(
        "self.role != 'leaf' || !has(self.peers) || size(self.peers) == 0",
        "a leaf links to one hub at a time: list its hubs in uplinks, not peers",
        lambda s: s.role != Role.LEAF or not s.peers,
    ),
    Rule(
        "self.role != 'leaf' || (has(self.uplinks) && size(self.uplinks) > 0)"
        " || (has(self.portals) && size(self.portals) > 0)",
        "a leaf needs at least one uplink (a hub of its network, or a portal)",
        lambda s: s.role != Role.LEAF or bool(s.uplinks) or bool(s.portals),
    ),
    Rule(
        f"self.serverId + self.replicas <= {MAX_SERVER_ID + 1}",
        f"serverId + replicas - 1 must not exceed {MAX_SERVER_ID}",
        lambda s: s.server_id + s.replicas <= MAX_SERVER_ID + 1,
    ),
    Rule(
        "!has(self.peers) || self.peers.all(p, self.peers.exists_one(q, q == p))",
        "peers must not repeat a name",
        lambda s: _unique(s.peers),
    ),
    Rule(
        "!has(self.uplinks) || self.uplinks.all(u, self.uplinks.exists_one(v, v == u))",
        "uplinks must not repeat a name",
        lambda s: _unique(s.uplinks),
    ),
    Rule(
        "!has(self.portals) || self.portals.all(p, self.portals.exists_one(q, q.name == p.name))",
        "portal names must be unique",
        lambda s: _unique([p.name for p in s.portals]),
    ),
    *SERVER_AUTOSCALE_RULES,
]


class ChatServerStatus(ObservedStatus):
    """What the operator last saw of the server set."""

    replicas: int = Field(default=0, ge=0, description="pods that exist (scale subresource)")
    ready_replicas: int = Field(default=0, ge=0)
    selector: str = Field(default="", description="label selector of the pods (scale subresource)")
    autoscale: AutoscaleStatus | None = Field(
        default=None, description="the last resize by spec.autoscale, and why"
    )


class ChatServer(ApiModel):
    """A ChatServer resource."""

    api_version: Literal["chatnet.io/v1alpha1"] = "chatnet.io/v1alpha1"
    kind: Literal["ChatServer"] = "ChatServer"
    metadata: ObjectMeta
    spec: ChatServerSpec
    status: ChatServerStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    def members(self) -> list[tuple[str, int]]:
        """(server name, server ID) of every replica: NAME alone, or NAME-0..N-1 for a set.

        Replica i of a set gets serverId + i, so a set owns a contiguous ID range.
        An autoscaled set is always numbered, so growing from one keeps NAME-0.
        """
        spec = self.spec
        if spec.replicas == 1 and spec.autoscale is None:
            return [(self.name, spec.server_id)]
        return [(f"{self.name}-{i}", spec.server_id + i) for i in range(spec.replicas)]

    def possible_members(self) -> list[tuple[str, int]]:
        """``members`` as far as the set may grow: to ``autoscale.maxReplicas`` too."""
        spec = self.spec
        ceiling = max(spec.replicas, spec.autoscale.max_replicas if spec.autoscale else 0)
        if ceiling <= spec.replicas:
            return self.members()
        return [(f"{self.name}-{i}", spec.server_id + i) for i in range(ceiling)]


Resource = ChatNetwork | ChatServer
KINDS: dict[str, type[ChatNetwork] | type[ChatServer]] = {
    "ChatNetwork": ChatNetwork,
    "ChatServer": ChatServer,
}
