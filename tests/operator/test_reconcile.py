"""The reconcile planner's decisions, as pure functions: no API, no mocks."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import yaml

from chatnet_operator.cluster.reconcile import (
    APPLIED,
    PRUNED_KINDS,
    contains,
    decide,
    declared_from_cluster,
    desired_children,
    fingerprint,
    generated_secrets,
    link_secret,
    owner_reference,
    prune_selector,
    server_child_refs,
    stale_children,
)
from chatnet_operator.observe.status import invalid_conditions, network_status
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from tests.nodeproc import REPO
from tests.operator.test_optional_kinds import manifest as optional_manifest
from tests.operator.test_optional_kinds import rendered as optional_rendered

Obj = dict[str, Any]


def cluster_objects(example: str = "quickstart.yaml", namespace: str = "ns") -> list[Obj]:
    """An example as the API would return it: namespace, uid and generation set."""
    docs = [d for d in yaml.safe_load_all((REPO / "examples" / example).read_text()) if d]
    for i, doc in enumerate(docs):
        doc["metadata"] |= {"namespace": namespace, "uid": f"uid-{i}", "generation": 1}
    return docs


def desired(docs: list[Obj]) -> list[Obj]:
    network, servers = docs[0], docs[1:]
    declared, problems = declared_from_cluster(network, servers)
    assert declared is not None, problems
    plan = plan_network(declared, ClusterPlacement(declared.network))
    by_name = {s["metadata"]["name"]: s for s in servers}
    return desired_children(plan, network, by_name)


def as_stored(obj: Obj) -> Obj:
    """What the API server keeps: the object plus server-set fields and defaults."""
    stored = copy.deepcopy(obj)
    stored["metadata"] |= {"resourceVersion": "7", "uid": "child", "creationTimestamp": "t"}
    if obj["kind"] == "StatefulSet":
        stored["spec"]["revisionHistoryLimit"] = 10
        stored["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    if obj["kind"] == "Service" and obj["spec"].get("clusterIP") != "None":
        stored["spec"] |= {"clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"]}
    return stored


def test_valid_network_from_cluster_objects() -> None:
    docs = cluster_objects()
    # Status and server-set metadata of API objects do not disturb validation.
    docs[0]["status"] = {"servers": "0/4", "kopf": {"progress": {}}}
    declared, problems = declared_from_cluster(docs[0], docs[1:])
    assert problems == []
    assert declared is not None
    assert sorted(s.name for s in declared.servers) == ["east", "east-fanout", "west"]


def test_invalid_network_gives_exact_problems_without_file_positions() -> None:
    docs = cluster_objects()
    docs[3]["spec"]["uplinks"] = ["nowhere"]
    declared, problems = declared_from_cluster(docs[0], docs[1:])
    assert declared is None
    assert problems == [
        "ChatServer/east-fanout: spec.uplinks[0]: no ChatServer or portal named 'nowhere'; "
        "fix: use a hub of network acme: east, west"
    ]


def test_servers_being_deleted_are_planned_out() -> None:
    docs = cluster_objects()
    docs[3]["metadata"]["deletionTimestamp"] = "t"
    declared, _ = declared_from_cluster(docs[0], docs[1:])
    assert declared is not None
    assert sorted(s.name for s in declared.servers) == ["east", "west"]


def test_children_are_owned_by_network_or_their_server() -> None:
    docs = cluster_objects()
    children = desired(docs)
    owners = {
        f"{c['kind']}/{c['metadata']['name']}": c["metadata"]["ownerReferences"][0]["uid"]
        for c in children
    }
    assert owners["NetworkPolicy/acme"] == "uid-0"
    assert owners["Service/acme-chat"] == "uid-0"
    assert owners["StatefulSet/east"] == "uid-1"
    assert owners["ConfigMap/east-fanout-config"] == "uid-3"
    assert owner_reference(docs[1]) == {
        "apiVersion": "chatnet.io/v1alpha1",
        "kind": "ChatServer",
        "name": "east",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_rendering_is_deterministic_so_a_restart_writes_nothing() -> None:
    first = desired(cluster_objects())
    again = desired(cluster_objects())
    assert first == again
    for obj in first:
        assert decide(obj, as_stored(obj)) is None


def test_missing_child_is_created() -> None:
    obj = desired(cluster_objects())[0]
    action = decide(obj, None)
    assert action is not None and action.verb == "create" and action.why == "missing"


def test_changed_child_is_replaced_keeping_server_fields() -> None:
    docs = cluster_objects()
    old = {c["metadata"]["name"]: c for c in desired(docs) if c["kind"] == "Service"}
    docs[0]["spec"]["endpoint"]["ircPort"] = 6668
    new = {c["metadata"]["name"]: c for c in desired(docs) if c["kind"] == "Service"}
    stored = as_stored(old["acme-chat"])
    stored["metadata"]["annotations"]["other.tool/note"] = "kept"
    action = decide(new["acme-chat"], stored)
    assert action is not None and action.verb == "replace" and action.why == "changed"
    assert action.obj["metadata"]["resourceVersion"] == "7"
    assert action.obj["spec"]["clusterIP"] == "10.0.0.7"  # allocated: carried over
    assert action.obj["metadata"]["annotations"]["other.tool/note"] == "kept"
    assert {"name": "irc", "port": 6668, "targetPort": "irc", "protocol": "TCP"} in action.obj[
        "spec"
    ]["ports"]


def test_drift_in_an_owned_field_is_corrected() -> None:
    sts = next(c for c in desired(cluster_objects()) if c["kind"] == "StatefulSet")
    stored = as_stored(sts)
    stored["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1"
    action = decide(sts, stored)
    assert action is not None and action.why == "drifted"
    assert (
        action.obj["spec"]["template"]["spec"]["containers"][0]["image"]
        == sts["spec"]["template"]["spec"]["containers"][0]["image"]
    )


def test_a_field_the_operator_stopped_setting_is_removed() -> None:
    docs = cluster_objects()
    docs[1]["spec"]["zone"] = "eu-1a"
    with_zone = next(
        c for c in desired(docs) if c["metadata"]["name"] == "east" and c["kind"] == "StatefulSet"
    )
    del docs[1]["spec"]["zone"]
    without = next(
        c for c in desired(docs) if c["metadata"]["name"] == "east" and c["kind"] == "StatefulSet"
    )
    stored = as_stored(with_zone)
    # Contained, yet different: only the fingerprint notices.
    assert contains(stored, without | {"metadata": stored["metadata"]})
    action = decide(without, stored)
    assert action is not None and action.why == "changed"
    assert "nodeSelector" not in action.obj["spec"]["template"]["spec"]


def test_config_map_keys_of_removed_replicas_go() -> None:
    docs = cluster_objects()
    cm = next(c for c in desired(docs) if c["metadata"]["name"] == "east-fanout-config")
    stored = as_stored(cm)
    stored["data"]["east-fanout-9.yaml"] = "name: stale\n"
    action = decide(cm, stored)
    assert action is not None
    assert "east-fanout-9.yaml" not in action.obj["data"]


def test_limit_change_changes_config_maps_not_pod_templates() -> None:
    docs = cluster_objects()
    before = {f"{c['kind']}/{c['metadata']['name']}": c for c in desired(docs)}
    docs[0]["spec"]["limits"] = {"maxClients": 10, "floodBurst": 5}
    docs[0]["spec"]["motd"] = "new"
    after = {f"{c['kind']}/{c['metadata']['name']}": c for c in desired(docs)}
    changed = {k for k in after if decide(after[k], as_stored(before[k])) is not None}
    assert changed == {
        "ConfigMap/east-config",
        "ConfigMap/west-config",
        "ConfigMap/east-fanout-config",
    }


def test_image_change_changes_pod_templates() -> None:
    docs = cluster_objects()
    before = {f"{c['kind']}/{c['metadata']['name']}": c for c in desired(docs)}
    docs[0]["spec"]["image"] = "registry.example/chatnet:2"
    after = {f"{c['kind']}/{c['metadata']['name']}": c for c in desired(docs)}
    changed = {k for k in after if decide(after[k], as_stored(before[k])) is not None}
    sets = {"StatefulSet/east", "StatefulSet/west", "StatefulSet/east-fanout"}
    assert sets <= changed
    for key in sets:
        template = after[key]["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == "registry.example/chatnet:2"
        assert template["metadata"]["labels"]["app.kubernetes.io/version"] == "2"
    # Every other object only takes the new app.kubernetes.io/version label.
    for key in changed - sets:
        old, new = before[key], after[key]
        assert {k: v for k, v in old.items() if k != "metadata"} == {
            k: v for k, v in new.items() if k != "metadata"
        }, key
        labels = {**old["metadata"]["labels"], "app.kubernetes.io/version": "2"}
        assert new["metadata"]["labels"] == labels, key


def test_scaling_changes_replicas_and_configs() -> None:
    docs = cluster_objects()
    docs[3]["spec"]["replicas"] = 3
    children = {f"{c['kind']}/{c['metadata']['name']}": c for c in desired(docs)}
    assert children["StatefulSet/east-fanout"]["spec"]["replicas"] == 3
    assert len(children["ConfigMap/east-fanout-config"]["data"]) == 3


def test_the_link_secret_is_generated_by_the_operator_never_rendered() -> None:
    docs = cluster_objects()
    declared, _ = declared_from_cluster(docs[0], docs[1:])
    assert declared is not None
    plan = plan_network(declared, ClusterPlacement(declared.network))
    assert [(n, k) for n, k, _ in generated_secrets(plan)] == [
        ("acme-links", "secret"),
        ("acme-cloak", "secret"),
    ]
    secret = link_secret(plan, "kept-value", docs[0])
    assert secret is not None and secret["metadata"]["namespace"] == "ns"
    assert base64.b64decode(secret["data"]["secret"]) == b"kept-value"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == docs[0]["metadata"]["uid"]
    assert not [c for c in desired(docs) if c["kind"] == "Secret"]
    # Named by the network: nothing to generate; the pods mount the named one.
    docs[0]["spec"]["links"]["secretName"] = "mine"
    declared, _ = declared_from_cluster(docs[0], docs[1:])
    assert declared is not None
    plan = plan_network(declared, ClusterPlacement(declared.network))
    assert link_secret(plan, "x", docs[0]) is None
    assert "mine" not in [n for n, _, _ in generated_secrets(plan)]
    pods = [c for c in desired(docs) if c["kind"] == "StatefulSet"]
    for pod in pods:
        volumes = pod["spec"]["template"]["spec"]["volumes"]
        assert {"name": "link-secret", "secret": {"secretName": "mine"}} in volumes


def test_fingerprint_is_of_the_object_as_rendered() -> None:
    obj = desired(cluster_objects())[1]
    plain = copy.deepcopy(obj)
    del plain["metadata"]["annotations"]  # render sets none; the operator adds only its own
    assert obj["metadata"]["annotations"][APPLIED] == fingerprint(plain)
    assert fingerprint(plain) != fingerprint(plain | {"spec": {}})


@pytest.mark.parametrize(
    ("have", "want", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": [{"x": 1, "y": 2}]}, {"a": [{"x": 1}]}, True),
        ({"a": [{"x": 1}, {"x": 2}]}, {"a": [{"x": 1}]}, False),
        ({}, {"a": None}, False),
    ],
)
def test_contains(have: Obj, want: Obj, expected: bool) -> None:
    assert contains(have, want) is expected


def test_server_child_refs_name_every_server_child() -> None:
    def rendered(server: str) -> set[tuple[str, str]]:
        return {
            (c["kind"], c["metadata"]["name"])
            for c in desired(cluster_objects())
            if c["metadata"]["labels"].get("chatnet.io/server") == server
        }

    def refs(server: str) -> set[tuple[str, str]]:
        return {(ref[1], ref[3]) for ref in server_child_refs("ns", server)}

    # The link certificate: a Certificate rendered, or the operator's own Secret of its name.
    fanout = rendered("east-fanout") - {("Certificate", "east-fanout-link")}
    assert refs("east-fanout") == fanout | {("Secret", "east-fanout-link-tls")}
    # A hub has no budget of its own now (NAME-hubs covers it), but one an
    # earlier version made is still deleted with it.
    extra = {("PodDisruptionBudget", "east"), ("Secret", "east-link-tls")}
    assert refs("east") - rendered("east") == extra
    assert rendered("east") - {("Certificate", "east-link")} <= refs("east")


def test_invalid_conditions_keep_degraded_and_fail_ready() -> None:
    docs = cluster_objects()
    declared, _ = declared_from_cluster(docs[0], docs[1:])
    assert declared is not None
    plan = plan_network(declared, ClusterPlacement(declared.network))
    before = network_status(plan, {}, now="t1", generation=1).conditions
    after = {c.type: c for c in invalid_conditions(before, ["bad"], "t2", 2)}
    assert after["Ready"].status == "False" and after["Ready"].reason == "InvalidTopology"
    assert after["TopologyValid"].status == "False" and after["TopologyValid"].message == "bad"
    assert after["TopologyValid"].last_transition_time == "t2"
    assert after["Degraded"].status == "False" and after["Degraded"].observed_generation == 2


def _selected(obj: Obj, selector: str) -> bool:
    labels = obj["metadata"].get("labels", {})
    return all(labels.get(k) == v for k, v in (t.split("=") for t in selector.split(",")))


def test_every_rendered_child_is_found_by_the_prune_selector_and_kinds() -> None:
    """What the operator may have to delete again is what it lists: every rendered
    kind (but the CNPG Cluster, which outlives the network) and every child's labels."""
    docs = cluster_objects("exchange-three-servers.yaml")
    children = desired(docs)
    assert children
    for obj in children:
        assert _selected(obj, prune_selector("exchange")), obj["metadata"]["name"]
        assert (obj["apiVersion"], obj["kind"]) in PRUNED_KINDS
    assert not _selected(children[0], prune_selector("other"))
    # And every optional kind a network can ask for (routes, certificate, monitoring).
    objects = optional_rendered(optional_manifest("ns")).values()
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    assert len(kinds) >= 9 and kinds <= set(PRUNED_KINDS) | {("v1", "Secret")}
    assert all(_selected(o, prune_selector("prod")) for o in objects)


def test_stale_children_are_the_owned_ones_no_longer_desired() -> None:
    docs = cluster_objects("exchange-three-servers.yaml")
    children = desired(docs)
    owners = {d["metadata"]["uid"] for d in docs}
    assert stale_children(children, children, owners) == []
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "exchange-chat",
            "ownerReferences": [owner_reference(docs[0])],
        },
    }
    stranger = copy.deepcopy(ingress)
    stranger["metadata"]["name"] = "by-hand"
    del stranger["metadata"]["ownerReferences"]
    going = copy.deepcopy(ingress)
    going["metadata"] |= {"name": "going", "deletionTimestamp": "2026-01-01T00:00:00Z"}
    found = stale_children([*children, ingress, stranger, going], children, owners)
    assert found == [ingress]
    # Owned by a ChatServer no longer live (being deleted): its own deletion handles it.
    assert stale_children([ingress], [], owners - {docs[0]["metadata"]["uid"]}) == []
