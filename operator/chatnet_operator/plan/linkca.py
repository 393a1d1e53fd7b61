"""The network CA for link TLS, and each ChatServer's link certificate from it.

With link TLS on and no shared ``spec.links.tlsSecretName``, every
ChatServer gets its own certificate, naming every address peers dial its
pods by (``Placement.link_names``: the short ``POD.SET`` that ``chatnet
render`` without ``-n`` dials, and the namespaced and cluster-local names),
in the Secret ``SERVER-link-tls`` (``tls.crt``, ``tls.key``, ``ca.crt``).
The pods mount it; the node serves ``tls.crt`` on its wss:// link listener
and verifies the peers it dials against ``ca.crt`` (``links.caFile``).

Where the certificates come from:

- ``spec.links.issuerRef``: a cert-manager CA issuer you keep; chatnet
  asks it for one ``Certificate`` per ChatServer.
- otherwise, the network's own CA. Rendered (and applied by the operator
  when cert-manager is installed) as cert-manager objects: a self-signed
  ``Issuer``, a CA ``Certificate`` ``NETWORK-link-ca`` and a CA ``Issuer``
  of the same name that signs the servers' Certificates. Without
  cert-manager the operator keeps the CA and the certificates itself, as
  Secrets of the same names (``plan.linkpki``; never in render output).

Per pod (``spec.links.podCertificates``): the replicas of one ChatServer
sharing a certificate could sign adverts in each other's names, so instead
each pod gets its own from cert-manager's csi-driver (CSI driver
``csi.cert-manager.io``): the ``link-tls`` volume is a CSI inline volume
(``pod_certificate_volume``) asking the same issuer for a certificate whose
names are templates the driver fills in for the pod (``${POD_NAME}``,
``${POD_NAMESPACE}``): its DNS names (``Placement.pod_link_names``) and its
IRC name. The files land as ``tls.crt``, ``tls.key`` and ``ca.crt`` at the
same mount path, renewed by the driver, so the node's configuration does not
change. No ``Certificate`` per ChatServer then (the driver makes a
``CertificateRequest`` per pod), and the operator cannot stand in for
cert-manager: the network's own CA is cert-manager's chain alone.

A renewed certificate is loaded by each node for new links while the links
already up stay (``chatnet_node.transport.tls.ReloadingCertificate``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatnet_operator.api.models import ChatNetwork, LinkTls
from chatnet_operator.plan.desired import LinkCaPlan, LinkCertPlan
from chatnet_operator.plan.placement import POD_NAME_VAR, Placement

Obj = dict[str, Any]

API_VERSION = "cert-manager.io/v1"
ISSUER = "Issuer"
CERTIFICATE = "Certificate"
#: Lifetimes asked of cert-manager (Go durations): the CA ten years, renewed
#: one year ahead; a server's certificate 90 days, renewed 30 days ahead.
CA_DURATION, CA_RENEW_BEFORE = "87600h", "8760h"
SERVER_DURATION, SERVER_RENEW_BEFORE = "2160h", "720h"
#: Labels that mark the link CA's objects (the operator's own-CA fallback finds them).
LINK_CA_LABEL = "chatnet.io/link-ca"
#: cert-manager's csi-driver (``spec.links.podCertificates``).
CSI_DRIVER = "csi.cert-manager.io"
#: Both: a server listens for links and dials them; and it signs (adverts, handshakes).
_USAGES = ("server auth", "client auth", "digital signature")


def ca_name(network: str) -> str:
    """The CA Certificate, its Secret and the CA Issuer that signs with it."""
    return f"{network}-link-ca"


def self_signed_name(network: str) -> str:
    return f"{network}-link-selfsigned"


def server_secret_name(server: str) -> str:
    """The Secret a ChatServer's pods mount at ``LINK_TLS_DIR``."""
    return f"{server}-link-tls"


def server_certificate_name(server: str) -> str:
    return f"{server}-link"


def link_ca_plan(
    network: ChatNetwork, servers: list[tuple[str, list[str]]], placement: Placement
) -> LinkCaPlan | None:
    """Per-ChatServer certificates, or None (no link TLS, or one shared Secret).

    ``servers``: each ChatServer with the IRC names of the most replicas it
    may run (its autoscale maximum), so a pod the autoscaler adds is already
    named. A certificate names every DNS name peers may dial its pods by, then
    their IRC names (what signed adverts are checked against). With
    ``links.podCertificates``, the names of each pod's own certificate instead,
    as the csi-driver's templates (``_pod_names``).
    """
    links = network.spec.links
    if links.tls == LinkTls.OFF or links.tls_secret_name is not None:
        return None
    if placement.link_ca_file() is None:
        return None
    per_pod = links.pod_certificates
    certificates = []
    for server, irc_names in servers:
        if per_pod:
            names = _pod_names(network, server, irc_names, placement)
            certificates.append(LinkCertPlan(server=server, dns_names=names))
            continue
        names = []
        for ordinal in range(len(irc_names)):
            names += placement.link_names(server, ordinal)
        names += [name for name in irc_names if name not in names]
        certificates.append(
            LinkCertPlan(server=server, secret_name=server_secret_name(server), dns_names=names)
        )
    ref = links.issuer_ref
    if ref is not None:
        return LinkCaPlan(
            issuer_name=ref.name,
            issuer_kind=ref.kind.value,
            issuer_group=ref.group,
            own_ca=False,
            per_pod=per_pod,
            certificates=certificates,
        )
    name = ca_name(network.name)
    return LinkCaPlan(issuer_name=name, ca_secret=name, per_pod=per_pod, certificates=certificates)


def _pod_names(
    network: ChatNetwork, server: str, irc_names: list[str], placement: Placement
) -> list[str]:
    """The names of one pod's own certificate, as csi-driver templates: its DNS names,
    then its IRC name (``NAME-ORDINAL`` is the pod's name; a lone unnumbered replica's
    IRC name is the ChatServer's)."""
    names = placement.pod_link_names(server)
    numbered = irc_names != [network.irc_name(server)]  # as ``planner._ceilings``
    names.append(network.irc_name(POD_NAME_VAR) if numbered else network.irc_name(server))
    return names


def link_ca_objects(
    plan: LinkCaPlan | None, network: str, meta: Callable[[str, str | None], Obj]
) -> list[Obj]:
    """The cert-manager objects of the link CA; ``meta(name, server)`` gives metadata.

    The network's own CA chain first (self-signed Issuer, CA Certificate, CA
    Issuer), then one Certificate per ChatServer (none ``per_pod``: the
    csi-driver asks for each pod's).
    """
    if plan is None:
        return []
    out: list[Obj] = []
    if plan.own_ca:
        ca = ca_name(network)
        selfsigned = self_signed_name(network)
        out += [
            _obj(ISSUER, meta(selfsigned, None), {"selfSigned": {}}),
            _obj(
                CERTIFICATE,
                meta(ca, None),
                {
                    "isCA": True,
                    "commonName": f"{network} link CA"[:64],
                    "secretName": plan.ca_secret,
                    "duration": CA_DURATION,
                    "renewBefore": CA_RENEW_BEFORE,
                    # Renewed with its key: pods trusting the CA before the renewal
                    # and pods trusting it after trust each other's certificates
                    # (each pod's own certificate comes with the signing CA alone).
                    "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
                    "issuerRef": {"name": selfsigned, "kind": ISSUER, "group": "cert-manager.io"},
                },
            ),
            _obj(ISSUER, meta(ca, None), {"ca": {"secretName": plan.ca_secret}}),
        ]
    for cert in [] if plan.per_pod else plan.certificates:
        out.append(
            _obj(
                CERTIFICATE,
                meta(server_certificate_name(cert.server), cert.server),
                {
                    "secretName": cert.secret_name,
                    "commonName": cert.dns_names[0][:64],
                    "dnsNames": cert.dns_names,
                    "duration": SERVER_DURATION,
                    "renewBefore": SERVER_RENEW_BEFORE,
                    "usages": list(_USAGES),
                    "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                    "issuerRef": {
                        "name": plan.issuer_name,
                        "kind": plan.issuer_kind,
                        "group": plan.issuer_group,
                    },
                },
            )
        )
    for obj in out:
        obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), LINK_CA_LABEL: "true"}
    return out


def pod_certificate_volume(plan: LinkCaPlan, cert: LinkCertPlan, fs_group: int) -> Obj:
    """The ``link-tls`` volume of a ChatServer's pods with ``per_pod``: each pod's own
    certificate from cert-manager's csi-driver, for ``cert``'s name templates.

    No common name (a filled-in template may pass its 64 characters); the key is
    readable by ``fs_group``, the pod's (the node does not run as root).
    """
    return {
        "name": "link-tls",
        "csi": {
            "driver": CSI_DRIVER,
            "readOnly": True,
            "volumeAttributes": {
                f"{CSI_DRIVER}/issuer-name": plan.issuer_name,
                f"{CSI_DRIVER}/issuer-kind": plan.issuer_kind,
                f"{CSI_DRIVER}/issuer-group": plan.issuer_group,
                f"{CSI_DRIVER}/dns-names": ",".join(cert.dns_names),
                f"{CSI_DRIVER}/key-usages": ",".join(_USAGES),
                f"{CSI_DRIVER}/duration": SERVER_DURATION,
                f"{CSI_DRIVER}/renew-before": SERVER_RENEW_BEFORE,
                f"{CSI_DRIVER}/fs-group": str(fs_group),
            },
        },
    }


def _obj(kind: str, metadata: Obj, spec: Obj) -> Obj:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}
