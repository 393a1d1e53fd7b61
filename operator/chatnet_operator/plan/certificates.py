"""The client endpoint's cert-manager ``Certificate`` (``spec.endpoint.tls.issuerRef``).

cert-manager issues the certificate into a Secret and renews it before it
expires; the servers mount that Secret for IRC over TLS, and each node
loads a renewal from disk for new connections, keeping those already open
(``chatnet_node.transport.tls.ReloadingCertificate``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatnet_operator.api.models import ChatNetwork
from chatnet_operator.plan.desired import CertificatePlan, NetworkPlan

Obj = dict[str, Any]

API_VERSION = "cert-manager.io/v1"
KIND = "Certificate"


def certificate_name(network: str) -> str:
    return f"{network}-chat"


def certificate_plan(network: ChatNetwork) -> CertificatePlan | None:
    """What to ask cert-manager for; None when the network keeps its own Secret (or no TLS)."""
    tls = network.spec.endpoint.tls
    if tls is None or tls.issuer_ref is None:
        return None
    return CertificatePlan(
        secret_name=tls.secret_for(network.name),
        issuer_name=tls.issuer_ref.name,
        issuer_kind=tls.issuer_ref.kind.value,
        issuer_group=tls.issuer_ref.group,
        dns_names=list(tls.dns_names),
    )


def certificate(plan: NetworkPlan, meta: Callable[[str], Obj]) -> Obj | None:
    """The Certificate object, or None; ``meta(name)`` gives the object's metadata."""
    wanted = plan.cluster.endpoint.certificate
    if wanted is None:
        return None
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta(certificate_name(plan.network)),
        "spec": {
            "secretName": wanted.secret_name,
            "commonName": wanted.dns_names[0][:64],
            "dnsNames": wanted.dns_names,
            "issuerRef": {
                "name": wanted.issuer_name,
                "kind": wanted.issuer_kind,
                "group": wanted.issuer_group,
            },
            # ECDSA keys sign; "key encipherment" is for RSA key exchange only.
            "usages": ["server auth", "digital signature"],
            # A new key at every renewal: a leaked key stops working with the old certificate.
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }
