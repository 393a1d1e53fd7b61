"""Certificates, web routes and monitoring: what is rendered, and the operator's discovery.

The rendered Certificate, Issuer, HTTPRoute, ServiceMonitor, PodMonitor and
PrometheusRule are checked against the kinds' published schemas
(``published.py``), the Ingress with kubernetes-validate; the
alerts' metrics are checked against real nodes in test_monitoring_names. Then the real operator runs
against an emulated API that serves none of the optional kinds: the
network's core children are made, the rest is reported (condition and
Event) and created once the CRDs are installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from chatnet_operator.plan.render import render_network
from tests.operator import optional_kinds
from tests.operator.kubeapi import ApiServer
from tests.operator.operatorproc import (
    CHATNET,
    OperatorProcess,
    running_api,
    running_operator,
    wait_for,
)
from tests.operator.published import published_problems, validate_rendered

Obj = dict[str, Any]
K8S_VERSION = "1.31.0"

NETWORK = """
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: prod, namespace: NS}
spec:
  endpoint:
    tls:
      issuerRef: {name: letsencrypt, kind: ClusterIssuer}
      dnsNames: [chat.example.org, irc.example.org]
    ingress:
      className: nginx
      host: chat.example.org
      annotations: {cert-manager.io/cluster-issuer: letsencrypt}
      tls: {secretName: chat-web-tls}
    gateway:
      parentRefs: [{name: public, namespace: gateways, sectionName: https}]
      hostnames: [chat.example.org]
  monitoring: {MONITOR: true, prometheusRule: true, labels: {release: prometheus}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: east, namespace: NS}
spec: {network: prod, role: hub, serverId: 10, peers: [west]}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: west, namespace: NS}
spec: {network: prod, role: hub, serverId: 11}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: edge, namespace: NS}
spec: {network: prod, role: leaf, serverId: 20, replicas: 2, uplinks: [east, west]}
"""
OPTIONAL = {"Certificate", "HTTPRoute", "ServiceMonitor", "PodMonitor", "PrometheusRule"}


def manifest(namespace: str = "default", monitor: str = "serviceMonitor") -> str:
    return NETWORK.replace("NS", namespace).replace("MONITOR", monitor)


def rendered(text: str) -> dict[str, Obj]:
    report = validate_documents(parse_text(text, "test"))
    assert report.ok, report.problems
    (declared,) = report.networks
    plan = plan_network(declared, ClusterPlacement(declared.network))
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in render_network(plan)}


@pytest.mark.parametrize("monitor", ["serviceMonitor", "podMonitor"])
def test_rendered_objects_are_valid_against_their_schemas(monitor: str) -> None:
    objects = rendered(manifest(monitor=monitor))
    kinds = {o["kind"] for o in objects.values()}
    assert {
        "Certificate",
        "Ingress",
        "HTTPRoute",
        "PrometheusRule",
        monitor[0].upper() + monitor[1:],
    } <= kinds
    validate_rendered(list(objects.values()), K8S_VERSION)


def test_published_schemas_catch_a_wrong_object() -> None:
    """The published schemas are not vacuous: a missing field, a wrong value are refused.

    (They allow unknown fields, as the API server does: it prunes them.)
    """
    certificate = rendered(manifest())["Certificate/prod-chat"]
    assert published_problems([certificate]) == []
    broken = {**certificate, "spec": {**certificate["spec"]}}
    del broken["spec"]["secretName"]
    assert published_problems([broken]) != []
    broken = {**certificate, "spec": {**certificate["spec"], "usages": ["server auht"]}}
    assert published_problems([broken]) != []
    issuer = rendered(manifest())["Issuer/prod-link-ca"]
    assert published_problems([{**issuer, "spec": {"ca": {}}}]) != []


def test_certificate_secret_is_what_the_servers_mount() -> None:
    objects = rendered(manifest())
    certificate = objects["Certificate/prod-chat"]["spec"]
    assert certificate["issuerRef"] == {
        "name": "letsencrypt",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert certificate["dnsNames"] == ["chat.example.org", "irc.example.org"]
    for name in ("east", "west", "edge"):
        volumes = objects[f"StatefulSet/{name}"]["spec"]["template"]["spec"]["volumes"]
        tls = [v for v in volumes if v["name"] == "tls"]
        assert tls == [{"name": "tls", "secret": {"secretName": certificate["secretName"]}}]


def test_routes_reach_the_client_service_websocket_port() -> None:
    objects = rendered(manifest())
    service = objects["Service/prod-chat"]
    port = next(p for p in service["spec"]["ports"] if p["name"] == "websocket")
    ingress = objects["Ingress/prod-chat"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert ingress["spec"]["tls"] == [{"hosts": ["chat.example.org"], "secretName": "chat-web-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "prod-chat", "port": {"name": "websocket"}}
    route = objects["HTTPRoute/prod-chat"]["spec"]
    assert route["parentRefs"] == [
        {"name": "public", "namespace": "gateways", "sectionName": "https"}
    ]
    assert route["rules"][0]["backendRefs"] == [{"name": "prod-chat", "port": port["port"]}]


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(e["key"] in labels for e in selector.get("matchExpressions", []))


def test_service_monitor_scrapes_each_server_once() -> None:
    objects = rendered(manifest())
    monitor = objects["ServiceMonitor/prod-servers"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    services = {k: v for k, v in objects.items() if v["kind"] == "Service"}
    chosen = {
        k
        for k, v in services.items()
        if _selects(monitor["spec"]["selector"], v["metadata"]["labels"])
    }
    assert chosen == {"Service/east", "Service/west", "Service/edge"}
    for name in ("east", "west", "edge"):
        pod_labels = objects[f"StatefulSet/{name}"]["spec"]["template"]["metadata"]["labels"]
        assert set(monitor["spec"]["podTargetLabels"]) <= set(pod_labels)
        container = objects[f"StatefulSet/{name}"]["spec"]["template"]["spec"]["containers"][0]
        assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in container["ports"]}
        # /metrics lives on the admin port, which the headless Service exposes.
        ports = {p["name"] for p in objects[f"Service/{name}"]["spec"]["ports"]}
        assert monitor["spec"]["endpoints"][0]["port"] == "admin" and "admin" in ports


def test_the_alerts_of_a_network() -> None:
    """The alerts rendered; test_monitoring_names checks their metrics against real nodes."""
    rule = rendered(manifest())["PrometheusRule/prod-servers"]
    alerts = {r["alert"]: r["expr"] for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {
        "ChatnetServerDown",
        "ChatnetServerNotReady",
        "ChatnetLinkDown",
        "ChatnetAcknowledgementBacklog",
        "ChatnetAcknowledgementLatencyHigh",
        "ChatnetHistoryErrors",
    }
    assert 'chatnet_io_server=~"east|edge|west"' in alerts["ChatnetServerNotReady"]
    assert 'chatnet_io_network="prod"' in alerts["ChatnetHistoryErrors"]


def test_a_wrong_tls_block_is_refused_with_the_fix() -> None:
    text = manifest().replace("      dnsNames: [chat.example.org, irc.example.org]\n", "")
    report = validate_documents(parse_text(text, "test"))
    assert not report.ok
    assert any("issuerRef needs dnsNames" in str(p) for p in report.problems)
    both = manifest(monitor="serviceMonitor").replace("prometheusRule: true", "podMonitor: true")
    report = validate_documents(parse_text(both, "test"))
    assert any("pick one" in str(p) for p in report.problems)


# ------------------------------------------------------------- the operator


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with running_api() as server:
        yield server


@pytest.fixture(scope="module")
def operator(api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with running_operator(api, tmp_path_factory.mktemp("optional")) as proc:
        yield proc


def _event(api: ApiServer, namespace: str, reason: str) -> Obj | None:
    found = [e for e in api.store.items("v1", "Event", namespace) if e.get("reason") == reason]
    return found[0] if found else None


def _condition(obj: Obj | None) -> Obj | None:
    conditions = ((obj or {}).get("status") or {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "OptionalKindsAvailable"), None)


def test_operator_creates_optional_kinds_only_when_served(
    api: ApiServer, operator: OperatorProcess
) -> None:
    namespace = "optional"
    for doc in yaml.safe_load_all(manifest(namespace)):
        api.store.apply(doc)
    # Without cert-manager, the Gateway API and prometheus-operator: the
    # network runs, and says what it could not create and why.
    missing = wait_for(
        lambda: (
            (c := _condition(api.store.find(CHATNET, "ChatNetwork", namespace, "prod")))
            and c["status"] == "False"
            and c
        ),
        what="OptionalKindsAvailable=False",
    )
    message = missing["message"]
    for kind, field in [
        ("Certificate", "spec.endpoint.tls.issuerRef"),
        ("HTTPRoute", "spec.endpoint.gateway"),
        ("ServiceMonitor", "spec.monitoring.serviceMonitor"),
        ("PrometheusRule", "spec.monitoring.prometheusRule"),
    ]:
        assert f"{kind} " in message and field in message, message
    assert "PodMonitor" not in message
    assert api.store.find("apps/v1", "StatefulSet", namespace, "east") is not None
    assert api.store.find("networking.k8s.io/v1", "Ingress", namespace, "prod-chat") is not None
    warning = wait_for(lambda: _event(api, namespace, "KindsMissing"), what="a KindsMissing Event")
    assert "Certificate" in warning["message"] and "cert-manager" in warning["message"]
    assert "Traceback" not in operator.log()

    for crd in optional_kinds.all_crds():
        api.store.add_crd(crd)
    wait_for(
        lambda: (
            (c := _condition(api.store.find(CHATNET, "ChatNetwork", namespace, "prod")))
            and c["status"] == "True"
        ),
        what="OptionalKindsAvailable=True once the CRDs are installed",
    )
    certificate = api.store.find("cert-manager.io/v1", "Certificate", namespace, "prod-chat")
    assert certificate is not None
    assert certificate["metadata"]["ownerReferences"][0]["kind"] == "ChatNetwork"
    optional_kinds.validate(certificate)
    for api_version, kind, name in [
        ("gateway.networking.k8s.io/v1", "HTTPRoute", "prod-chat"),
        ("monitoring.coreos.com/v1", "ServiceMonitor", "prod-servers"),
        ("monitoring.coreos.com/v1", "PrometheusRule", "prod-servers"),
    ]:
        assert api.store.find(api_version, kind, namespace, name) is not None, kind
    assert (
        api.store.find("monitoring.coreos.com/v1", "PodMonitor", namespace, "prod-servers") is None
    )
    wait_for(lambda: _event(api, namespace, "KindsServed"), what="a KindsServed Event")


def test_operator_deletes_what_the_spec_no_longer_asks_for(
    api: ApiServer, operator: OperatorProcess
) -> None:
    """Routes, certificate and monitoring removed from the spec are deleted; a look-alike
    nobody owns, and the network's other children, stay."""
    namespace = "pruned"
    for crd in optional_kinds.all_crds():
        api.store.add_crd(crd)
    docs = list(yaml.safe_load_all(manifest(namespace)))
    for doc in docs:
        api.store.apply(doc)
    optional = [
        ("networking.k8s.io/v1", "Ingress", "prod-chat"),
        ("cert-manager.io/v1", "Certificate", "prod-chat"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute", "prod-chat"),
        ("monitoring.coreos.com/v1", "ServiceMonitor", "prod-servers"),
        ("monitoring.coreos.com/v1", "PrometheusRule", "prod-servers"),
    ]
    wait_for(
        lambda: all(api.store.find(v, k, namespace, n) for v, k, n in optional),
        what="every optional object created",
    )
    applied = api.store.find("cert-manager.io/v1", "Certificate", namespace, "prod-chat")
    assert applied is not None
    managers = {e["manager"] for e in applied["metadata"]["managedFields"]}
    assert managers == {"chatnet-operator"}, "written by server-side apply"
    # A copy someone made by hand, with the same labels but no owner: not the operator's.
    monitor = api.store.find(
        "monitoring.coreos.com/v1", "ServiceMonitor", namespace, "prod-servers"
    )
    assert monitor is not None
    stranger = {
        "apiVersion": monitor["apiVersion"],
        "kind": monitor["kind"],
        "metadata": {
            "name": "by-hand",
            "namespace": namespace,
            "labels": monitor["metadata"]["labels"],
        },
        "spec": monitor["spec"],
    }
    api.store.apply(stranger)

    network = docs[0]
    for field in ("ingress", "gateway", "tls"):
        del network["spec"]["endpoint"][field]
    del network["spec"]["monitoring"]
    api.store.apply(network)
    wait_for(
        lambda: not any(api.store.find(v, k, namespace, n) for v, k, n in optional),
        what="the objects the spec no longer asks for deleted",
    )
    kept = api.store.find("monitoring.coreos.com/v1", "ServiceMonitor", namespace, "by-hand")
    assert kept is not None, "an object the operator does not own is never pruned"
    for name in ("east", "west", "edge"):
        assert api.store.find("apps/v1", "StatefulSet", namespace, name) is not None
    assert api.store.find("v1", "Service", namespace, "prod-chat") is not None
    deleted = wait_for(lambda: _event(api, namespace, "ChildrenDeleted"), what="an Event")
    assert "Ingress/prod-chat" in deleted["message"]
    assert "Traceback" not in operator.log()
