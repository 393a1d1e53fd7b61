"""The operator's real kopf loop against an emulated Kubernetes API.

One operator subprocess (``chatnet operator -A --standalone``) serves the
whole module, each test in its own namespace; the re-sync timer runs every
second so drift and status show quickly. Garbage collection is not emulated:
deletion is checked through the operator's explicit deletes and the owner
references it sets.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.plan.linkca import LINK_CA_LABEL
from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess, make_node
from tests.operator.kubeapi import ApiServer
from tests.operator.operatorproc import (
    CHATNET,
    OperatorProcess,
    children,
    example,
    operator_children,
    running_api,
    running_operator,
    wait_for,
)
from tests.waiting import wait_until

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator")


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with running_api() as server:
        yield server


@pytest.fixture(scope="module")
def status_urls(tmp_module: Path) -> Path:
    path = tmp_module / "status-urls.json"
    path.write_text("{}")
    return path


@pytest.fixture(scope="module")
def operator(api: ApiServer, tmp_module: Path, status_urls: Path) -> Iterator[OperatorProcess]:
    with running_operator(api, tmp_module, status_urls) as proc:
        yield proc


def apply_all(api: ApiServer, docs: list[Obj]) -> None:
    for doc in docs:
        api.store.apply(doc)


def versions(api: ApiServer, namespace: str) -> dict[str, str]:
    return {k: v["metadata"]["resourceVersion"] for k, v in children(api, namespace).items()}


def get(api: ApiServer, kind: str, namespace: str, name: str) -> Obj | None:
    return api.store.find(CHATNET, kind, namespace, name)


def condition(obj: Obj | None, kind: str) -> Obj | None:
    if obj is None:
        return None
    found = [c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == kind]
    return found[0] if found else None


def events(api: ApiServer, namespace: str, reason: str | None = None) -> list[Obj]:
    found = api.store.items("v1", "Event", namespace)
    return [e for e in found if reason is None or e.get("reason") == reason]


def child_writes(api: ApiServer, namespace: str, since: int) -> list[tuple[str, str]]:
    """Writes to children in a namespace after the ``since``-th recorded write."""
    kinds = ("/secrets/", "/services/", "/configmaps/", "/statefulsets/", "/poddisruption")
    with api.store.lock:
        recent = api.store.writes[since:]
    return [
        (method, path)
        for method, path in recent
        if f"/namespaces/{namespace}/" in path
        and (any(k in path for k in kinds) or path.endswith(("/secrets", "/services")))
    ]


def wait_children(api: ApiServer, namespace: str, count: int) -> dict[str, Obj]:
    """``count`` children, once no write changed them for a second.

    The servers of an example are applied one by one, so a first reconcile
    may plan a partial network and the next rewrite its ConfigMaps: on a
    loaded machine that lands after the count is reached.
    """
    wait_for(
        lambda: (found := children(api, namespace)) and len(found) >= count and found,
        what=f"{count} children in {namespace}",
    )
    seen: list[dict[str, str]] = []

    def still() -> bool:
        seen.append(versions(api, namespace))
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_until(still, 20.0, f"children of {namespace} settled", poll=0.5)
    return children(api, namespace)


def wait_quiet(api: ApiServer, namespace: str, seconds: float = 2.5) -> dict[str, str]:
    """Resource versions once two re-syncs in a row wrote nothing."""
    before = versions(api, namespace)
    time.sleep(seconds)
    after = versions(api, namespace)
    assert after == before, "children changed while the network was quiet"
    return after


# --------------------------------------------------------------------- tests


def test_create_makes_every_child_as_rendered(api: ApiServer, operator: OperatorProcess) -> None:
    docs = example("exchange-three-servers.yaml", "create")
    apply_all(api, docs)
    expected = operator_children(docs)
    found = wait_children(api, "create", len(expected))
    assert set(found) == set(expected)
    network = get(api, "ChatNetwork", "create", "exchange")
    assert network is not None
    for key, want in expected.items():
        have = found[key]
        owner = have["metadata"]["ownerReferences"][0]
        if "chatnet.io/server" in want["metadata"]["labels"]:
            server = get(
                api, "ChatServer", "create", want["metadata"]["labels"]["chatnet.io/server"]
            )
            assert server is not None and owner["uid"] == server["metadata"]["uid"]
        else:
            assert owner["uid"] == network["metadata"]["uid"], key
        assert owner["controller"] is True
        assert have["metadata"]["labels"] == want["metadata"]["labels"]
        if key.startswith("Secret/") and LINK_CA_LABEL in want["metadata"]["labels"]:
            assert set(have["data"]) == {"ca.crt", "tls.crt", "tls.key"}
        elif key.startswith("Secret/"):
            assert set(have["data"]) == {"secret"}
        else:
            assert {k: v for k, v in have.items() if k in ("spec", "data")} == {
                k: v for k, v in want.items() if k in ("spec", "data")
            }, key
    # Status on both kinds, every field kept by the schema-pruning API server.
    network = wait_for(
        lambda: (
            (n := get(api, "ChatNetwork", "create", "exchange")) and condition(n, "Ready") and n
        ),
        what="network status",
    )
    status = network["status"]
    assert status["observedGeneration"] == network["metadata"]["generation"]
    assert status["serversDeclared"] == 3 and status["servers"] == "0/3"
    assert status["linksExpected"] == 3 and status["capacity"] == 3000
    assert condition(network, "TopologyValid")["status"] == "True"  # type: ignore[index]
    assert condition(network, "Ready")["lastTransitionTime"]  # type: ignore[index]
    server = wait_for(
        lambda: (s := get(api, "ChatServer", "create", "chat1")) and condition(s, "Degraded") and s,
        what="server status",
    )
    assert {c["type"] for c in server["status"]["conditions"]} == {
        "Ready",
        "TopologyValid",
        "Degraded",
    }
    assert server["status"]["selector"] == "chatnet.io/network=exchange,chatnet.io/server=chat1"
    assert "chatnet.io/finalizer" in server["metadata"]["finalizers"]
    reasons = {e["reason"] for e in events(api, "create")}
    assert "ChildrenCreated" in reasons

    # The operator's own metrics.
    def metrics() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics") as r:
            text: str = r.read().decode()
        return text

    ok = 'chatnet_operator_reconciles_total{kind="ChatNetwork",result="ok"}'
    text = wait_for(lambda: ok in (t := metrics()) and t, what="reconcile metrics")
    assert 'chatnet_operator_child_writes_total{kind="StatefulSet",verb="create"}' in text


def test_second_run_and_drift(api: ApiServer, operator: OperatorProcess) -> None:
    docs = example("exchange-three-servers.yaml", "drift")
    apply_all(api, docs)
    wait_children(api, "drift", len(operator_children(docs)))
    # Several re-syncs (one a second) write nothing: the reconcile is idempotent.
    wait_quiet(api, "drift")
    # Someone edits the pod template: the next re-sync puts it back.
    sts = api.store.type_for("apps/v1", "StatefulSet")
    api.store.patch(
        sts,
        "drift",
        "chat1",
        {"spec": {"template": {"spec": {"terminationGracePeriodSeconds": 1}}}},
        "application/merge-patch+json",
    )
    wait_for(
        lambda: (
            api.store.get(sts, "drift", "chat1")["spec"]["template"]["spec"][
                "terminationGracePeriodSeconds"
            ]
            == 30
        ),
        what="drift corrected",
    )
    # A deleted child comes back.
    api.store.delete(api.store.type_for("v1", "ConfigMap"), "drift", "chat2-config")
    wait_for(lambda: "ConfigMap/chat2-config" in children(api, "drift"), what="child recreated")


def test_network_policy_follows_the_switch_and_the_link_secret_stays(
    api: ApiServer, operator: OperatorProcess
) -> None:
    docs = example("exchange-three-servers.yaml", "netpol")
    apply_all(api, docs)
    found = wait_children(api, "netpol", len(operator_children(docs)))
    policy = found["NetworkPolicy/exchange"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    link_secret = found["Secret/exchange-links"]
    network = docs[0]
    network["spec"]["networkPolicy"] = {"enabled": False}
    api.store.apply(network)
    wait_for(lambda: "NetworkPolicy/exchange" not in children(api, "netpol"), what="policy removed")
    network["spec"]["networkPolicy"] = {"clientSources": ["198.51.100.0/24"]}
    api.store.apply(network)
    policy = wait_for(
        lambda: children(api, "netpol").get("NetworkPolicy/exchange"), what="policy back"
    )
    assert policy["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "198.51.100.0/24"}}]
    # The generated link Secret was never rewritten meanwhile.
    kept = children(api, "netpol")["Secret/exchange-links"]
    assert kept["data"] == link_secret["data"]
    assert kept["metadata"]["resourceVersion"] == link_secret["metadata"]["resourceVersion"]


def test_limit_change_touches_config_maps_only(api: ApiServer, operator: OperatorProcess) -> None:
    docs = example("exchange-three-servers.yaml", "limits")
    apply_all(api, docs)
    wait_children(api, "limits", len(operator_children(docs)))
    before = wait_quiet(api, "limits")
    sts_before = {k: v for k, v in children(api, "limits").items() if k.startswith("StatefulSet/")}
    network = docs[0]
    network["spec"]["limits"] = {"maxClients": 10}
    network["spec"]["motd"] = "New rules."
    api.store.apply(network)

    def config_changed() -> bool:
        # Every server's ConfigMap: they are written one after another.
        found = children(api, "limits")
        return all(
            "New rules." in found[f"ConfigMap/{name}-config"]["data"][f"{name}-0.yaml"]
            for name in ("chat1", "chat2", "chat3")
        )

    wait_for(config_changed, what="ConfigMap updated")
    after = wait_quiet(api, "limits")
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"ConfigMap/chat1-config", "ConfigMap/chat2-config", "ConfigMap/chat3-config"}
    sts_after = {k: v for k, v in children(api, "limits").items() if k.startswith("StatefulSet/")}
    assert sts_after == sts_before  # no pod template change: no pod restarts
    cm = yaml.safe_load(children(api, "limits")["ConfigMap/chat1-config"]["data"]["chat1-0.yaml"])
    assert cm["motd"] == "New rules."
    # The servers set maxClients themselves (1000), so only servers without their own change.
    assert cm["limits"]["maxClients"] == 1000
    # An image change does change the pod template (a rolling update, one pod at a time).
    network["spec"]["image"] = "registry.example/chatnet:2"
    api.store.apply(network)
    wait_for(
        lambda: (
            children(api, "limits")["StatefulSet/chat1"]["spec"]["template"]["spec"]["containers"][
                0
            ]["image"]
            == "registry.example/chatnet:2"
        ),
        what="image rolled",
    )
    strategy = children(api, "limits")["StatefulSet/chat1"]["spec"]["updateStrategy"]
    assert strategy == {"type": "RollingUpdate"}


def test_scale_subresource_sets_statefulset_replicas(
    api: ApiServer, operator: OperatorProcess
) -> None:
    docs = example("quickstart.yaml", "scale")
    apply_all(api, docs)
    wait_children(api, "scale", len(operator_children(docs)))
    # What `kubectl scale chatserver east-fanout --replicas 3` sends.
    request = urllib.request.Request(
        f"{api.url}/apis/chatnet.io/v1alpha1/namespaces/scale/chatservers/east-fanout/scale",
        data=json.dumps({"spec": {"replicas": 3}}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["spec"]["replicas"] == 3
    sts = wait_for(
        lambda: (
            (s := children(api, "scale")["StatefulSet/east-fanout"])["spec"]["replicas"] == 3 and s
        ),
        what="StatefulSet scaled",
    )
    assert sts["spec"]["replicas"] == 3
    cm = children(api, "scale")["ConfigMap/east-fanout-config"]
    assert sorted(cm["data"]) == [f"east-fanout-{i}.yaml" for i in range(3)]
    # The hubs now accept the new fan-out server's link.
    hub = yaml.safe_load(children(api, "scale")["ConfigMap/east-config"]["data"]["east-0.yaml"])
    assert "east-fanout-2" in hub["links"]["accept"]


def test_invalid_topology_touches_nothing(api: ApiServer, operator: OperatorProcess) -> None:
    docs = example("exchange-three-servers.yaml", "invalid")
    apply_all(api, docs)
    wait_children(api, "invalid", len(operator_children(docs)))
    before = wait_quiet(api, "invalid")
    with api.store.lock:
        mark = len(api.store.writes)
    broken = docs[3]  # chat3 names a hub that does not exist
    broken["spec"]["peers"] = ["nowhere"]
    api.store.apply(broken)
    expected = [
        str(p).split(": ", 1)[1]
        for p in validate_documents(parse_text(yaml.safe_dump_all(docs), "x")).problems
    ]
    assert expected
    network = wait_for(
        lambda: (
            (n := get(api, "ChatNetwork", "invalid", "exchange"))
            and (c := condition(n, "TopologyValid"))
            and c["status"] == "False"
            and n
        ),
        what="TopologyValid=False",
    )
    valid = condition(network, "TopologyValid")
    assert valid is not None and valid["reason"] == "InvalidTopology"
    assert valid["message"] == "; ".join(expected)
    assert condition(network, "Ready")["status"] == "False"  # type: ignore[index]
    # The servers' statuses are written after the network's, one by one.
    server = wait_for(
        lambda: (
            (s := get(api, "ChatServer", "invalid", "chat3"))
            and s["status"]["observedGeneration"] == s["metadata"]["generation"]
            and s
        ),
        what="chat3's status observed its new generation",
    )
    assert condition(server, "TopologyValid")["status"] == "False"  # type: ignore[index]
    warnings = wait_for(lambda: events(api, "invalid", "InvalidTopology"), what="Warning Event")
    assert all(e["type"] == "Warning" for e in warnings)
    assert expected[0] in warnings[0]["message"]
    assert wait_quiet(api, "invalid") == before
    assert child_writes(api, "invalid", mark) == []
    # Fixing it applies again.
    broken["spec"]["peers"] = []
    api.store.apply(broken)
    wait_for(
        lambda: (
            condition(get(api, "ChatNetwork", "invalid", "exchange"), "TopologyValid")[  # type: ignore[index]
                "status"
            ]
            == "True"
        ),
        what="TopologyValid=True",
    )


def test_delete_releases_finalizers_and_children(api: ApiServer, operator: OperatorProcess) -> None:
    docs = example("quickstart.yaml", "delete")
    apply_all(api, docs)
    wait_children(api, "delete", len(operator_children(docs)))
    wait_for(
        lambda: (
            "chatnet.io/finalizer"
            in (get(api, "ChatServer", "delete", "east-fanout") or {})
            .get("metadata", {})
            .get("finalizers", [])
        ),
        what="finalizer",
    )
    server_type = api.store.type_for(CHATNET, "ChatServer")
    api.store.delete(server_type, "delete", "east-fanout")
    wait_for(lambda: get(api, "ChatServer", "delete", "east-fanout") is None, what="server gone")
    left = children(api, "delete")
    assert not [k for k in left if k.split("/")[1].startswith("east-fanout")]

    def hub_accepts() -> list[str]:
        cm = children(api, "delete")["ConfigMap/east-config"]
        accept: list[str] = yaml.safe_load(cm["data"]["east-0.yaml"])["links"]["accept"]
        return accept

    # The rest of the network is re-planned without it.
    wait_for(lambda: hub_accepts() == ["west"], what="east accepts only west")
    api.store.delete(api.store.type_for(CHATNET, "ChatNetwork"), "delete", "acme")
    # The delete handler removes the network's children, then re-syncs each of
    # its servers before kopf drops the finalizer: on a loaded two-core runner
    # that once took longer than the default 15 s.
    wait_for(
        lambda: get(api, "ChatNetwork", "delete", "acme") is None, timeout=45, what="network gone"
    )
    left = children(api, "delete")
    assert "Service/acme-chat" not in left and "Secret/acme-links" not in left
    assert "PodDisruptionBudget/acme-hubs" not in left
    # The servers' children stay with their servers, which now report the network missing.
    assert "StatefulSet/east" in left
    server = wait_for(
        lambda: (
            (s := get(api, "ChatServer", "delete", "east"))
            and (c := condition(s, "TopologyValid"))
            and c["status"] == "False"
            and s
        ),
        what="east reports its network missing",
    )
    valid = condition(server, "TopologyValid")
    assert valid is not None and "ChatNetwork/acme: not found" in valid["message"]


def test_a_hubs_own_budget_from_before_is_removed(
    api: ApiServer, operator: OperatorProcess
) -> None:
    """A per-hub PodDisruptionBudget (earlier versions made one) beside NAME-hubs would make
    the eviction API refuse to evict that hub: the operator deletes it, never a stranger's."""
    docs = example("quickstart.yaml", "retire")
    apply_all(api, docs)
    found = wait_children(api, "retire", len(operator_children(docs)))
    assert "PodDisruptionBudget/acme-hubs" in found and "PodDisruptionBudget/east" not in found
    east = get(api, "ChatServer", "retire", "east")
    assert east is not None
    old = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"chatnet.io/server": "east"}}},
    }
    owner = {
        "apiVersion": CHATNET,
        "kind": "ChatServer",
        "name": "east",
        "uid": east["metadata"]["uid"],
        "controller": True,
    }
    api.store.apply(
        {**old, "metadata": {"name": "east", "namespace": "retire", "ownerReferences": [owner]}}
    )
    api.store.apply({**old, "metadata": {"name": "west", "namespace": "retire"}})
    wait_for(
        lambda: "PodDisruptionBudget/east" not in children(api, "retire"),
        what="the hub's own budget removed",
    )
    assert "PodDisruptionBudget/west" in children(api, "retire"), "not the operator's: kept"


def _start_hubs(tmp: Path) -> tuple[NodeProcess, NodeProcess]:
    east = make_node(
        tmp,
        "east",
        serverId=10,
        limits={"maxClients": 50},
        links={"role": "hub", "secret": "s3cret", "accept": ["west"]},
    )
    west = make_node(
        tmp,
        "west",
        serverId=11,
        limits={"maxClients": 50},
        links={
            "role": "hub",
            "secret": "s3cret",
            "accept": ["east"],
            "dial": [{"name": "east", "serverId": 10, "host": "127.0.0.1", "port": east.ws_port}],
        },
    )
    east.start()
    try:
        west.start()
    except Exception:
        east.stop()
        raise
    return east, west


NETWORK = """
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: acme, namespace: status}
spec: {displayName: AcmeNet}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: east, namespace: status}
spec: {network: acme, role: hub, serverId: 10, maxClients: 50, peers: [west]}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: west, namespace: status}
spec: {network: acme, role: hub, serverId: 11, maxClients: 50}
"""


def test_status_aggregates_from_real_nodes(
    api: ApiServer, operator: OperatorProcess, status_urls: Path, tmp_path: Path
) -> None:
    east, west = _start_hubs(tmp_path)
    try:
        status_urls.write_text(json.dumps({"east": east.admin_url, "west": west.admin_url}))
        apply_all(api, list(yaml.safe_load_all(NETWORK)))

        def network_ready() -> Obj | None:
            n = get(api, "ChatNetwork", "status", "acme")
            c = condition(n, "Ready")
            return n if c and c["status"] == "True" else None

        network = wait_for(network_ready, what="network Ready from real nodes")
        assert network["status"]["servers"] == "2/2"
        assert network["status"]["links"] == "1/1"
        assert network["status"]["capacity"] == 100
        client = LineClient.tcp(east.irc_port, timeout=5).register("alice")
        try:
            wait_for(
                lambda: (
                    get(api, "ChatNetwork", "status", "acme")["status"]["clients"]  # type: ignore[index]
                    == "1/100"
                ),
                what="a client counted",
            )
            server = get(api, "ChatServer", "status", "east")
            assert server is not None
            assert server["status"]["clients"] == "1/50"
            assert server["status"]["replicas"] == 1 and server["status"]["readyReplicas"] == 1
            assert condition(server, "Ready")["status"] == "True"  # type: ignore[index]
            assert events(api, "status", "Ready")
            west.stop()
            degraded = wait_for(
                lambda: (
                    (n := get(api, "ChatNetwork", "status", "acme"))
                    and (c := condition(n, "Degraded"))
                    and c["status"] == "True"
                    and n
                ),
                what="Degraded after a node stops",
            )
            assert degraded["status"]["servers"] == "1/2"
            assert "west" in condition(degraded, "Degraded")["message"]  # type: ignore[index]
            wait_for(lambda: events(api, "status", "Degraded"), what="Degraded event")
            wait_for(lambda: events(api, "status", "NotReady"), what="NotReady event")
        finally:
            client.close()
    finally:
        west.stop()
        east.stop()
        status_urls.write_text("{}")


def test_restart_changes_no_child(
    api: ApiServer, operator: OperatorProcess, tmp_path: Path, status_urls: Path
) -> None:
    docs = example("quickstart.yaml", "restart")
    apply_all(api, docs)
    wait_children(api, "restart", len(operator_children(docs)))
    before = wait_quiet(api, "restart")
    operator.stop()
    with api.store.lock:
        mark = len(api.store.writes)
    # The other entry point: kopf's own CLI with the package as its module.
    again = OperatorProcess(api, tmp_path, status_urls, command="kopf").start()
    try:
        wait_for(lambda: "Resuming is processed" in again.log(), what=f"resume: {again.log()}")
        wait_quiet(api, "restart")
        assert versions(api, "restart") == before
        assert child_writes(api, "restart", mark) == []
        with urllib.request.urlopen(f"http://127.0.0.1:{again.liveness_port}/healthz") as r:
            assert r.status == 200
    finally:
        again.stop()
        operator.start()


def test_the_cloak_secret_is_created_once_and_kept(
    api: ApiServer, operator: OperatorProcess
) -> None:
    docs = example("operators-cloaks.yaml", "cloaks")
    apply_all(api, [d for d in docs if d["kind"] != "Secret"])
    found = wait_children(api, "cloaks", len(operator_children(docs)))
    secret = found["Secret/staffed-cloak"]
    value = secret["data"]["secret"]
    assert len(base64.b64decode(value)) >= 32
    version = secret["metadata"]["resourceVersion"]
    # A change that re-renders every server keeps the cloak secret as it is.
    network = get(api, "ChatNetwork", "cloaks", "staffed")
    assert network is not None
    network["spec"]["motd"] = "changed"
    api.store.apply(network)
    # Both servers' configs carry the motd; wait for the second write too, so
    # the quiet window below starts after the re-render, not in the middle of it.
    wait_for(
        lambda: all(
            "changed" in str(children(api, "cloaks")[f"ConfigMap/{name}-config"]["data"])
            for name in ("north", "south")
        ),
        what="the new motd on both servers",
    )
    wait_quiet(api, "cloaks")
    kept = children(api, "cloaks")["Secret/staffed-cloak"]
    assert kept["data"]["secret"] == value
    assert kept["metadata"]["resourceVersion"] == version
    created = [e for e in events(api, "cloaks", "Created") if "staffed-cloak" in e["message"]]
    assert len(created) == 1


def test_an_invalid_accounts_block_sets_topology_invalid(
    api: ApiServer, operator: OperatorProcess
) -> None:
    docs = example("operators-cloaks.yaml", "badaccounts")
    docs = [d for d in docs if d["kind"] != "Secret"]
    docs[0]["spec"]["accounts"]["nickGraceSeconds"] = 7200
    docs[0]["spec"]["operators"].append({"name": "bob"})
    apply_all(api, docs)
    network = wait_for(
        lambda: (
            (n := get(api, "ChatNetwork", "badaccounts", "staffed"))
            and (c := condition(n, "TopologyValid"))
            and c["status"] == "False"
            and n
        ),
        what="TopologyValid=False",
    )
    valid = condition(network, "TopologyValid")
    assert valid is not None and valid["reason"] == "InvalidTopology"
    assert valid["message"] == (
        "ChatNetwork/staffed: spec.accounts.nickGraceSeconds: Input should be less than or "
        "equal to 3600; fix: correct the value; "
        "ChatNetwork/staffed: spec.operators[1].passwordSecretRef: Field required; "
        "fix: add this field"
    )
    assert children(api, "badaccounts") == {}


def test_a_missing_secret_is_named_in_a_condition_until_it_exists(
    api: ApiServer, operator: OperatorProcess
) -> None:
    docs = example("operators-cloaks.yaml", "secrets")
    opers = next(d for d in docs if d["kind"] == "Secret")
    apply_all(api, [d for d in docs if d["kind"] != "Secret"])
    network = wait_for(
        lambda: (
            (n := get(api, "ChatNetwork", "secrets", "staffed"))
            and (c := condition(n, "SecretsFound"))
            and c["status"] == "False"
            and n
        ),
        what="SecretsFound=False",
    )
    found = condition(network, "SecretsFound")
    assert found is not None and found["reason"] == "SecretMissing"
    assert found["message"] == (
        "spec.operators[0].passwordSecretRef: Secret/staff-opers not found in namespace "
        "secrets; fix: create it with key alice"
    )
    warned = wait_for(lambda: events(api, "secrets", "SecretMissing"), what="a Warning Event")
    assert warned[0]["type"] == "Warning" and "staff-opers" in warned[0]["message"]
    # The children are applied anyway: the pods start once the Secret exists.
    wait_children(api, "secrets", len(operator_children(docs)))

    # A Secret without the key the spec names is still a problem, with its own fix.
    api.store.apply({**opers, "stringData": {"bob": "x"}})
    wait_for(
        lambda: (
            "has no key alice"
            in str(condition(get(api, "ChatNetwork", "secrets", "staffed"), "SecretsFound"))
        ),
        what="the missing key named",
    )
    api.store.apply(opers)
    wait_for(
        lambda: (
            (c := condition(get(api, "ChatNetwork", "secrets", "staffed"), "SecretsFound"))
            and c["status"] == "True"
        ),
        what="SecretsFound=True",
    )
    # The Normal Event is posted after the status patch: wait for it too.
    wait_for(lambda: events(api, "secrets", "SecretsFound"), what="a SecretsFound Event")
    assert len(events(api, "secrets", "SecretMissing")) == 2


def test_a_cnpg_network_without_cloudnativepg_says_so_and_runs_the_rest(
    api: ApiServer, operator: OperatorProcess
) -> None:
    meta = {"namespace": "nocnpg"}
    docs = [
        {"apiVersion": CHATNET, "kind": "ChatNetwork", "metadata": {"name": "pg", **meta},
         "spec": {"history": {"store": "postgres", "cnpg": {}}}},
        {"apiVersion": CHATNET, "kind": "ChatServer", "metadata": {"name": "solo", **meta},
         "spec": {"network": "pg", "role": "hub", "serverId": 1}},
    ]  # fmt: skip
    apply_all(api, docs)
    network = wait_for(
        lambda: (
            (n := get(api, "ChatNetwork", "nocnpg", "pg"))
            and (c := condition(n, "OptionalKindsAvailable"))
            and c["status"] == "False"
            and n
        ),
        what="OptionalKindsAvailable=False",
    )
    missing = condition(network, "OptionalKindsAvailable")
    assert missing is not None and missing["message"].startswith(
        "not served by this cluster, so not created: "
        "Cluster (postgresql.cnpg.io/v1) for spec.history.cnpg"
    )
    assert wait_for(lambda: events(api, "nocnpg", "KindsMissing"), what="a Warning Event")
    # Everything else is applied: the servers start once CloudNativePG is there.
    made = wait_for(
        lambda: "StatefulSet/solo" in (c := children(api, "nocnpg")) and c, what="the servers"
    )
    env = made["StatefulSet/solo"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "pg-history-app", "key": "uri"} in [
        e.get("valueFrom", {}).get("secretKeyRef") for e in env
    ]
