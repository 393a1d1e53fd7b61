"""Where servers run: the questions the planner cannot answer by itself.

A ``Placement`` answers them: on a cluster (``ClusterPlacement``) pods have
fixed ports and DNS names ``POD.SET.NAMESPACE.svc.DOMAIN``; locally
(``local.placement``) processes get loopback ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chatnet_node.config import Listener, Listeners, TlsListener
from chatnet_operator.api.models import ChatNetwork, LinkTls
from chatnet_operator.plan.desired import Member


class Placement(Protocol):
    """Where servers run: answers what the planner cannot know by itself."""

    def listeners(self, member: Member) -> Listeners:
        """The node's client listeners."""
        ...

    def link_address(self, member: Member, tls: bool) -> tuple[str, int]:
        """Host and port other servers dial to link to ``member`` (over wss:// if ``tls``)."""
        ...

    def history_path(self, member: Member) -> Path | None:
        """Where an SQLite history file lives."""
        ...

    def link_secret_file(self) -> Path | None:
        """The file holding the network's shared link secret."""
        ...

    def drain_seconds(self, member: Member) -> float:
        """How long a stopping server lets its clients move elsewhere."""
        ...

    def secret_file(self, name: str, key: str) -> Path:
        """Where a server reads key ``key`` of Secret ``name``."""
        ...

    def link_tls(self) -> bool:
        """Can links between these servers use TLS (are there certificates)?"""
        ...

    def link_ca_file(self) -> Path | None:
        """The CA bundle a server verifies its peers' link certificates with (None: no check)."""
        ...

    def link_names(self, chat_server: str, ordinal: int) -> list[str]:
        """Every name peers may dial replica ``ordinal`` of ``chat_server`` by (certificates)."""
        ...

    def pod_link_names(self, chat_server: str) -> list[str]:
        """``link_names`` of any replica of ``chat_server``, as templates of the pod's own
        name and namespace (``${POD_NAME}``, ``${POD_NAMESPACE}``) that cert-manager's
        csi-driver fills in when it issues the pod's certificate (``podCertificates``)."""
        ...

    def link_certificate(self) -> tuple[Path, Path] | None:
        """The certificate and key a server shows when it dials (with ``link_ca_file``)."""
        ...


LINK_TLS_DIR = Path("/etc/chatnet/link-tls")  # where a pod finds its link certificate
SECRETS_DIR = Path("/etc/chatnet/secrets")  # Secret NAME is mounted at SECRETS_DIR/NAME
CLOAK_SECRET_KEY = "secret"  # the key of the generated NETWORK-cloak Secret
#: What cert-manager's csi-driver fills in for the pod in a certificate's names.
POD_NAME_VAR, POD_NAMESPACE_VAR = "${POD_NAME}", "${POD_NAMESPACE}"


def cloak_secret_name(network: str) -> str:
    """The Secret the operator creates for a network's cloak secret when none is named."""
    return f"{network}-cloak"


@dataclass(frozen=True)
class ClusterPlacement:
    """Servers as StatefulSet pods: ``POD.SET.NAMESPACE.svc.DOMAIN``, fixed ports.

    With no namespace declared, links dial ``POD.SET`` (see ``link_address``).
    """

    network: ChatNetwork
    cluster_domain: str = "cluster.local"

    def listeners(self, member: Member) -> Listeners:
        # A pod owns its network namespace, so it listens on every address.
        endpoint = self.network.spec.endpoint
        tls = []
        if endpoint.tls is not None:
            tls = [
                TlsListener(
                    host="0.0.0.0",
                    port=endpoint.irc_tls_port,
                    cert_file=Path("/etc/chatnet/tls/tls.crt"),
                    key_file=Path("/etc/chatnet/tls/tls.key"),
                )
            ]
        links = self.network.spec.links
        link_tls = []
        if self.link_tls():
            # The shared links.tlsSecretName, or this ChatServer's own certificate
            # from the network CA; either is mounted at LINK_TLS_DIR and reloaded
            # by the node when renewed.
            link_tls = [
                TlsListener(
                    host="0.0.0.0",
                    port=links.tls_port,
                    cert_file=LINK_TLS_DIR / "tls.crt",
                    key_file=LINK_TLS_DIR / "tls.key",
                )
            ]
        # proxyProtocol: the client ports require a PROXY header, and the load
        # balancer's WebSocket traffic gets its own port (plan.exposure says why).
        proxied = endpoint.proxy_protocol
        tls = [t.model_copy(update={"proxy_protocol": proxied}) for t in tls]
        websocket = [Listener(host="0.0.0.0", port=endpoint.websocket_port)]
        if proxied:
            websocket.append(
                Listener(host="0.0.0.0", port=endpoint.proxy_websocket_port, proxy_protocol=True)
            )
        return Listeners(
            irc=[Listener(host="0.0.0.0", port=endpoint.irc_port, proxy_protocol=proxied)],
            irc_tls=tls,
            websocket=websocket,
            websocket_tls=link_tls,
            admin=[Listener(host="0.0.0.0", port=self.network.spec.admin_port)],
        )

    def link_address(self, member: Member, tls: bool) -> tuple[str, int]:
        host = self.link_names(member.chat_server, member.ordinal)[-1]
        spec = self.network.spec
        return host, spec.links.tls_port if tls else spec.endpoint.websocket_port

    def link_names(self, chat_server: str, ordinal: int) -> list[str]:
        # The last name is the one peers dial (``link_address``).
        pod = f"{chat_server}-{ordinal}"
        if self.network.metadata.namespace is None:
            # No namespace declared (``chatnet render`` without -n): a name relative
            # to the pod's own namespace, which its DNS search path completes, so
            # the same rendered files work in whichever namespace they are applied.
            return [f"{pod}.{chat_server}"]
        namespace = self.network.namespace
        return [
            f"{pod}.{chat_server}",
            f"{pod}.{chat_server}.{namespace}",
            f"{pod}.{chat_server}.{namespace}.svc",
            f"{pod}.{chat_server}.{namespace}.svc.{self.cluster_domain}",
        ]

    def pod_link_names(self, chat_server: str) -> list[str]:
        # Every form, with or without a declared namespace: the driver knows the pod's.
        pod, namespace = POD_NAME_VAR, POD_NAMESPACE_VAR
        return [
            f"{pod}.{chat_server}",
            f"{pod}.{chat_server}.{namespace}",
            f"{pod}.{chat_server}.{namespace}.svc",
            f"{pod}.{chat_server}.{namespace}.svc.{self.cluster_domain}",
        ]

    def link_certificate(self) -> tuple[Path, Path] | None:
        if self.link_ca_file() is None:
            return None
        return LINK_TLS_DIR / "tls.crt", LINK_TLS_DIR / "tls.key"

    def link_ca_file(self) -> Path | None:
        links = self.network.spec.links
        if links.tls == LinkTls.OFF or links.tls_secret_name is not None:
            return None  # a shared certificate you keep: not verified (see README)
        return LINK_TLS_DIR / "ca.crt"

    def history_path(self, member: Member) -> Path | None:
        return Path("/var/lib/chatnet/history.sqlite3")

    def link_secret_file(self) -> Path | None:
        return Path("/etc/chatnet/link/secret")

    def secret_file(self, name: str, key: str) -> Path:
        return SECRETS_DIR / name / key

    def drain_seconds(self, member: Member) -> float:
        # Within the pod's terminationGracePeriodSeconds (30) with room to spare.
        return 10.0

    def link_tls(self) -> bool:
        # A mounted certificate: links.tlsSecretName, or one from the network CA.
        return self.network.spec.links.tls != LinkTls.OFF
