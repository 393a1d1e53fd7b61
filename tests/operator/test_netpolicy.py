"""NetworkPolicies admit exactly what is declared, checked as data.

Every example is rendered; its pods (from the StatefulSets), the operator's
pod, a metrics scraper, a stranger in the same namespace and addresses
outside the cluster are each tried against every port of every chat pod,
and ``policycheck.allowed`` (Kubernetes' ingress semantics) must agree with
what the spec declares, pair by pair. The evaluator's own semantics are
checked first on small hand-written policies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_operator.cli import main
from chatnet_operator.plan.policycheck import Pod, Source, allowed

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
NS = "chat"
Obj = dict[str, Any]

OPERATOR = Pod(
    "chatnet-operator-7d9",
    "chatnet-system",
    {"app.kubernetes.io/name": "chatnet", "app.kubernetes.io/component": "operator"},
    "10.244.9.1",
)
SCRAPER = Pod("prometheus-0", "monitoring", {"app": "prometheus"}, "10.244.9.2")
OTHER_IN_MONITORING = Pod("grafana-0", "monitoring", {"app": "grafana"}, "10.244.9.3")
STRANGER = Pod("stranger", NS, {"app": "stranger"}, "10.244.9.4")
# A pod that claims the network label but is no chat server (e.g. a database).
DATABASE = Pod("acme-history-1", NS, {"chatnet.io/network": "acme"}, "10.244.9.5")
OUTSIDE = "203.0.113.9"
NAMESPACES = {"monitoring": {"team": "observability"}, "chatnet-system": {}, NS: {}}
UNDECLARED_PORTS = (22, 5432, 9090)


def render(capsys: pytest.CaptureFixture[str], *args: str) -> list[Obj]:
    assert main(["render", *args]) == 0, capsys.readouterr().err
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def chat_pods(objects: list[Obj]) -> list[Pod]:
    """Every pod the StatefulSets would make, with made-up cluster addresses."""
    pods = []
    for sts in (o for o in objects if o["kind"] == "StatefulSet"):
        template = sts["spec"]["template"]
        [container] = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for i in range(sts["spec"]["replicas"]):
            ip = f"10.244.{len(pods) // 200}.{len(pods) % 200 + 10}"
            name = f"{sts['metadata']['name']}-{i}"
            pods.append(Pod(name, NS, template["metadata"]["labels"], ip, ports))
    return pods


def declared(example: list[Obj]) -> tuple[Obj, list[Obj]]:
    network = next(d for d in example if d["kind"] == "ChatNetwork")
    servers = [d for d in example if d["kind"] == "ChatServer"]
    return network["spec"], servers


def expectation(spec: Obj, servers: list[Obj]) -> Callable[[Source, Pod, int], bool]:
    """What the spec declares, written from the spec alone (not from the renderer)."""
    endpoint = spec.get("endpoint") or {}
    links = spec.get("links") or {}
    policy = spec.get("networkPolicy") or {}
    websocket, irc = endpoint.get("websocketPort", 8080), endpoint.get("ircPort", 6667)
    client_ports = {websocket, irc}
    if "tls" in endpoint:
        client_ports.add(endpoint.get("ircTlsPort", 6697))
    link_ports = {websocket}
    if links.get("tls", "optional") != "off":
        link_ports.add(links.get("tlsPort", 8443))
    admin_port = spec.get("adminPort", 8081)
    network = next(iter(servers))["spec"]["network"]
    portal_ips = {p["address"] for s in servers for p in s["spec"].get("portals", [])}

    def in_any(ip: str, cidrs: list[str]) -> bool:
        address = ipaddress.ip_address(ip)
        return any(
            address.version == (net := ipaddress.ip_network(c)).version and address in net
            for c in cidrs
        )

    def expect(source: Source, dest: Pod, port: int) -> bool:
        pod = source.pod
        is_server = (
            pod is not None
            and pod.namespace == NS
            and pod.labels.get("chatnet.io/network") == network
            and "chatnet.io/server" in pod.labels
        )
        if port in client_ports:
            sources = policy.get("clientSources") or []
            if not sources or in_any(source.ip, sources):
                return True
        if port in link_ports:
            if is_server or source.ip in portal_ips:
                return True
            if in_any(source.ip, policy.get("linkSources") or []):
                return True
        if port == admin_port:
            if pod == OPERATOR:
                return True
            if pod == SCRAPER and policy.get("metricsFrom"):
                return True
        return False

    return expect


def check_every_pair(
    objects: list[Obj], expect: Callable[[Source, Pod, int], bool], extra: list[Source]
) -> int:
    pods = chat_pods(objects)
    assert pods
    sources = [Source(p.ip, p) for p in pods]
    sources += [Source(p.ip, p) for p in (OPERATOR, SCRAPER, OTHER_IN_MONITORING, STRANGER)]
    sources += [Source(DATABASE.ip, DATABASE), Source(OUTSIDE), *extra]
    checked = 0
    for dest in pods:
        for port in sorted({*dest.ports.values(), *UNDECLARED_PORTS}):
            for source in sources:
                got = allowed(objects, source, dest, port, namespaces=NAMESPACES)
                want = expect(source, dest, port)
                who = source.pod.name if source.pod else source.ip
                assert got == want, f"{who} -> {dest.name}:{port}: allowed={got}, declared={want}"
                checked += 1
    return checked


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_admits_exactly_what_it_declares(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(capsys, str(example), "-n", NS)
    [policy] = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["namespace"] == NS
    spec, servers = declared([d for d in yaml.safe_load_all(example.read_text()) if d])
    assert check_every_pair(objects, expectation(spec, servers), []) >= 40


NETWORK = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec:
  endpoint: {tls: {secretName: acme-tls}}
  adminPort: 9102
  networkPolicy:
    clientSources: [198.51.100.0/24, "2001:db8:1::/48"]
    linkSources: [192.0.2.128/25]
    metricsFrom:
      - namespaceSelector: {matchLabels: {team: observability}}
        podSelector: {matchLabels: {app: prometheus}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub}
spec:
  network: acme
  role: hub
  serverId: 1
  replicas: 2
  portals:
    - {name: far, address: 192.0.2.7, port: 8443, serverId: 50, tls: true}
    - {name: named, address: irc.example.net, port: 8443, serverId: 51}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: leaf}
spec: {network: acme, role: leaf, serverId: 10, uplinks: [hub]}
"""


def test_declared_sources_scrapers_and_portals_are_admitted_and_no_one_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(NETWORK)
    objects = render(capsys, str(path), "-n", NS)
    docs = [d for d in yaml.safe_load_all(NETWORK) if d]
    spec, servers = declared(docs)
    extra = [
        Source("198.51.100.20"),  # a declared client range
        Source("2001:db8:1::5"),
        Source("2001:db8:2::5"),  # next to it: not declared
        Source("192.0.2.7"),  # the portal's address
        Source("192.0.2.200"),  # linkSources
        Source("192.0.2.8"),  # next to the portal: nothing
    ]
    assert check_every_pair(objects, expectation(spec, servers), extra) >= 300
    hub = next(p for p in chat_pods(objects) if p.name == "hub-0")
    assert not allowed(objects, Source(OUTSIDE), hub, 6667, namespaces=NAMESPACES)
    assert allowed(objects, Source("192.0.2.7"), hub, 8443, namespaces=NAMESPACES)
    assert not allowed(objects, Source("192.0.2.7"), hub, 9102, namespaces=NAMESPACES)
    assert allowed(objects, Source(SCRAPER.ip, SCRAPER), hub, 9102, namespaces=NAMESPACES)
    assert not allowed(objects, Source(SCRAPER.ip, SCRAPER), hub, 8443, namespaces=NAMESPACES)


def test_switched_off_no_policy_is_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "open.yaml"
    path.write_text(NETWORK.replace("  networkPolicy:\n", "  networkPolicy:\n    enabled: false\n"))
    objects = render(capsys, str(path))
    assert not [o for o in objects if o["kind"] == "NetworkPolicy"]
    hub = next(p for p in chat_pods(objects) if p.name == "hub-0")
    assert allowed(objects, Source(OUTSIDE), hub, 9102)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("clientSources", ["10.0.0.1"], "needs a prefix length, e.g. 10.0.0.1/32"),
        ("clientSources", ["10.0.0.1/8"], "has host bits set"),
        ("linkSources", ["not-an-address/8"], "is not a CIDR block"),
        ("metricsFrom", [{}], "give namespaceSelector, podSelector or both"),
        ("metricsFrom", [{"podSelector": {"labels": {}}}], "labels"),
    ],
)
def test_a_wrong_policy_field_is_refused_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any, message: str
) -> None:
    docs = [d for d in yaml.safe_load_all(NETWORK) if d]
    docs[0]["spec"]["networkPolicy"] = {field: value}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert main(["render", str(path)]) != 0
    out = capsys.readouterr()
    assert message in out.err + out.out
    assert "kind: Service" not in out.out


def test_an_admin_port_that_collides_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(NETWORK.replace("adminPort: 9102", "adminPort: 8443"))
    assert main(["validate", str(path)]) != 0
    assert "adminPort 8443 is also a client or link port" in capsys.readouterr().err


# ------------------------------------------------------------ the evaluator itself


def policy(spec: Obj, namespace: str = NS) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": spec,
    }


WEB = Pod("web", NS, {"app": "web"}, "10.1.0.1", {"http": 80})
CLIENT = Pod("client", NS, {"role": "client"}, "10.1.0.2")
FOREIGN_CLIENT = Pod("client", "other", {"role": "client"}, "10.1.0.3")


def test_evaluator_follows_kubernetes_semantics() -> None:
    src = Source(CLIENT.ip, CLIENT)
    foreign = Source(FOREIGN_CLIENT.ip, FOREIGN_CLIENT)
    outside = Source("198.51.100.1")
    # No policy selects the pod: everything is allowed.
    assert allowed([], outside, WEB, 80)
    # Selected with no rules: nothing is.
    deny = policy({"podSelector": {}, "policyTypes": ["Ingress"]})
    assert not allowed([deny], src, WEB, 80)
    # Egress-only policies do not restrict ingress; another namespace's policy neither.
    assert allowed([policy({"podSelector": {}, "policyTypes": ["Egress"]})], src, WEB, 80)
    assert allowed([policy({"podSelector": {}}, namespace="other")], src, WEB, 80)
    # podSelector alone: same namespace only; namespaceSelector+podSelector: AND.
    same_ns = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}
    assert allowed([policy(same_ns)], src, WEB, 80)
    assert not allowed([policy(same_ns)], foreign, WEB, 80)
    both = {
        "podSelector": {},
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}},
                        "podSelector": {"matchLabels": {"role": "client"}},
                    }
                ]
            }
        ],
    }
    assert allowed([policy(both)], src, WEB, 80)
    assert not allowed([policy(both)], foreign, WEB, 80)
    # Additive: a second policy admits what the first does not.
    anyone_80 = {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"ports": [{"port": 80}]}],
    }
    assert not allowed([deny], outside, WEB, 80)
    assert allowed([deny, policy(anyone_80)], outside, WEB, 80)
    assert not allowed([deny, policy(anyone_80)], outside, WEB, 81)
    assert not allowed([deny, policy(anyone_80)], outside, WEB, 80, protocol="UDP")
    # Named ports, ranges, ipBlock with except, matchExpressions.
    named = {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]}
    assert allowed([policy(named)], outside, WEB, 80)
    assert not allowed([policy(named)], outside, WEB, 8080)
    ranged = {"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 8100}]}]}
    assert allowed([policy(ranged)], outside, WEB, 8080)
    assert not allowed([policy(ranged)], outside, WEB, 8101)
    block = {
        "podSelector": {},
        "ingress": [
            {"from": [{"ipBlock": {"cidr": "198.51.100.0/24", "except": ["198.51.100.0/30"]}}]}
        ],
    }
    assert allowed([policy(block)], Source("198.51.100.9"), WEB, 80)
    assert not allowed([policy(block)], outside, WEB, 80)
    assert not allowed([policy(block)], Source("2001:db8::1"), WEB, 80)
    exists = {
        "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
        "ingress": [
            {
                "from": [
                    {"podSelector": {"matchExpressions": [{"key": "role", "operator": "Exists"}]}}
                ]
            }
        ],
    }
    assert allowed([policy(exists)], src, WEB, 80)
    assert not allowed([policy(exists)], Source(WEB.ip, WEB), WEB, 80)
