"""The desired state: what the planner produces and everything downstream reads.

``NetworkPlan`` is the whole of it: per server, the node's configuration
and its link plan; per ChatServer, the set of servers one workload runs;
for the network, how it runs on a cluster (``ClusterPlan``). ``render``,
``chatnet up``, the operator's status and ``chatnet render`` read only
this, never the raw API objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from chatnet_node.config import NodeConfig
from chatnet_operator.api.endpoint import ServiceType
from chatnet_operator.api.models import HistoryStore, LinkTls, Role
from chatnet_operator.api.pod import PodSettings
from chatnet_operator.plan.exposure import ExposurePlan

# The enums the plan's fields are typed with are the API's own; they are part
# of the plan's vocabulary, so a reader of the plan takes them from here.
__all__ = [
    "CertificatePlan",
    "ClusterPlan",
    "CnpgPlan",
    "EndpointPlan",
    "HistoryStore",
    "IngressPlan",
    "LinkPlan",
    "LinkTls",
    "Member",
    "MonitoringPlan",
    "NetworkPlan",
    "PodSettings",
    "PolicyPlan",
    "PortalTarget",
    "Role",
    "RoutePlan",
    "ServerPlan",
    "ServerSetPlan",
    "ServiceType",
]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class PortalTarget(_Model):
    """A server to dial: its identity and where it listens for links."""

    name: str
    server_id: int
    host: str
    port: int
    tls: bool = False
    external: bool = False


class LinkPlan(_Model):
    """How one server links into the network (the node gets it as ``links:``)."""

    role: Role
    auto_connect: bool = True
    tls: LinkTls = LinkTls.OPTIONAL
    ping_interval: float = 60.0
    ping_timeout: float = 120.0
    #: The per-peer link flood limit (messages a second, and at once).
    peer_rate: float
    peer_burst: float
    #: What other servers may fill it with (``plan.linkquotas``); the planner
    #: always sets these, so no default here repeats the node's.
    max_servers: int
    max_users_per_server: int
    max_channels_per_user: int
    max_remote_users: int
    secret_file: Path | None = None
    #: CA bundle the node verifies its peers' link certificates against.
    ca_file: Path | None = None
    #: The certificate and key the node shows when it dials.
    cert_file: Path | None = None
    key_file: Path | None = None
    #: Servers dialing in must show a certificate ``ca_file`` trusts.
    require_peer_certificate: bool = False
    #: Sign this server's adverts, and take only signed ones (``spec.links.signAdverts``).
    sign_adverts: bool = False
    #: Hubs dial every entry; a leaf dials the first reachable one, in order.
    dial: list[PortalTarget] = []
    #: Servers allowed to link in (names).
    accept: list[str] = []


@dataclass(frozen=True)
class Member:
    """One server of a ChatServer: the replica ``ordinal`` of ``chat_server``."""

    name: str
    server_id: int
    chat_server: str
    ordinal: int
    role: Role


class ServerPlan(_Model):
    """The desired state of one server."""

    #: The server's object name (pods, Services, status); its IRC name is ``node.name``.
    name: str
    server_id: int
    role: Role
    chat_server: str
    ordinal: int
    serves_clients: bool
    node: NodeConfig
    links: LinkPlan


class ServerSetPlan(_Model):
    """One ChatServer: the servers one workload (a StatefulSet) runs, and how."""

    name: str
    role: Role
    serves_clients: bool
    replicas: int
    #: The servers of the set, in ordinal order (``NAME`` alone, or ``NAME-0``...).
    members: list[str]
    resources: dict[str, Any] | None = None
    zone: str | None = None
    region: str | None = None
    #: Clients each server of the set admits (0: a control server); sizes default resources.
    max_clients: int = 0
    #: The network's ``spec.pod`` with the ChatServer's over it.
    pod: PodSettings = PodSettings()


class CertificatePlan(_Model):
    """A cert-manager Certificate for the client endpoint; it writes ``secret_name``."""

    secret_name: str
    issuer_name: str
    issuer_kind: str
    issuer_group: str
    dns_names: list[str]


class IngressPlan(_Model):
    """An Ingress sending the web chat (https, wss) to the client Service."""

    host: str
    class_name: str | None = None
    annotations: dict[str, str] = {}
    tls_secret: str | None = None


class RoutePlan(_Model):
    """A Gateway API HTTPRoute sending the web chat to the client Service."""

    #: Each a Gateway reference: name, and namespace / sectionName when given.
    parent_refs: list[dict[str, str]]
    hostnames: list[str] = []


class MonitoringPlan(_Model):
    """prometheus-operator objects for the servers (``spec.monitoring``)."""

    service_monitor: bool = False
    pod_monitor: bool = False
    prometheus_rule: bool = False
    interval: str = "30s"
    labels: dict[str, str] = {}


class EndpointPlan(_Model):
    """The network's client endpoint: one Service over every server that serves clients."""

    websocket_port: int
    irc_port: int
    #: IRC over TLS, with its certificate Secret; None without TLS.
    irc_tls_port: int | None = None
    tls_secret: str | None = None
    service_type: ServiceType = ServiceType.CLUSTER_IP
    #: The Service's extras and the proxies in front (``plan.exposure``).
    exposure: ExposurePlan = ExposurePlan()
    #: cert-manager makes ``tls_secret`` (None: the user keeps it, or no TLS).
    certificate: CertificatePlan | None = None
    ingress: IngressPlan | None = None
    route: RoutePlan | None = None


class CnpgPlan(_Model):
    """The CloudNativePG Cluster holding the shared history: made by the operator, or adopted."""

    cluster_name: str
    #: False: an existing Cluster named by ``history.cnpg.clusterName`` is used as it is.
    create: bool
    instances: int
    storage: str
    storage_class: str | None = None
    synchronous: bool = True


class PolicyPlan(_Model):
    """The network's NetworkPolicy: who may reach which port (``plan/netpolicy.py`` renders it)."""

    #: CIDRs allowed on the client ports; empty: anywhere.
    client_sources: list[str] = []
    #: CIDRs allowed on the link ports besides the network's own pods (external portals).
    link_sources: list[str] = []
    #: NetworkPolicy ``from`` peers (Kubernetes' shape) allowed on the admin port.
    admin_from: list[dict[str, Any]] = []


class LinkCertPlan(_Model):
    """One ChatServer's link certificate: the Secret its pods mount, the names peers dial.

    With ``LinkCaPlan.per_pod`` the names are csi-driver templates (``${POD_NAME}``...)
    each pod's certificate is issued for, and there is no Secret (``secret_name`` empty).
    """

    server: str
    #: The Secret its pods mount; empty with ``LinkCaPlan.per_pod``.
    secret_name: str = ""
    dns_names: list[str]


class LinkCaPlan(_Model):
    """Per-ChatServer link certificates from one network CA (``plan.linkca``)."""

    #: The issuer that signs the servers' certificates (a cert-manager CA issuer).
    issuer_name: str
    issuer_kind: str = "Issuer"
    issuer_group: str = "cert-manager.io"
    #: True: the network's own CA (cert-manager's self-signed chain, or the
    #: operator's Secrets without cert-manager); False: ``spec.links.issuerRef``.
    own_ca: bool = True
    #: The Secret holding the network's own CA (``own_ca``).
    ca_secret: str = ""
    #: ``spec.links.podCertificates``: each pod gets its own certificate from
    #: cert-manager's csi-driver (a CSI volume), not one Secret per ChatServer.
    per_pod: bool = False
    certificates: list[LinkCertPlan] = []


class ClusterPlan(_Model):
    """How the network runs on a Kubernetes cluster, beyond each node's configuration."""

    image: str | None
    endpoint: EndpointPlan
    #: The Secret holding the shared link secret, and whether the operator makes it.
    link_secret: str
    link_secret_generated: bool
    link_tls: LinkTls
    link_tls_port: int
    #: The wss:// link certificate Secret; None: each server makes its own.
    link_tls_secret: str | None
    #: Per-server link certificates and the CA peers verify them with (None:
    #: link TLS off, or one shared ``link_tls_secret``).
    link_ca: LinkCaPlan | None = None
    history_store: HistoryStore
    storage_size: str
    postgres_secret: str | None
    #: The key of ``postgres_secret`` holding the DSN: ``dsn``, or CNPG's ``uri``.
    postgres_secret_key: str = "dsn"
    cnpg: CnpgPlan | None = None
    #: Secrets mounted read-only at ``SECRETS_DIR/NAME`` (operators' passwords, the cloak secret).
    mounted_secrets: list[str] = []
    #: The Secret the operator creates once (never in render output) for the cloak secret.
    cloak_secret_generated: str | None = None
    monitoring: MonitoringPlan = MonitoringPlan()
    #: Each pod's admin listener: /healthz, /readyz, /status, /metrics.
    admin_port: int = 8081


class NetworkPlan(_Model):
    """The desired state of one network."""

    network: str
    namespace: str
    display_name: str
    servers: dict[str, ServerPlan]
    #: The ChatServers, by server ID: each a set of ``servers``.
    sets: list[ServerSetPlan]
    cluster: ClusterPlan
    #: Every in-network link that is up when the network is whole: (dialer, listener).
    links: list[tuple[str, str]]
    #: A spanning tree of those links (pairs as in ``links``).
    tree: list[tuple[str, str]]
    #: False when the manifests name no namespace (``chatnet render`` without ``-n``):
    #: objects then carry none and link names are relative to the pods' own namespace.
    namespaced: bool = True
    #: None: the network has no NetworkPolicy (``spec.networkPolicy.enabled: false``).
    network_policy: PolicyPlan | None = None

    @property
    def object_namespace(self) -> str | None:
        """``metadata.namespace`` of every rendered object (None: left to ``kubectl -n``)."""
        return self.namespace if self.namespaced else None

    @property
    def expected_links(self) -> int:
        """Links that are up when the network is whole (external dials included)."""
        external = sum(1 for s in self.servers.values() for t in s.links.dial if t.external)
        return len(self.links) + external
