"""``spec.endpoint.service``, ``proxyProtocol`` and ``trustedProxies``: validated and rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_node.config import NodeConfig, parse_config
from chatnet_operator.cli import main
from tests.operator.published import validate_rendered

K8S_VERSION = "1.31.0"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "behind-a-load-balancer.yaml"

SERVER = (
    "---\napiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: a}\n"
    "spec: {network: lb, role: hub, serverId: 1}\n"
)


def manifest(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "lb.yaml"
    path.write_text(
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: lb}\n"
        f"spec:\n  endpoint: {endpoint}\n" + SERVER
    )
    return path


def render(capsys: pytest.CaptureFixture[str], path: Path) -> list[dict[str, Any]]:
    assert main(["render", str(path)]) == 0, capsys.readouterr().err
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def node_configs(objects: list[dict[str, Any]]) -> list[NodeConfig]:
    return [
        parse_config(yaml.safe_load(text))
        for o in objects
        if o["kind"] == "ConfigMap"
        for text in o["data"].values()
    ]


def test_the_example_renders_a_proxy_protocol_endpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    objects = render(capsys, EXAMPLE)
    validate_rendered(objects, K8S_VERSION)
    service = find(objects, "Service", "edge-chat")
    assert service["spec"]["type"] == "LoadBalancer"
    assert (
        service["metadata"]["annotations"][
            "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"
        ]
        == "*"
    )
    assert service["spec"]["loadBalancerSourceRanges"] == ["0.0.0.0/0"]
    targets = {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}
    # WebSocket clients go to the PROXY listener; links and probes keep "websocket".
    assert targets == {"websocket": "websocket-proxy", "irc": "irc"}
    pod = find(objects, "StatefulSet", "hub")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["websocket-proxy"] == 8082 and ports["websocket"] == 8080
    assert container["readinessProbe"]["httpGet"]["port"] == "admin"  # never the PROXY port
    headless = find(objects, "Service", "hub")
    assert headless["spec"]["ports"][0]["targetPort"] == "websocket"
    configs = node_configs(objects)
    assert len(configs) == 2
    for config in configs:
        assert config.trusted_proxies == ["10.0.0.0/16"]
        listeners = config.listeners
        assert [(x.port, x.proxy_protocol) for x in listeners.irc] == [(6667, True)]
        assert [(x.port, x.proxy_protocol) for x in listeners.websocket] == [
            (8080, False),
            (8082, True),
        ]
        assert not any(x.proxy_protocol for x in listeners.websocket_tls), "links stay direct"


def test_irc_tls_takes_the_proxy_header_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest(
        tmp_path, "{tls: {secretName: t}, proxyProtocol: true, trustedProxies: [192.0.2.0/24]}"
    )
    (config,) = node_configs(render(capsys, path))
    assert [(x.port, x.proxy_protocol) for x in config.listeners.irc_tls] == [(6697, True)]


def test_without_proxy_protocol_nothing_changes_but_the_service_extras(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest(
        tmp_path,
        "{service: {type: NodePort, externalTrafficPolicy: Local}, trustedProxies: [10.1.0.0/16]}",
    )
    objects = render(capsys, path)
    service = find(objects, "Service", "lb-chat")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert "annotations" not in service["metadata"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"websocket", "irc"}
    (config,) = node_configs(objects)
    # An HTTP proxy's X-Forwarded-For is believed from these addresses.
    assert config.trusted_proxies == ["10.1.0.0/16"]
    assert not any(x.proxy_protocol for x in config.listeners.irc + config.listeners.websocket)


def test_the_older_service_type_keeps_working(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(capsys, manifest(tmp_path, "{serviceType: LoadBalancer}"))
    assert find(objects, "Service", "lb-chat")["spec"]["type"] == "LoadBalancer"
    objects = render(capsys, manifest(tmp_path, "{}"))
    assert find(objects, "Service", "lb-chat")["spec"]["type"] == "ClusterIP"
    # The older CRD's stored default does not stand in the way of service.type.
    endpoint = "{serviceType: ClusterIP, service: {type: LoadBalancer}}"
    objects = render(capsys, manifest(tmp_path, endpoint))
    assert find(objects, "Service", "lb-chat")["spec"]["type"] == "LoadBalancer"


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (
            "{proxyProtocol: true}",
            "proxyProtocol: true needs trustedProxies",
        ),
        (
            "{serviceType: NodePort, service: {type: LoadBalancer}}",
            "serviceType and service.type disagree: keep service.type and remove serviceType",
        ),
        (
            "{service: {externalTrafficPolicy: Local}}",
            "service.externalTrafficPolicy needs service.type NodePort or LoadBalancer",
        ),
        (
            "{service: {type: NodePort, loadBalancerSourceRanges: [10.0.0.0/8]}}",
            "service.loadBalancerSourceRanges needs service.type LoadBalancer",
        ),
        ("{trustedProxies: [10.0.0.1/8]}", "'10.0.0.1/8' has host bits set; did you mean"),
        ("{trustedProxies: [lb.example]}", "trustedProxies"),
        (
            "{proxyProtocol: true, trustedProxies: [10.0.0.0/8], proxyWebsocketPort: 6667}",
            "proxyWebsocketPort must differ from websocketPort and ircPort",
        ),
        (
            "{proxyProtocol: true, trustedProxies: [10.0.0.0/8], proxyWebsocketPort: 8443}",
            "links.tlsPort 8443 is also an endpoint port",
        ),
    ],
)
def test_wrong_endpoints_are_refused_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str, message: str
) -> None:
    assert main(["validate", str(manifest(tmp_path, endpoint))]) == 1
    assert message in capsys.readouterr().err
