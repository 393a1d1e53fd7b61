"""`chatnet render`: Kubernetes objects valid at the oldest and newest supported versions,
and samples valid for the CRDs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from chatnet_node.config import parse_config
from chatnet_operator.api import crds
from chatnet_operator.cli import main
from chatnet_operator.plan.render import MIN_KUBERNETES
from tests.operator.published import validate_rendered

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
K8S_VERSION = f"{MIN_KUBERNETES}.0"
#: The oldest version chatnet supports and the newest kubernetes-validate ships.
K8S_VERSIONS = [K8S_VERSION, kubernetes_validate.utils.latest_version()]


def render(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["render", *args]) == 0, capsys.readouterr().err
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_rendered_objects_are_valid_at_the_oldest_and_newest_kubernetes(
    example: Path, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(capsys, str(example))
    kinds = {o["kind"] for o in objects}
    assert {"Service", "ConfigMap", "StatefulSet", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    assert "Secret" not in kinds, "render prints no secret"
    validate_rendered(objects, version)


def test_the_version_before_the_minimum_lacks_the_pre_stop_sleep(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Why the minimum is what it is: 1.28 does not know lifecycle.preStop.sleep."""
    objects = render(capsys, str(EXAMPLES[0].parent / "quickstart.yaml"))
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    with pytest.raises(kubernetes_validate.ValidationError, match="sleep"):
        kubernetes_validate.validate(sts, "1.28.0", strict=True)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_against_the_crd_schemas(example: Path) -> None:
    schemas = {
        d["spec"]["names"]["kind"]: d["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for d in crds.crd_documents()
    }
    for doc in yaml.safe_load_all(example.read_text()):
        if doc and doc["apiVersion"] == "v1" and doc["kind"] == "Secret":
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        elif doc:
            jsonschema.validate(doc, schemas[doc["kind"]])


def test_one_statefulset_per_chatserver_with_its_replicas(
    capsys: pytest.CaptureFixture[str],
) -> None:
    objects = render(capsys, str(EXAMPLES[0].parent / "webcrossing-fanout.yaml"))
    sets = by_kind(objects, "StatefulSet")
    assert {n: s["spec"]["replicas"] for n, s in sets.items()} == {
        "control": 1,
        "conference": 2,
        "fanout": 4,
    }
    # Leaf sets have their own budget; the hubs (and the control room) share one.
    assert set(by_kind(objects, "PodDisruptionBudget")) == {"fanout", "crossing-hubs"}
    headless = by_kind(objects, "Service")["fanout"]
    assert headless["spec"]["clusterIP"] == "None"


def test_client_service_skips_the_control_room(capsys: pytest.CaptureFixture[str]) -> None:
    objects = render(capsys, str(EXAMPLES[0].parent / "webcrossing-fanout.yaml"))
    service = by_kind(objects, "Service")["crossing-chat"]
    assert service["spec"]["selector"]["chatnet.io/serves-clients"] == "true"
    control = by_kind(objects, "StatefulSet")["control"]
    labels = control["spec"]["template"]["metadata"]["labels"]
    assert labels["chatnet.io/serves-clients"] == "false"
    assert [p["port"] for p in service["spec"]["ports"]] == [8080, 6667]


def test_configmap_holds_a_loadable_node_config_per_pod(
    capsys: pytest.CaptureFixture[str],
) -> None:
    objects = render(capsys, str(EXAMPLES[0].parent / "quickstart.yaml"))
    data = by_kind(objects, "ConfigMap")["east-fanout-config"]["data"]
    assert sorted(data) == [
        "east-fanout-0.yaml",
        "east-fanout-1.yaml",
    ]
    node = parse_config(yaml.safe_load(data["east-fanout-1.yaml"]))
    assert (node.name, node.server_id, node.limits.max_clients) == ("east-fanout-1", 21, 512)
    assert node.links.role == "leaf"
    assert [peer.name for peer in node.links.dial] == ["east", "west"]
    # The pod picks its own file by name.
    container = by_kind(objects, "StatefulSet")["east-fanout"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["command"][-1] == "/etc/chatnet/config/$(POD_NAME).yaml"


def test_sqlite_history_gets_a_volume_per_server(capsys: pytest.CaptureFixture[str]) -> None:
    objects = render(capsys, str(EXAMPLES[0].parent / "sametime-cluster.yaml"))
    claims = by_kind(objects, "StatefulSet")["member"]["spec"]["volumeClaimTemplates"]
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_render_refuses_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: X}\n")
    assert main(["render", str(bad)]) == 1
    assert "metadata.name" in capsys.readouterr().err


def test_tls_postgres_resources_and_zones_render_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "full.yaml"
    manifest.write_text(
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: full}\n"
        "spec:\n  endpoint: {tls: {secretName: full-tls}, serviceType: LoadBalancer}\n"
        "  links: {tls: required, secretName: my-links}\n"
        "  history: {store: postgres, postgres: {secretName: pg}}\n"
        "  image: registry.example/chatnet:1.2.3\n---\n"
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: a}\n"
        "spec:\n  network: full\n  role: hub\n  serverId: 1\n  zone: eu-west-1a\n"
        "  resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}\n"
    )
    objects = render(capsys, str(manifest))
    validate_rendered(objects, K8S_VERSION)
    assert "Secret" not in {o["kind"] for o in objects}, "the declared link Secret is used"
    service = by_kind(objects, "Service")["full-chat"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert [p["port"] for p in service["spec"]["ports"]] == [8080, 6667, 6697]
    pod = by_kind(objects, "StatefulSet")["a"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/chatnet:1.2.3"
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert pod["nodeSelector"] == {"topology.kubernetes.io/zone": "eu-west-1a"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "full-tls"
    assert volumes["link-secret"]["secret"]["secretName"] == "my-links"
    assert "emptyDir" in volumes["data"], "postgres keeps no local history volume"
    env = {e["name"]: e for e in container["env"]}
    assert env["CHATNET_HISTORY_DSN"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "dsn"}
    node = parse_config(
        yaml.safe_load(by_kind(objects, "ConfigMap")["a-config"]["data"]["a-0.yaml"])
    )
    assert node.listeners.irc_tls[0].port == 6697


def test_client_service_never_collides_with_a_servers_headless_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A one-server network named like its server (examples/local.yaml) renders two Services."""
    local = next(p for p in EXAMPLES if p.name == "local.yaml")
    assert main(["render", str(local)]) == 0
    objects = list(yaml.safe_load_all(capsys.readouterr().out))
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"]
    assert sorted(names) == ["local", "local-chat"]


def test_tls_required_links_dial_a_wss_listener_each_server_has(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ConferenceRoom's SSL-only links on a cluster with no certificate given: each
    server's own, from the network CA, which peers verify (``links.caFile``)."""
    objects = render(capsys, str(EXAMPLES[0].parent / "conferenceroom-geographic.yaml"))
    node = parse_config(
        yaml.safe_load(by_kind(objects, "ConfigMap")["us-east-config"]["data"]["us-east-0.yaml"])
    )
    assert node.links.tls == "required"
    # IRC names take the network's serverDomain; the addresses stay the pods' DNS names.
    assert node.name == "us-east.geo.example"
    assert [(p.name, p.host.split(".")[0], p.port, p.tls) for p in node.links.dial] == [
        ("hub-us.geo.example", "hub-us-0", 8443, True),
        ("hub-eu.geo.example", "hub-eu-0", 8443, True),
    ]
    [listener] = node.listeners.websocket_tls
    assert (listener.port, str(listener.cert_file)) == (8443, "/etc/chatnet/link-tls/tls.crt")
    assert str(node.links.ca_file) == "/etc/chatnet/link-tls/ca.crt"
    sts = by_kind(objects, "StatefulSet")["us-east"]["spec"]["template"]["spec"]
    assert {"name": "link-tls", "secret": {"secretName": "us-east-link-tls"}} in sts["volumes"]
    # Its certificate names what peers dial (without -n: POD.SET, no namespace).
    cert = by_kind(objects, "Certificate")["hub-us-link"]["spec"]
    assert cert["secretName"] == "hub-us-link-tls"
    assert node.links.dial[0].host in cert["dnsNames"]
    assert cert["issuerRef"] == {
        "name": "geo-link-ca",
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    assert by_kind(objects, "Issuer")["geo-link-ca"]["spec"] == {
        "ca": {"secretName": "geo-link-ca"}
    }
    headless = by_kind(objects, "Service")["hub-us"]
    assert [p["name"] for p in headless["spec"]["ports"]] == ["websocket", "link-tls", "admin"]


def test_a_link_certificate_secret_is_mounted_and_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (EXAMPLES[0].parent / "conferenceroom-geographic.yaml").read_text()
    text = text.replace(
        "links: {tls: required,", "links: {tls: required, tlsSecretName: geo-links-tls,"
    )
    manifest = tmp_path / "geo.yaml"
    manifest.write_text(text)
    objects = render(capsys, str(manifest))
    pod = by_kind(objects, "StatefulSet")["hub-eu"]["spec"]["template"]["spec"]
    assert {"name": "link-tls", "secret": {"secretName": "geo-links-tls"}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "link-tls", "mountPath": "/etc/chatnet/link-tls", "readOnly": True} in mounts
    node = parse_config(
        yaml.safe_load(by_kind(objects, "ConfigMap")["hub-eu-config"]["data"]["hub-eu-0.yaml"])
    )
    [listener] = node.listeners.websocket_tls
    assert str(listener.cert_file) == "/etc/chatnet/link-tls/tls.crt"
    validate_rendered(objects, K8S_VERSION)


def test_links_issuer_ref_signs_each_servers_certificate_with_your_ca_issuer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (EXAMPLES[0].parent / "conferenceroom-geographic.yaml").read_text()
    issuer = "issuerRef: {name: corp-ca, kind: ClusterIssuer},"
    manifest = tmp_path / "geo.yaml"
    manifest.write_text(text.replace("links: {tls: required,", f"links: {{tls: required, {issuer}"))
    objects = render(capsys, str(manifest), "-n", "chat")
    assert "Issuer" not in {o["kind"] for o in objects}, "no network CA of its own"
    certificates = by_kind(objects, "Certificate")
    assert "geo-link-ca" not in certificates
    cert = certificates["us-east-link"]["spec"]
    assert cert["issuerRef"] == {
        "name": "corp-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert cert["dnsNames"] == [
        "us-east-0.us-east",
        "us-east-0.us-east.chat",
        "us-east-0.us-east.chat.svc",
        "us-east-0.us-east.chat.svc.cluster.local",
        "us-east.geo.example",  # its IRC name: what its signed adverts are checked against
    ]
    validate_rendered(objects, K8S_VERSION)
    # With a shared Secret as well: refused, saying why (and nothing rendered).
    both = text.replace(
        "links: {tls: required,", f"links: {{tls: required, tlsSecretName: x, {issuer}"
    )
    manifest.write_text(both)
    assert main(["render", str(manifest)]) != 0
    assert "links.issuerRef and links.tlsSecretName exclude each other" in capsys.readouterr().err


PER_POD = """
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: sealed}
spec:
  serverDomain: chat.example
  links: {tls: required, signAdverts: true, podCertificates: true LINKS}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub}
spec: {network: sealed, role: hub, serverId: 1}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: leaf}
spec: {network: sealed, role: leaf, serverId: 10, replicas: 3, uplinks: [hub]}
"""


def csi_names(volume: dict[str, Any], pod: str, namespace: str) -> list[str]:
    """The names the csi-driver puts in pod ``pod``'s certificate (it fills in the templates)."""
    names = volume["csi"]["volumeAttributes"]["csi.cert-manager.io/dns-names"].split(",")
    return [n.replace("${POD_NAME}", pod).replace("${POD_NAMESPACE}", namespace) for n in names]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_pod_certificates_give_each_pod_its_own_from_the_csi_driver(
    version: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "sealed.yaml"
    manifest.write_text(PER_POD.replace(" LINKS", ""))
    objects = render(capsys, str(manifest), "-n", "chat")
    sets = by_kind(objects, "StatefulSet")
    volumes = {}
    for name, sts in sets.items():
        pod = sts["spec"]["template"]["spec"]
        (volumes[name],) = [v for v in pod["volumes"] if v["name"] == "link-tls"]
        mount = {"name": "link-tls", "mountPath": "/etc/chatnet/link-tls", "readOnly": True}
        assert mount in pod["containers"][0]["volumeMounts"]
        assert pod["securityContext"]["fsGroup"] == 10001
    assert volumes["leaf"] == {
        "name": "link-tls",
        "csi": {
            "driver": "csi.cert-manager.io",
            "readOnly": True,
            "volumeAttributes": {
                "csi.cert-manager.io/issuer-name": "sealed-link-ca",
                "csi.cert-manager.io/issuer-kind": "Issuer",
                "csi.cert-manager.io/issuer-group": "cert-manager.io",
                "csi.cert-manager.io/dns-names": (
                    "${POD_NAME}.leaf,${POD_NAME}.leaf.${POD_NAMESPACE},"
                    "${POD_NAME}.leaf.${POD_NAMESPACE}.svc,"
                    "${POD_NAME}.leaf.${POD_NAMESPACE}.svc.cluster.local,"
                    "${POD_NAME}.chat.example"
                ),
                "csi.cert-manager.io/key-usages": "server auth,client auth,digital signature",
                "csi.cert-manager.io/duration": "2160h",
                "csi.cert-manager.io/renew-before": "720h",
                "csi.cert-manager.io/fs-group": "10001",
            },
        },
    }
    # A lone replica (pod hub-0) is IRC server hub: that name, not its pod's.
    hub_names = volumes["hub"]["csi"]["volumeAttributes"]["csi.cert-manager.io/dns-names"]
    assert hub_names.split(",")[-1] == "hub.chat.example"
    # Filled in for a pod, its certificate names what peers dial and its IRC name alone.
    configs = by_kind(objects, "ConfigMap")
    leaf_1 = parse_config(yaml.safe_load(configs["leaf-config"]["data"]["leaf-1.yaml"]))
    hub = parse_config(yaml.safe_load(configs["hub-config"]["data"]["hub-0.yaml"]))
    assert leaf_1.links.sign_adverts and leaf_1.name == "leaf-1.chat.example"
    names = csi_names(volumes["leaf"], "leaf-1", "chat")
    assert leaf_1.name in names and not [n for n in names if "leaf-0" in n or "leaf-2" in n]
    assert leaf_1.links.dial[0].host in csi_names(volumes["hub"], "hub-0", "chat")
    assert hub.name in csi_names(volumes["hub"], "hub-0", "chat")
    # The node reads the driver's files where it read the Secret's: nothing else changes.
    assert str(leaf_1.links.cert_file) == "/etc/chatnet/link-tls/tls.crt"
    assert str(leaf_1.links.key_file) == "/etc/chatnet/link-tls/tls.key"
    assert str(leaf_1.links.ca_file) == "/etc/chatnet/link-tls/ca.crt"
    # The network's CA chain, and no Certificate per ChatServer (the driver asks per pod).
    assert set(by_kind(objects, "Issuer")) == {"sealed-link-selfsigned", "sealed-link-ca"}
    assert set(by_kind(objects, "Certificate")) == {"sealed-link-ca"}
    validate_rendered(objects, version)


def test_pod_certificates_from_your_issuer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "sealed.yaml"
    issuer = ", issuerRef: {name: corp-ca, kind: ClusterIssuer}"
    manifest.write_text(PER_POD.replace(" LINKS", issuer))
    objects = render(capsys, str(manifest))
    assert not {"Issuer", "Certificate"} & {o["kind"] for o in objects}
    pod = by_kind(objects, "StatefulSet")["leaf"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "link-tls"]
    attributes = volume["csi"]["volumeAttributes"]
    assert (
        attributes["csi.cert-manager.io/issuer-name"],
        attributes["csi.cert-manager.io/issuer-kind"],
        attributes["csi.cert-manager.io/issuer-group"],
    ) == ("corp-ca", "ClusterIssuer", "cert-manager.io")
    # Without -n the names still carry the pod's namespace: the driver knows it.
    names = attributes["csi.cert-manager.io/dns-names"].split(",")
    assert "${POD_NAME}.leaf.${POD_NAMESPACE}.svc" in names


def test_a_link_port_that_collides_with_an_endpoint_port_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (EXAMPLES[0].parent / "conferenceroom-geographic.yaml").read_text()
    manifest = tmp_path / "geo.yaml"
    manifest.write_text(
        text.replace("links: {tls: required,", "links: {tlsPort: 6667, tls: required,")
    )
    assert main(["validate", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "links.tlsPort 6667 is also an endpoint port" in err
    assert "1 problem found" in err, "no second, derived complaint (no ChatNetwork declared)"
