"""The reconcile planner: cluster objects in, the writes that make children right out.

Pure functions, no I/O, so every decision the operator makes on a cluster is
unit-tested without a cluster:

* ``declared_from_cluster``: the ChatNetwork and ChatServers read from the
  API, validated with the same rules as ``chatnet validate`` (problems as
  plain messages, since there is no file and line);
* ``desired_children``: the objects ``chatnet render`` prints, with owner
  references (network-wide objects belong to the ChatNetwork, a server's to
  its ChatServer) and a fingerprint annotation of what was applied;
* ``decide``: create, replace or leave alone, given what exists;
* ``stale_children``: what the operator made before and no longer wants
  (an Ingress after ``spec.endpoint.ingress`` was removed), to delete.

Why a fingerprint and a subset comparison, not only one of them: the API
server adds defaults to every object, so "desired equals existing" never
holds; "desired is contained in existing" catches drift (someone edited a
field the operator owns) but not a field the operator stopped setting (a
removed nodeSelector); the fingerprint of the last applied object catches
that. Together: a second run writes nothing, drift and removals are fixed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from chatnet_operator.api.loader import Document
from chatnet_operator.api.outcome import Declared
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.plan.cnpg import API_VERSION as CNPG_API_VERSION
from chatnet_operator.plan.cnpg import KIND as CNPG_KIND
from chatnet_operator.plan.desired import NetworkPlan
from chatnet_operator.plan.disruption import is_backbone
from chatnet_operator.plan.linkca import server_secret_name
from chatnet_operator.plan.optional import OPTIONAL_KINDS
from chatnet_operator.plan.placement import CLOAK_SECRET_KEY
from chatnet_operator.plan.render import LINK_SECRET_KEY, MANAGED_BY, render_network

Obj = dict[str, Any]

#: Annotation on every child: the fingerprint of the object last applied.
APPLIED = "chatnet.io/applied"
#: Children with no owner reference, so deleting the ChatNetwork does not delete
#: them: the CNPG Cluster holds the network's history (and its volumes); it is
#: removed by hand, never by a ``kubectl delete chatnetwork``.
OUTLIVES_THE_NETWORK = {(CNPG_API_VERSION, CNPG_KIND)}
#: Label on every child of a ChatServer (render sets it); absent on network-wide ones.
SERVER_LABEL = "chatnet.io/server"


def _clean_source(obj: Obj) -> Obj:
    """An API object as a manifest: spec and the metadata chatnet reads, no status."""
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "labels", "annotations", "generation")
            if k in meta
        },
        "spec": obj.get("spec") or {},
    }


def declared_from_cluster(network: Obj, servers: list[Obj]) -> tuple[Declared | None, list[str]]:
    """Validate one network and the servers naming it: (declared when valid, problems).

    Servers being deleted are left out: the network is planned without them.
    """
    live = [s for s in servers if not (s.get("metadata") or {}).get("deletionTimestamp")]
    docs = [
        Document(f"{obj.get('kind')}/{obj['metadata']['name']}", 0, _clean_source(obj))
        for obj in [network, *sorted(live, key=lambda s: str(s["metadata"]["name"]))]
    ]
    report = validate_documents(docs)
    problems = [str(dataclasses.replace(p, where="")) for p in report.problems]
    if problems:
        return None, problems
    if len(report.networks) != 1:
        return None, [f"ChatNetwork/{network['metadata']['name']}: cannot be read"]
    return report.networks[0], []


def owner_reference(owner: Obj) -> Obj:
    """A controller owner reference to ``owner`` (garbage collection removes the child)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def fingerprint(obj: Obj) -> str:
    """A stable hash of an object as rendered (before the operator's annotation)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def desired_children(
    plan: NetworkPlan,
    network: Obj,
    servers: dict[str, Obj],
) -> list[Obj]:
    """Every child, owner-referenced and fingerprinted, in the order to apply them.

    ``network`` and ``servers`` (by name) are the API objects, for their UIDs.
    """
    out = []
    for obj in render_network(plan):
        server = obj["metadata"].get("labels", {}).get(SERVER_LABEL)
        owner = servers[server] if server else network
        meta = obj["metadata"]
        if (obj["apiVersion"], obj["kind"]) not in OUTLIVES_THE_NETWORK:
            meta["ownerReferences"] = [owner_reference(owner)]
        meta["annotations"] = {**meta.get("annotations", {}), APPLIED: fingerprint(obj)}
        out.append(obj)
    return out


def contains(have: Any, want: Any) -> bool:
    """Is everything in ``want`` also in ``have`` (dicts by key, lists item by item)?"""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and contains(have[k], v) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(contains(h, w) for h, w in zip(have, want, strict=True))
        )
    return bool(have == want)


# Fields the API server allocates on a Service; a replace must carry them over.
_SERVICE_ALLOCATED = ("clusterIP", "clusterIPs", "healthCheckNodePort", "ipFamilies")


@dataclass(frozen=True)
class Action:
    """One write: create a child, or replace it with ``obj`` (resourceVersion set)."""

    verb: Literal["create", "replace"]
    obj: Obj
    why: str

    @property
    def key(self) -> str:
        return f"{self.obj['kind']}/{self.obj['metadata']['name']}"


def decide(desired: Obj, existing: Obj | None) -> Action | None:
    """What to do about one child; None when it is already right."""
    if existing is None:
        return Action("create", desired, "missing")
    have_meta = existing.get("metadata") or {}
    applied = (have_meta.get("annotations") or {}).get(APPLIED)
    want_fp = desired["metadata"]["annotations"][APPLIED]
    # Data maps are the whole truth: a key the operator dropped must go, so compare exactly.
    data_same = existing.get("data") == desired.get("data")
    if applied == want_fp and contains(existing, desired) and data_same:
        return None
    why = "changed" if applied != want_fp else "drifted"
    obj = json.loads(json.dumps(desired))
    meta = obj["metadata"]
    meta["resourceVersion"] = have_meta.get("resourceVersion")
    # Keep what others put on the object (annotations of other tools, extra labels).
    meta["labels"] = {**(have_meta.get("labels") or {}), **meta.get("labels", {})}
    meta["annotations"] = {**(have_meta.get("annotations") or {}), **meta["annotations"]}
    if obj["kind"] == "Service":
        have_spec = existing.get("spec") or {}
        for key in _SERVICE_ALLOCATED:
            if key in have_spec and key not in obj["spec"]:
                obj["spec"][key] = have_spec[key]
    return Action("replace", obj, why)


#: Every kind the operator renders and may have to remove again, listed (by
#: ``prune_selector``) at each reconcile. Not Secrets: the generated ones are
#: never in the desired list and go with their network. Not the CNPG Cluster:
#: it outlives the network (``OUTLIVES_THE_NETWORK``).
PRUNED_KINDS: tuple[tuple[str, str], ...] = (
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("networking.k8s.io/v1", "Ingress"),
    *(kind for kind in OPTIONAL_KINDS if kind not in OUTLIVES_THE_NETWORK),
)


def prune_selector(network: str) -> str:
    """The label selector of every child the operator renders for ``network``."""
    return f"app.kubernetes.io/managed-by={MANAGED_BY},chatnet.io/network={network}"


def stale_children(existing: list[Obj], desired: list[Obj], owners: set[str]) -> list[Obj]:
    """Those of ``existing`` the operator made and no longer wants: delete them.

    Made by the operator: a controller owner reference to one of ``owners``
    (the UIDs of the ChatNetwork and its live ChatServers); an object
    carrying the labels but owned by nobody here (copied by hand, or a
    ChatServer being deleted, whose children its own deletion removes) is
    left alone. No longer wanted: no desired child of that kind and name.
    """
    wanted = {(o["kind"], o["metadata"]["name"]) for o in desired}
    out = []
    for obj in existing:
        meta = obj.get("metadata") or {}
        if (obj.get("kind"), meta.get("name")) in wanted or meta.get("deletionTimestamp"):
            continue
        refs = meta.get("ownerReferences") or []
        if any(r.get("controller") and r.get("uid") in owners for r in refs):
            out.append(obj)
    return out


def child_ref(obj: Obj) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name) of an object."""
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"]


def children_of_server(desired: list[Obj], server: str) -> list[Obj]:
    """The desired children that belong to one ChatServer."""
    return [o for o in desired if o["metadata"].get("labels", {}).get(SERVER_LABEL) == server]


def server_child_refs(namespace: str, server: str) -> list[tuple[str, str, str, str]]:
    """Every child a ChatServer may have (for deletion, without rendering)."""
    return [
        ("apps/v1", "StatefulSet", namespace, server),
        ("policy/v1", "PodDisruptionBudget", namespace, server),
        ("v1", "Service", namespace, server),
        ("v1", "ConfigMap", namespace, f"{server}-config"),
        ("v1", "Secret", namespace, server_secret_name(server)),  # the operator's own link CA
    ]


def retired_children(plan: NetworkPlan) -> list[tuple[str, tuple[str, str, str, str]]]:
    """(owning ChatServer, child) of what earlier versions made and this one must remove.

    A hub's own PodDisruptionBudget (before the network-wide ``NAME-hubs``
    one, or from when it was a leaf): the eviction API refuses to evict a pod
    two budgets select, so it must go.
    """
    return [
        (s.name, ("policy/v1", "PodDisruptionBudget", plan.namespace, s.name))
        for s in plan.sets
        if is_backbone(s)
    ]


def generated_secrets(plan: NetworkPlan) -> list[tuple[str, str, str]]:
    """(name, key, what for) of every Secret the operator makes once for a network.

    The link secret ``NETWORK-links`` (unless ``spec.links.secretName`` names
    one) and the cloak secret ``NETWORK-cloak`` (unless ``cloaks.secretRef``
    does). Never in ``chatnet render`` output (a render prints no secret and
    stays reproducible) and never replaced: a new link secret would split the
    network until every pod restarted; a new cloak secret would change every
    user's cloak and void every ban on one.
    """
    out = []
    if plan.cluster.link_secret_generated:
        out.append((plan.cluster.link_secret, LINK_SECRET_KEY, "link secret"))
    if plan.cluster.cloak_secret_generated is not None:
        out.append((plan.cluster.cloak_secret_generated, CLOAK_SECRET_KEY, "cloak secret"))
    return out


def operator_secret(
    plan: NetworkPlan,
    name: str,
    owner: Obj,
    data: dict[str, bytes],
    secret_type: str = "Opaque",
    labels: dict[str, str] | None = None,
) -> Obj:
    """A Secret the operator makes in the cluster (never rendered): the network's
    labels plus ``labels``, owned by ``owner``, ``data`` base64-encoded."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": plan.namespace,
            "labels": {
                "app.kubernetes.io/name": "chatnet",
                "app.kubernetes.io/instance": plan.network,
                "app.kubernetes.io/managed-by": "chatnet-operator",
                "chatnet.io/network": plan.network,
                **(labels or {}),
            },
            "ownerReferences": [owner_reference(owner)],
        },
        "type": secret_type,
        "data": {k: base64.b64encode(v).decode() for k, v in sorted(data.items())},
    }


def generated_secret(plan: NetworkPlan, name: str, key: str, value: str, network: Obj) -> Obj:
    """One Secret of ``generated_secrets`` holding ``value``, owned by the ChatNetwork."""
    return operator_secret(plan, name, network, {key: value.encode()})


def cloak_secret(plan: NetworkPlan, value: str, network: Obj) -> Obj | None:
    """The generated cloak Secret holding ``value``; None when the network names its own."""
    name = plan.cluster.cloak_secret_generated
    if name is None:
        return None
    return generated_secret(plan, name, CLOAK_SECRET_KEY, value, network)


def link_secret(plan: NetworkPlan, value: str, network: Obj) -> Obj | None:
    """The generated link Secret holding ``value``; None when the network names its own."""
    if not plan.cluster.link_secret_generated:
        return None
    return generated_secret(plan, plan.cluster.link_secret, LINK_SECRET_KEY, value, network)
