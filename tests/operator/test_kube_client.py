"""The operator's Kubernetes client (kubernetes_asyncio) against the emulated API server.

Over real HTTP with a kubeconfig, as the operator runs: discovery of a kind
installed later, server-side apply as ``chatnet-operator`` (create, merge,
removal of fields it stopped applying, others' fields kept, conflicts),
conditional merge patches, and the errors the controller acts on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatnet_operator.cluster.discovery import Discovery
from chatnet_operator.cluster.kube import FIELD_MANAGER, ApiError, KubeClient
from tests.operator import optional_kinds
from tests.operator.kubeapi import ApiServer

Obj = dict[str, Any]
NS = "client"


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    server = ApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def kube(
    api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[KubeClient]:
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
    client = await KubeClient.connect()
    try:
        yield client
    finally:
        await client.close()


def config_map(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": NS}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


async def test_apply_creates_then_merges_and_drops_what_it_stopped_applying(
    api: ApiServer, kube: KubeClient
) -> None:
    first = config_map("applied", {"a": "1", "b": "2"}, {"team": "chat"})
    created = await kube.apply(first)
    assert created["data"] == {"a": "1", "b": "2"}
    (entry,) = created["metadata"]["managedFields"]
    assert entry["manager"] == FIELD_MANAGER and entry["operation"] == "Apply"
    assert entry["fieldsV1"]["f:data"] == {"f:a": {}, "f:b": {}}
    # Another tool annotates the object (a plain merge patch, not an apply).
    await kube.patch("v1", "ConfigMap", NS, "applied", {"metadata": {"annotations": {"tool": "x"}}})
    # The operator stops applying key b and the label: they go; the annotation stays.
    again = await kube.apply(config_map("applied", {"a": "3"}))
    assert again["data"] == {"a": "3"}
    assert "labels" not in again["metadata"]
    assert again["metadata"]["annotations"] == {"tool": "x"}
    version = again["metadata"]["resourceVersion"]
    # The same apply again changes nothing (no new resourceVersion, no watch event).
    same = await kube.apply(config_map("applied", {"a": "3"}))
    assert same["metadata"]["resourceVersion"] == version


async def test_apply_takes_back_a_field_another_applier_owns(
    api: ApiServer, kube: KubeClient
) -> None:
    await kube.apply(config_map("contested", {"a": "1"}))
    # Someone else applies a different value (kubectl apply --server-side --force-conflicts).
    api.store.server_side_apply(
        api.store.type_for("v1", "ConfigMap"),
        NS,
        "contested",
        config_map("contested", {"a": "edited", "theirs": "y"}),
        "kubectl",
        force=True,
    )
    back = await kube.apply(config_map("contested", {"a": "1"}))
    assert back["data"] == {"a": "1", "theirs": "y"}
    managers = {e["manager"]: e["fieldsV1"] for e in back["metadata"]["managedFields"]}
    assert managers["kubectl"] == {"f:data": {"f:theirs": {}}}
    # Without force a conflicting apply is refused, and nothing changes.
    with pytest.raises(Exception, match="conflicts"):
        api.store.server_side_apply(
            api.store.type_for("v1", "ConfigMap"),
            NS,
            "contested",
            config_map("contested", {"a": "again"}),
            "kubectl",
            force=False,
        )
    found = await kube.get("v1", "ConfigMap", NS, "contested")
    assert found is not None and found["data"]["a"] == "1"


async def test_creating_by_apply_needs_create_permission(api: ApiServer, kube: KubeClient) -> None:
    api.authorize = lambda r: r.verb != "create"
    try:
        with pytest.raises(ApiError) as refused:
            await kube.apply(config_map("forbidden", {"a": "1"}))
        assert refused.value.status == 403
        assert await kube.get("v1", "ConfigMap", NS, "forbidden") is None
        # Updating an existing object by apply needs only patch.
        api.store.apply(config_map("existing", {"a": "1"}))
        updated = await kube.apply(config_map("existing", {"a": "2"}))
        assert updated["data"] == {"a": "2"}
    finally:
        api.authorize = None


async def test_list_delete_and_conditional_patch(api: ApiServer, kube: KubeClient) -> None:
    for name, team in [("one", "chat"), ("two", "chat"), ("three", "other")]:
        await kube.apply(config_map(name, {"k": name}, {"team": team}))
    found = await kube.list("v1", "ConfigMap", NS, "team=chat")
    assert sorted(o["metadata"]["name"] for o in found) == ["one", "two"]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in found)
    assert await kube.delete("v1", "ConfigMap", NS, "two") is True
    assert await kube.delete("v1", "ConfigMap", NS, "two") is False
    one = await kube.get("v1", "ConfigMap", NS, "one")
    assert one is not None
    stale = {"metadata": {"resourceVersion": "1"}, "data": {"k": "late"}}
    with pytest.raises(ApiError) as conflict:
        await kube.patch("v1", "ConfigMap", NS, "one", stale)
    assert conflict.value.status == 409
    fresh = {
        "metadata": {"resourceVersion": one["metadata"]["resourceVersion"]},
        "data": {"k": "x"},
    }
    assert (await kube.patch("v1", "ConfigMap", NS, "one", fresh))["data"] == {"k": "x"}


async def test_discovery_sees_a_crd_installed_later(api: ApiServer, kube: KubeClient) -> None:
    # One Discovery per reconcile, as the controller does: the next one sees the CRD.
    assert await Discovery(kube).version("monitoring.coreos.com/v1", "PodMonitor") is None
    assert await kube.get("monitoring.coreos.com/v1", "PodMonitor", NS, "x") is None
    api.store.add_crd(optional_kinds.crd("monitoring.coreos.com", "PodMonitor"))
    assert await Discovery(kube).version("monitoring.coreos.com/v1", "PodMonitor") == (
        "monitoring.coreos.com/v1"
    )
    assert await kube.list("monitoring.coreos.com/v1", "PodMonitor", NS) == []


async def test_httproute_falls_back_to_v1beta1(api: ApiServer, kube: KubeClient) -> None:
    """An older Gateway API install serves HTTPRoute only as v1beta1: that version is used."""
    crd = optional_kinds.crd("gateway.networking.k8s.io", "HTTPRoute")
    crd["spec"]["versions"][0]["name"] = "v1beta1"
    api.store.add_crd(crd)
    served, missing = await Discovery(kube).resolve(
        [("gateway.networking.k8s.io/v1", "HTTPRoute"), ("cert-manager.io/v1", "Certificate")]
    )
    assert served == {
        ("gateway.networking.k8s.io/v1", "HTTPRoute"): "gateway.networking.k8s.io/v1beta1"
    }
    assert missing == [("cert-manager.io/v1", "Certificate")]


async def test_errors_carry_the_status_and_the_servers_message(kube: KubeClient) -> None:
    with pytest.raises(ApiError) as missing:
        await kube.patch_status("v1", "ConfigMap", NS, "nothing", {"a": 1})
    assert missing.value.status == 404
    with pytest.raises(ApiError) as unknown:
        await kube.list("example.org/v1", "Nothing", NS)
    assert unknown.value.status == 404 and "not served" in unknown.value.message


async def test_no_credentials_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(ApiError, match="no Kubernetes credentials"):
        await KubeClient.connect()
