"""The link CA under the emulated API: the operator's own, or cert-manager's when installed.

A real operator process. First the cluster serves no cert-manager kinds: the
operator keeps the network CA and each ChatServer's link certificate as
Secrets, which verify for every name peers dial, and renews a certificate
when the names change (a scale-up). Then cert-manager's CRDs appear: a new
network gets cert-manager Issuers and Certificates instead, while the first
network keeps its own CA (a switch would split it).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509 import verification

from chatnet_node.config import parse_config
from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from tests.operator import optional_kinds
from tests.operator.kubeapi import ApiServer
from tests.operator.operatorproc import (
    CHATNET,
    OperatorProcess,
    running_api,
    running_operator,
    wait_for,
)

Obj = dict[str, Any]

MANIFEST = """
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: NET, namespace: NS}
spec:
  links: {tls: required}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: east, namespace: NS}
spec: {network: NET, role: hub, serverId: 1, peers: [west]}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: west, namespace: NS}
spec: {network: NET, role: hub, serverId: 2}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: edge, namespace: NS}
spec: {network: NET, role: leaf, serverId: 10, uplinks: [east, west]}
"""


PER_POD = "links: {tls: required, signAdverts: true, podCertificates: true}"
CSI_DRIVER: Obj = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "CSIDriver",
    "metadata": {"name": "csi.cert-manager.io"},
    "spec": {"podInfoOnMount": True, "volumeLifecycleModes": ["Ephemeral"]},
}


def apply(api: ApiServer, network: str, namespace: str, links: str = "") -> None:
    text = MANIFEST.replace("NET", network).replace("NS", namespace)
    if links:
        text = text.replace("links: {tls: required}", links)
    for doc in yaml.safe_load_all(text):
        api.store.apply(doc)


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with running_api() as server:
        yield server


@pytest.fixture(scope="module")
def operator(api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with running_operator(api, tmp_path_factory.mktemp("linkca")) as proc:
        yield proc


def secret(api: ApiServer, namespace: str, name: str) -> dict[str, bytes] | None:
    found = api.store.find("v1", "Secret", namespace, name)
    if found is None:
        return None
    return {k: base64.b64decode(v) for k, v in found.get("data", {}).items()}


def verify(data: dict[str, bytes], name: str) -> None:
    """As a dialing node does: the server's certificate against its ca.crt, for ``name``."""
    store = verification.Store(x509.load_pem_x509_certificates(data["ca.crt"]))
    verifier = (
        verification.PolicyBuilder()
        .store(store)
        .time(datetime.datetime.now(datetime.UTC))
        .build_server_verifier(x509.DNSName(name))
    )
    verifier.verify(x509.load_pem_x509_certificate(data["tls.crt"]), [])


def node_config(api: ApiServer, namespace: str, server: str) -> Any:
    config_map = wait_for(
        lambda: api.store.find("v1", "ConfigMap", namespace, f"{server}-config"),
        what=f"{server}'s configuration",
    )
    return parse_config(yaml.safe_load(config_map["data"][f"{server}-0.yaml"]))


def test_an_autoscaled_set_is_certified_for_every_replica_it_may_run() -> None:
    text = (
        MANIFEST.replace("NET", "auto")
        .replace("NS", "ns")
        .replace(
            "uplinks: [east, west]}",
            "uplinks: [east, west], autoscale: {minReplicas: 1, maxReplicas: 3}}",
        )
    )
    report = validate_documents(parse_text(text, "test"))
    assert report.ok, report.problems
    (declared,) = report.networks
    plan = plan_network(declared, ClusterPlacement(declared.network))
    assert plan.cluster.link_ca is not None
    (edge,) = [c for c in plan.cluster.link_ca.certificates if c.server == "edge"]
    assert [n for n in edge.dns_names if n.endswith(".svc.cluster.local")] == [
        f"edge-{i}.edge.ns.svc.cluster.local" for i in range(3)
    ]


def test_servers_demand_a_certificate_of_those_dialing_in_unless_a_portal_links_in() -> None:
    def configs(text: str) -> list[Any]:
        report = validate_documents(parse_text(text, "test"))
        assert report.ok, report.problems
        (declared,) = report.networks
        plan = plan_network(declared, ClusterPlacement(declared.network))
        return [s.node for s in plan.servers.values()]

    text = MANIFEST.replace("NET", "p").replace("NS", "ns")
    assert all(c.links.require_peer_certificate for c in configs(text))
    far = "portals: [{name: far, address: far.example.org, port: 8443, serverId: 9, tls: true}]"
    with_portal = text.replace("serverId: 2}", f"serverId: 2, peers: [far], {far}}}")
    found = configs(with_portal)
    # The outside server has no certificate from this CA: nobody demands one of those dialing in,
    assert not any(c.links.require_peer_certificate for c in found)
    assert all(c.links.cert_file is not None and c.links.ca_file is not None for c in found)
    # ... and not checked against the network CA when dialed (the link secret authenticates it).
    dials = [p for c in found for p in c.links.dial if p.name == "far"]
    assert dials and all(p.external for p in dials)


def test_the_operator_keeps_its_own_ca_then_cert_manager_takes_new_networks(
    api: ApiServer, operator: OperatorProcess
) -> None:
    apply(api, "own", "linkown")
    wait_for(
        lambda: all(secret(api, "linkown", f"{n}-link-tls") for n in ("east", "west", "edge")),
        what="every server's link Secret",
    )
    ca, east = secret(api, "linkown", "own-link-ca"), secret(api, "linkown", "east-link-tls")
    assert ca is not None and east is not None and east["ca.crt"] == ca["ca.crt"]
    config = node_config(api, "linkown", "west")
    assert str(config.links.ca_file) == "/etc/chatnet/link-tls/ca.crt"
    assert str(config.links.cert_file) == "/etc/chatnet/link-tls/tls.crt"
    assert config.links.require_peer_certificate, "no portal from outside: all show one"
    (peer,) = config.links.dial
    verify(east, peer.host)  # west dials east by this name and trusts it
    for name in ("east-0.east", "east-0.east.linkown.svc"):
        verify(east, name)
    # The operator, not cert-manager: no cert-manager object, and no complaint about one.
    assert api.store.find("v1", "Secret", "linkown", "own-link-selfsigned") is None
    network = api.store.find(CHATNET, "ChatNetwork", "linkown", "own")
    conditions = ((network or {}).get("status") or {}).get("conditions", [])
    assert not [c for c in conditions if c["type"] == "OptionalKindsAvailable"]

    # A second edge replica: edge's certificate is re-issued to name it too.
    edge = secret(api, "linkown", "edge-link-tls")
    server = api.store.find(CHATNET, "ChatServer", "linkown", "edge")
    assert server is not None and edge is not None
    server["spec"]["replicas"] = 2
    api.store.apply(server)
    renewed = wait_for(
        lambda: (s := secret(api, "linkown", "edge-link-tls")) and s != edge and s,
        what="edge's certificate re-issued",
    )
    verify(renewed, "edge-1.edge.linkown.svc.cluster.local")
    assert secret(api, "linkown", "east-link-tls") == east, "east's certificate untouched"

    # cert-manager installed: a new network uses it; the first keeps its own CA.
    for crd in optional_kinds.cert_manager_crds():
        api.store.add_crd(crd)
    apply(api, "cm", "linkcm")
    certificate = wait_for(
        lambda: api.store.find("cert-manager.io/v1", "Certificate", "linkcm", "east-link"),
        what="east's cert-manager Certificate",
    )
    assert certificate["spec"]["secretName"] == "east-link-tls"
    assert certificate["spec"]["issuerRef"]["name"] == "cm-link-ca"
    assert "east-0.east.linkcm.svc.cluster.local" in certificate["spec"]["dnsNames"]
    for name in ("cm-link-selfsigned", "cm-link-ca"):
        issuer = api.store.find("cert-manager.io/v1", "Issuer", "linkcm", name)
        assert issuer is not None, name
        optional_kinds.validate(issuer)
    ca_certificate = api.store.find("cert-manager.io/v1", "Certificate", "linkcm", "cm-link-ca")
    assert ca_certificate is not None and ca_certificate["spec"]["isCA"]
    # Renewed with its key: servers renewed on either side of it trust each other.
    assert ca_certificate["spec"]["privateKey"]["rotationPolicy"] == "Never"
    optional_kinds.validate(ca_certificate)
    optional_kinds.validate(certificate)
    assert secret(api, "linkcm", "cm-link-ca") is None, "cert-manager writes it, not chatnet"
    assert api.store.find("cert-manager.io/v1", "Certificate", "linkown", "east-link") is None
    assert secret(api, "linkown", "own-link-ca") == ca

    # Certificates per pod for the first network: cert-manager's CA Issuer signs them
    # with the operator's CA, which stays, so pods not yet rolled still trust them.
    network = api.store.find(CHATNET, "ChatNetwork", "linkown", "own")
    assert network is not None
    network["spec"]["links"]["podCertificates"] = True
    api.store.apply(network)
    issuer = wait_for(
        lambda: api.store.find("cert-manager.io/v1", "Issuer", "linkown", "own-link-ca"),
        what="a CA Issuer over the operator's CA",
    )
    assert issuer["spec"] == {"ca": {"secretName": "own-link-ca"}}
    optional_kinds.validate(issuer)
    east_set = wait_for(
        lambda: (
            (s := api.store.find("apps/v1", "StatefulSet", "linkown", "east"))
            and any("csi" in v for v in s["spec"]["template"]["spec"]["volumes"])
            and s
        ),
        what="east's pods asking the csi-driver",
    )
    (link_tls,) = [v for v in east_set["spec"]["template"]["spec"]["volumes"] if "csi" in v]
    assert link_tls["csi"]["volumeAttributes"]["csi.cert-manager.io/issuer-name"] == "own-link-ca"
    for kind, name in (("Issuer", "own-link-selfsigned"), ("Certificate", "own-link-ca")):
        assert api.store.find("cert-manager.io/v1", kind, "linkown", name) is None, name
    assert secret(api, "linkown", "own-link-ca") == ca, "the same CA, not a new one"
    assert "Traceback" not in operator.log()


def test_a_pod_certificate_names_one_pod_however_many_the_set_may_run() -> None:
    text = (
        MANIFEST.replace("NET", "auto")
        .replace("NS", "ns")
        .replace("links: {tls: required}", PER_POD)
        .replace("uplinks: [east, west]}", "uplinks: [east, west], replicas: 60}")
        .replace("serverId: 10,", "serverId: 48,")  # 48-107: hex 30-6b, apart from 1 and 2
    )
    report = validate_documents(parse_text(text, "test"))
    assert report.ok, report.problems
    (declared,) = report.networks
    plan = plan_network(declared, ClusterPlacement(declared.network))
    assert plan.cluster.link_ca is not None and plan.cluster.link_ca.per_pod
    (edge,) = [c for c in plan.cluster.link_ca.certificates if c.server == "edge"]
    assert edge.dns_names == [
        "${POD_NAME}.edge",
        "${POD_NAME}.edge.${POD_NAMESPACE}",
        "${POD_NAME}.edge.${POD_NAMESPACE}.svc",
        "${POD_NAME}.edge.${POD_NAMESPACE}.svc.cluster.local",
        "${POD_NAME}",  # its IRC name: what its signed adverts are checked against
    ]


def _condition(api: ApiServer, namespace: str, name: str) -> Obj | None:
    network = api.store.find(CHATNET, "ChatNetwork", namespace, name) or {}
    conditions = (network.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "PodCertificatesAvailable"), None)


def _events(api: ApiServer, namespace: str, reason: str) -> list[Obj]:
    return [e for e in api.store.items("v1", "Event", namespace) if e.get("reason") == reason]


def test_pod_certificates_wait_for_the_csi_driver_and_say_so(
    api: ApiServer, operator: OperatorProcess
) -> None:
    """cert-manager is installed, its csi-driver not yet: the pods mount CSI volumes
    that cannot be made, and the network says why until the driver is there."""
    for crd in optional_kinds.cert_manager_crds():
        api.store.add_crd(crd)
    apply(api, "pods", "linkpods", PER_POD)

    def reason() -> str | None:
        found = _condition(api, "linkpods", "pods")
        return found["reason"] if found else None

    wait_for(lambda: reason() == "CSIDriverMissing", what="PodCertificatesAvailable=False")
    missing = _condition(api, "linkpods", "pods")
    assert missing is not None and missing["status"] == "False"
    assert "ContainerCreating" in missing["message"]
    assert "jetstack/cert-manager-csi-driver" in missing["message"]
    (warning,) = wait_for(lambda: _events(api, "linkpods", "CSIDriverMissing"), what="a Warning")
    assert warning["type"] == "Warning" and warning["message"] == missing["message"]
    # The servers are there anyway, each pod asking the driver for its own certificate;
    # cert-manager keeps the CA, and nobody makes a certificate per ChatServer.
    east = api.store.find("apps/v1", "StatefulSet", "linkpods", "east")
    assert east is not None
    volumes = east["spec"]["template"]["spec"]["volumes"]
    (link_tls,) = [v for v in volumes if v["name"] == "link-tls"]
    assert link_tls["csi"]["driver"] == "csi.cert-manager.io"
    assert link_tls["csi"]["volumeAttributes"]["csi.cert-manager.io/issuer-name"] == "pods-link-ca"
    for name in ("pods-link-selfsigned", "pods-link-ca"):
        assert api.store.find("cert-manager.io/v1", "Issuer", "linkpods", name) is not None
    assert api.store.find("cert-manager.io/v1", "Certificate", "linkpods", "pods-link-ca")
    assert api.store.find("cert-manager.io/v1", "Certificate", "linkpods", "east-link") is None
    for secret_name in ("pods-link-ca", "east-link-tls"):
        assert secret(api, "linkpods", secret_name) is None, "not the operator's own CA"

    api.store.apply(CSI_DRIVER)  # helm install cert-manager-csi-driver
    wait_for(lambda: reason() == "CSIDriverFound", what="PodCertificatesAvailable=True")
    found = _condition(api, "linkpods", "pods")
    assert found is not None and found["status"] == "True"
    (normal,) = wait_for(lambda: _events(api, "linkpods", "CSIDriverFound"), what="a Normal Event")
    assert normal["type"] == "Normal"

    # Not allowed to look (RBAC without csidrivers): said, and the reconcile goes on.
    api.authorize = lambda request: request.resource != "csidrivers"
    try:
        wait_for(lambda: reason() == "CSIDriverUnreadable", what="the refused read reported")
        unreadable = _condition(api, "linkpods", "pods")
        assert unreadable is not None and "get storage.k8s.io csidrivers" in unreadable["message"]
        wait_for(lambda: _events(api, "linkpods", "CSIDriverUnreadable"), what="a Warning")
    finally:
        api.authorize = None
    wait_for(lambda: reason() == "CSIDriverFound", what="found again")
    assert len(_events(api, "linkpods", "CSIDriverMissing")) == 1

    # Back to a certificate per ChatServer: the condition stays, saying so.
    network = api.store.find(CHATNET, "ChatNetwork", "linkpods", "pods")
    assert network is not None
    network["spec"]["links"]["podCertificates"] = False
    api.store.apply(network)
    wait_for(lambda: reason() == "NotNeeded", what="PodCertificatesAvailable=True, not needed")
    wait_for(
        lambda: api.store.find("cert-manager.io/v1", "Certificate", "linkpods", "east-link"),
        what="east's Certificate",
    )
    assert "Traceback" not in operator.log()
