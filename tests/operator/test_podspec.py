"""Chat server pods: default sizing, spec.pod from network and server, hub anti-affinity,
probes, no service account token, and the recommended labels on every object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chatnet_operator.cli import main
from chatnet_operator.plan.podspec import app_version, default_resources
from chatnet_operator.plan.render import MIN_KUBERNETES
from tests.operator.published import validate_rendered

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VERSIONS = [f"{MIN_KUBERNETES}.0", kubernetes_validate.utils.latest_version()]
RECOMMENDED = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)

NETWORK_POD = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme}
spec:
  image: registry.example/chatnet:2.0.1
  pod:
    tolerations: [{key: dedicated, operator: Equal, value: chat, effect: NoSchedule}]
    nodeSelector: {pool: chat}
    priorityClassName: chat-critical
    imagePullSecrets: [{name: regcred}]
    annotations: {example.com/owner: team-chat}
    labels: {team: chat, cost-centre: c42}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: east}
spec:
  network: acme
  role: hub
  serverId: 1
  peers: [west]
  zone: eu-1a
  pod:
    tolerations: []
    nodeSelector: {disk: ssd}
    labels: {team: chat-east}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: west}
spec: {network: acme, role: hub, serverId: 2, maxClients: 20000}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: fan}
spec: {network: acme, role: leaf, serverId: 10, replicas: 2, uplinks: [east, west]}
"""


def render(capsys: pytest.CaptureFixture[str], path: Path) -> list[dict[str, Any]]:
    assert main(["render", str(path)]) == 0, capsys.readouterr().err
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def pods(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pod templates by StatefulSet name."""
    return {
        o["metadata"]["name"]: o["spec"]["template"] for o in objects if o["kind"] == "StatefulSet"
    }


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions with In/NotIn) against labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        inside = labels.get(expr["key"]) in expr["values"]
        if inside != (expr["operator"] == "In"):
            return False
    return True


# --- sizing ------------------------------------------------------------------------


def test_default_resources_follow_the_documented_formula() -> None:
    # 80 MiB + 1000 x 5 KiB x 2 = 89.8 MiB -> 96 Mi; 50m + 1000 x 20 / 2.4 M x 2 cores -> 70m.
    assert default_resources(1000) == {
        "requests": {"cpu": "70m", "memory": "96Mi"},
        "limits": {"memory": "192Mi"},
    }
    assert default_resources(0)["requests"] == {"cpu": "50m", "memory": "80Mi"}
    # 100 000 clients: 80 + 976.6 MiB -> 1072 Mi; the CPU request stops at one core.
    big = default_resources(100_000)
    assert big["requests"]["memory"] == "1072Mi" and big["limits"]["memory"] == "2144Mi"
    assert default_resources(1_000_000)["requests"]["cpu"] == "1000m"
    assert "cpu" not in big["limits"], "no CPU limit: throttling delays every delivery"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_example_renders_a_best_effort_pod(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, template in pods(render(capsys, example)).items():
        for container in template["spec"]["containers"]:
            requests = container["resources"]["requests"]
            assert {"cpu", "memory"} <= set(requests), f"{name}: {requests}"
            assert "memory" in container["resources"]["limits"], name


def test_servers_are_sized_by_their_own_max_clients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "acme.yaml"
    manifest.write_text(NETWORK_POD)
    templates = pods(render(capsys, manifest))
    resources = {n: t["spec"]["containers"][0]["resources"] for n, t in templates.items()}
    assert resources["east"] == default_resources(1000), "the network's limits.maxClients"
    assert resources["west"] == default_resources(20000)


# --- spec.pod ------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_network_pod_settings_with_server_overrides(
    version: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "acme.yaml"
    manifest.write_text(NETWORK_POD)
    objects = render(capsys, manifest)
    validate_rendered(objects, version)
    templates = pods(objects)
    west, east = templates["west"], templates["east"]
    # west takes the network's settings as they are.
    assert west["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "chat", "effect": "NoSchedule"}
    ]
    assert west["spec"]["nodeSelector"] == {"pool": "chat"}
    assert west["spec"]["priorityClassName"] == "chat-critical"
    assert west["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert west["metadata"]["annotations"] == {
        "example.com/owner": "team-chat",
        # The scrape annotations point at the admin port; spec.pod's come on top.
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8081",
        "prometheus.io/path": "/metrics",
    }
    assert west["metadata"]["labels"]["team"] == "chat"
    assert west["metadata"]["labels"]["app.kubernetes.io/version"] == "2.0.1"
    node = west["spec"]["affinity"]["nodeAffinity"]
    term = node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
    ]
    # east: an empty list clears, maps merge key by key, zone joins the nodeSelector.
    assert "tolerations" not in east["spec"]
    assert east["spec"]["nodeSelector"] == {
        "pool": "chat",
        "disk": "ssd",
        "topology.kubernetes.io/zone": "eu-1a",
    }
    assert east["metadata"]["labels"]["team"] == "chat-east"
    assert east["metadata"]["labels"]["cost-centre"] == "c42"
    assert east["spec"]["priorityClassName"] == "chat-critical"


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        ("{tolerations: [{key: a, operator: Exist}]}", "'Exists' or 'Equal'"),
        ("{tolerations: [{operator: Equal, value: x}]}", "needs operator: Exists"),
        ("{tolerations: [{key: a, operator: Exists, value: x}]}", "takes no value"),
        (
            "{affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution:"
            " {nodeSelectorTerms: [{matchExpressions: [{key: k, operator: In}]}]}}}}",
            "operator In needs values",
        ),
        ("{affinity: {nodeAfinity: {}}}", "did you mean nodeAffinity?"),
        ("{labels: {chatnet.io/server: x}}", "is set by the operator"),
        ("{labels: {team: 'no spaces'}}", "is not a valid label value"),
        ("{annotations: {'bad key!': x}}", "is not a valid Kubernetes key"),
        ("{imagePullSecrets: [{name: Reg_Cred}]}", "imagePullSecrets[0].name"),
        ("{nodeSelector: {topology.kubernetes.io/zone: b}}", "contradicts zone: a"),
    ],
)
def test_wrong_pod_settings_are_refused_by_field(
    pod: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: n}\n---\n"
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: s}\n"
        f"spec: {{network: n, role: hub, serverId: 1, zone: a, pod: {pod}}}\n"
    )
    assert main(["render", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "ChatServer/s: spec" in err and "pod" in err and message in err, err
    assert "1 problem found" in err


# --- scheduling, probes, token ----------------------------------------------------------


def test_hubs_of_a_network_prefer_other_nodes_and_zones_across_chatservers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    templates = pods(render(capsys, EXAMPLES / "webcrossing-fanout.yaml"))
    backbone = {
        n for n, t in templates.items() if t["metadata"]["labels"]["chatnet.io/role"] != "leaf"
    }
    assert backbone == {"control", "conference"}
    for name in backbone:
        terms = templates[name]["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert [(t["weight"], t["podAffinityTerm"]["topologyKey"]) for t in terms] == [
            (100, "kubernetes.io/hostname"),
            (50, "topology.kubernetes.io/zone"),
        ]
        selector = terms[0]["podAffinityTerm"]["labelSelector"]
        # It repels every backbone pod of the network, whatever its ChatServer, and no leaf.
        avoided = {n for n, t in templates.items() if matches(selector, t["metadata"]["labels"])}
        assert avoided == backbone
    assert "affinity" not in templates["fanout"]["spec"], "leaves spread per set only"


def test_declared_anti_affinity_is_kept_beside_the_hub_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "acme.yaml"
    term = "{weight: 10, podAffinityTerm: {topologyKey: example.com/rack}}"
    manifest.write_text(
        NETWORK_POD.replace(
            "  pod:\n    tolerations: []",
            f"  pod:\n    affinity: {{podAntiAffinity: "
            f"{{preferredDuringSchedulingIgnoredDuringExecution: [{term}]}}}}\n"
            "    tolerations: []",
        )
    )
    spec = pods(render(capsys, manifest))["east"]["spec"]
    terms = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert [t["podAffinityTerm"]["topologyKey"] for t in terms] == [
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "example.com/rack",
    ]
    assert "nodeAffinity" not in spec["affinity"], "the server's affinity replaces the network's"


def test_pods_have_no_token_a_startup_probe_and_a_patient_readiness_probe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, template in pods(render(capsys, EXAMPLES / "quickstart.yaml")).items():
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        [container] = spec["containers"]
        startup = container["startupProbe"]
        assert startup["httpGet"] == container["livenessProbe"]["httpGet"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
        assert container["readinessProbe"]["failureThreshold"] >= 3


# --- labels ----------------------------------------------------------------------------


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_object_and_pod_carries_the_recommended_labels(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(capsys, example)
    metas = [o["metadata"] for o in objects]
    metas += [t["metadata"] for t in pods(objects).values()]
    for meta in metas:
        missing = [k for k in RECOMMENDED if not meta["labels"].get(k)]
        assert not missing, f"{meta.get('name', 'pod template')}: {missing}"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "chatnet"


def test_claim_templates_keep_their_first_labels(capsys: pytest.CaptureFixture[str]) -> None:
    """volumeClaimTemplates are immutable: a new version label there would be refused."""
    objects = render(capsys, EXAMPLES / "sametime-cluster.yaml")
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    labels = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]
    assert "app.kubernetes.io/version" not in labels


def test_app_version_is_the_image_tag_when_it_is_a_label_value() -> None:
    assert app_version("ghcr.io/chatnet/chatnet:0.2.0", "x") == "0.2.0"
    assert app_version("registry:5000/chatnet", "x") == "x", "a port is not a tag"
    assert app_version("chatnet:1.0@sha256:" + "a" * 64, "x") == "1.0"
    assert app_version("chatnet:" + "v" * 100, "x") == "x", "too long for a label"


def test_a_zone_against_the_networks_node_selector_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "zone.yaml"
    network = (
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: n}\n"
        "spec: {pod: {nodeSelector: {topology.kubernetes.io/zone: b}}}\n---\n"
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: s}\n"
    )
    manifest.write_text(network + "spec: {network: n, role: hub, serverId: 1, zone: a}\n")
    assert main(["render", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "ChatServer/s: spec.zone: zone a contradicts the network's pod.nodeSelector" in err
    # The server's own nodeSelector overrides the network's: then it is consistent.
    manifest.write_text(
        network + "spec: {network: n, role: hub, serverId: 1, zone: a,"
        " pod: {nodeSelector: {topology.kubernetes.io/zone: a}}}\n"
    )
    objects = render(capsys, manifest)
    assert pods(objects)["s"]["spec"]["nodeSelector"] == {"topology.kubernetes.io/zone": "a"}
