"""``history.cnpg``: the shared store on a CloudNativePG Cluster the operator makes or adopts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.cli import main
from chatnet_operator.cluster.reconcile import desired_children
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from tests.operator.published import published_problems, validate_rendered
from tests.operator.test_render import K8S_VERSION, by_kind

SERVER = (
    "---\napiVersion: chatnet.io/v1alpha1\nkind: ChatServer\nmetadata: {name: a}\n"
    "spec: {network: chat, role: hub, serverId: 1}\n"
)


def manifest(history: str) -> str:
    return (
        "apiVersion: chatnet.io/v1alpha1\nkind: ChatNetwork\nmetadata: {name: chat}\n"
        f"spec:\n  history: {history}\n" + SERVER
    )


def render(tmp_path: Path, capsys: pytest.CaptureFixture[str], history: str) -> list[Any]:
    path = tmp_path / "net.yaml"
    path.write_text(manifest(history))
    assert main(["render", str(path)]) == 0, capsys.readouterr().err
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def dsn_ref(objects: list[Any]) -> dict[str, str]:
    container = by_kind(objects, "StatefulSet")["a"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    ref: dict[str, str] = env["CHATNET_HISTORY_DSN"]["valueFrom"]["secretKeyRef"]
    return ref


def test_the_operator_makes_a_synchronous_cnpg_cluster_and_points_nodes_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(
        tmp_path,
        capsys,
        "{store: postgres, cnpg: {instances: 3, storage: 20Gi, storageClass: ssd}}",
    )
    cluster = by_kind(objects, "Cluster")["chat-history"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"] == {
        "instances": 3,
        "storage": {"size": "20Gi", "storageClass": "ssd"},
        "bootstrap": {"initdb": {"database": "chatnet", "owner": "chatnet"}},
        "minSyncReplicas": 1,
        "maxSyncReplicas": 1,
    }
    # Every node reads CNPG's app Secret, whose uri reaches the primary (NAME-rw).
    assert dsn_ref(objects) == {"name": "chat-history-app", "key": "uri"}
    validate_rendered(objects, K8S_VERSION)


def test_one_instance_or_synchronous_off_asks_for_no_synchronous_standby(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for cnpg in ("{instances: 1}", "{instances: 2, synchronous: false}"):
        objects = render(tmp_path, capsys, f"{{store: postgres, cnpg: {cnpg}}}")
        spec = by_kind(objects, "Cluster")["chat-history"]["spec"]
        assert "minSyncReplicas" not in spec and "maxSyncReplicas" not in spec
        assert spec["storage"] == {"size": "10Gi"}
        assert published_problems([by_kind(objects, "Cluster")["chat-history"]]) == []


def test_an_existing_cluster_is_adopted_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(tmp_path, capsys, "{store: postgres, cnpg: {clusterName: shared-pg}}")
    assert "Cluster" not in {o["kind"] for o in objects}
    assert dsn_ref(objects) == {"name": "shared-pg-app", "key": "uri"}


def test_the_cluster_outlives_the_network_that_made_it() -> None:
    """No owner reference: deleting the ChatNetwork never deletes the history."""
    outcome = validate_documents(parse_text(manifest("{store: postgres, cnpg: {}}"), "x"))
    (declared,) = outcome.networks
    plan = plan_network(declared, ClusterPlacement(declared.network, "cluster.local"))
    owner = {"apiVersion": "chatnet.io/v1alpha1", "kind": "ChatNetwork",
             "metadata": {"name": "chat", "uid": "u1"}}  # fmt: skip
    servers = {"a": {**owner, "kind": "ChatServer", "metadata": {"name": "a", "uid": "u2"}}}
    children = {
        f"{o['kind']}/{o['metadata']['name']}": o for o in desired_children(plan, owner, servers)
    }
    assert "ownerReferences" not in children["Cluster/chat-history"]["metadata"]
    assert children["Service/chat-chat"]["metadata"]["ownerReferences"][0]["uid"] == "u1"


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("{store: postgres}", "store postgres needs postgres.secretName or cnpg"),
        (
            "{store: postgres, postgres: {secretName: pg}, cnpg: {}}",
            "postgres.secretName and cnpg exclude each other: name one database",
        ),
        ("{store: sqlite, cnpg: {}}", "cnpg needs store postgres"),
        ("{store: postgres, cnpg: {instances: 12}}", "less than or equal to 9"),
    ],
)
def test_wrong_cnpg_settings_are_refused_with_the_reason(history: str, message: str) -> None:
    outcome = validate_documents(parse_text(manifest(history), "net.yaml"))
    assert not outcome.networks
    assert any(message in str(p) for p in outcome.problems), outcome.problems
