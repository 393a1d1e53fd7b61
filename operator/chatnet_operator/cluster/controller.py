"""One network's reconcile: read, validate, apply children, probe nodes, write status.

This is the operator's only loop body; kopf handlers (``handlers.py``) decide
when it runs (an object changed, the operator resumed, the re-sync timer
fired) and this module decides what it does. The decisions are the pure
functions of ``reconcile`` and ``observe.status``; here are the API calls, in
an order that keeps the network running:

1. read the ChatNetwork and every ChatServer naming it;
2. validate them together; if invalid, write no child, mark every object
   ``TopologyValid=False`` with the exact problems and warn once (the nodes
   keep running on their last good configuration);
3. apply (server-side, as ``chatnet-operator``) each child that is missing,
   changed or drifted (a second run writes nothing, so an operator restart
   touches no pod), and delete the children it made before and no longer
   wants (a removed Ingress, monitor or route);
4. probe every node's ``/status`` and ``/readyz`` and write the status of
   the network and of each server, only where it changed.

Runs of one network never overlap (a lock per network), because a server's
event and the network's timer may fire at once.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatnet_operator.api.fields import API_VERSION, Condition
from chatnet_operator.api.models import ChatNetworkStatus, ChatServerStatus
from chatnet_operator.api.outcome import Declared
from chatnet_operator.cluster import metrics
from chatnet_operator.cluster.autoscaling import autoscale
from chatnet_operator.cluster.config import OperatorConfig
from chatnet_operator.cluster.discovery import CONDITION as DISCOVERY_CONDITION
from chatnet_operator.cluster.discovery import Discovery, Kind, missing_condition
from chatnet_operator.cluster.kube import ApiError, KubeClient
from chatnet_operator.cluster.linkca import csi_driver_condition, keep_link_ca
from chatnet_operator.cluster.probing import pod_targets, probe_all, read_overrides
from chatnet_operator.cluster.reconcile import (
    PRUNED_KINDS,
    Action,
    child_ref,
    decide,
    declared_from_cluster,
    desired_children,
    generated_secret,
    generated_secrets,
    prune_selector,
    retired_children,
    server_child_refs,
    stale_children,
)
from chatnet_operator.cluster.secretrefs import secret_problems, secret_uses
from chatnet_operator.observe.status import (
    POD_CERTIFICATES,
    Probe,
    find_condition,
    invalid_conditions,
    network_status,
    secrets_condition,
    server_status,
)
from chatnet_operator.plan.desired import NetworkPlan
from chatnet_operator.plan.disruption import backbone_budget_name
from chatnet_operator.plan.linkca import ca_name
from chatnet_operator.plan.netpolicy import API_VERSION as NETPOL_API_VERSION
from chatnet_operator.plan.netpolicy import KIND as NETPOL_KIND
from chatnet_operator.plan.optional import OPTIONAL_KINDS, is_optional
from chatnet_operator.plan.placement import ClusterPlacement, cloak_secret_name
from chatnet_operator.plan.planner import plan_network
from chatnet_operator.plan.render import client_service_name, selector

Obj = dict[str, Any]
#: Post a Kubernetes Event: (object, "Normal" or "Warning", reason, message).
Emit = Callable[[Obj, str, str, str], None]

log = logging.getLogger("chatnet.operator")

_locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
_invalid: set[tuple[str, str]] = set()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SyncResult:
    """What one reconcile did (for logs, metrics and tests)."""

    valid: bool = True
    problems: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    missing_network: bool = False


def _conditions(obj: Obj) -> list[Condition]:
    raw = (obj.get("status") or {}).get("conditions") or []
    out = []
    for item in raw:
        try:
            out.append(Condition.model_validate(item))
        except ValueError:
            continue
    return out


def _with_image(declared: Declared, image: str | None) -> Declared:
    """Use the operator's default node image where the network names none."""
    network = declared.network
    if image is None or network.spec.image is not None:
        return declared
    spec = network.spec.model_copy(update={"image": image})
    return Declared(network.model_copy(update={"spec": spec}), declared.servers)


def _status_dump(status: ChatNetworkStatus | ChatServerStatus) -> Obj:
    dumped: Obj = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped


async def _write_status(kube: KubeClient, obj: Obj, status: Obj) -> bool:
    """Merge-patch the status if any field differs; True when written."""
    old = obj.get("status") or {}
    if all(old.get(k) == v for k, v in status.items()):
        return False
    meta = obj["metadata"]
    try:
        await kube.patch_status(API_VERSION, obj["kind"], meta["namespace"], meta["name"], status)
    except ApiError as exc:
        if exc.status != 404:  # deleted meanwhile: nothing to report on
            raise
    return True


def _transitions(emit: Emit, obj: Obj, before: list[Condition], after: list[Condition]) -> None:
    """Events for the condition changes people page on: Ready and Degraded."""
    kind = obj["kind"]
    old_ready, new_ready = find_condition(before, "Ready"), find_condition(after, "Ready")
    if new_ready and (old_ready is None or old_ready.status != new_ready.status):
        if new_ready.status == "True":
            emit(obj, "Normal", "Ready", f"{kind} is ready: {new_ready.message}")
        elif old_ready is not None and new_ready.reason != "InvalidTopology":
            emit(obj, "Warning", "NotReady", f"{kind} is not ready: {new_ready.message}")
    old_deg, new_deg = find_condition(before, "Degraded"), find_condition(after, "Degraded")
    if new_deg and (old_deg is None or old_deg.status != new_deg.status):
        if new_deg.status == "True":
            emit(obj, "Warning", "Degraded", f"{new_deg.reason}: {new_deg.message}")
        elif old_deg is not None:
            emit(obj, "Normal", "Recovered", "no longer degraded")


async def _report_invalid(
    kube: KubeClient, emit: Emit, network: Obj, servers: list[Obj], problems: list[str]
) -> None:
    now = _now()
    for obj in [network, *servers]:
        if obj["metadata"].get("deletionTimestamp"):
            continue
        before = _conditions(obj)
        previous_valid = find_condition(before, "TopologyValid")
        generation = obj["metadata"].get("generation")
        conditions = invalid_conditions(before, problems, now, generation)
        status: Obj = {
            "observedGeneration": generation,
            "conditions": [c.model_dump(by_alias=True, exclude_none=True) for c in conditions],
        }
        await _write_status(kube, obj, status)
        message = "; ".join(problems)
        # Warn on the transition (or a new message), not on every re-sync.
        if (
            previous_valid is None
            or previous_valid.status != "False"
            or (previous_valid.message != message)
        ):
            emit(
                obj,
                "Warning",
                "InvalidTopology",
                f"nothing applied, running servers keep their last good configuration: {message}",
            )


async def _apply(kube: KubeClient, desired: list[Obj], emit: Emit, network: Obj) -> list[Action]:
    actions = []
    for obj in desired:
        existing = await kube.get(*child_ref(obj))
        action = decide(obj, existing)
        if action is None:
            continue
        try:
            # Server-side apply of the desired object itself (not the merged
            # replacement ``decide`` builds): the server keeps what other
            # writers set and drops what this operator no longer sets.
            await kube.apply(obj)
        except ApiError as exc:
            if exc.status == 404:
                # The kind stopped being served (a CRD removed): ask discovery again.
                await kube.forget_discovery()
            # 422: the API refuses the change (e.g. a StatefulSet's immutable
            # volumeClaimTemplates after history.storageSize changed). Retrying
            # cannot help; say so and keep reconciling the other children.
            if exc.status != 422:
                raise
            metrics.ERRORS.labels(obj["kind"]).inc()
            emit(network, "Warning", "ChildRejected", f"{action.key}: {exc.message}")
            continue
        metrics.CHILD_WRITES.labels(obj["kind"], action.verb).inc()
        log.info("%s %s (%s)", action.verb, action.key, action.why)
        actions.append(action)
    return actions


async def _prune(
    kube: KubeClient, discovery: Discovery, desired: list[Obj], network: Obj, live: dict[str, Obj]
) -> list[str]:
    """Delete the children made before that are no longer desired; their KIND/NAME."""
    meta = network["metadata"]
    owners = {meta["uid"], *(s["metadata"]["uid"] for s in live.values())}
    served, _ = await discovery.resolve(k for k in PRUNED_KINDS if k in OPTIONAL_KINDS)
    deleted = []
    for key in PRUNED_KINDS:
        kind = key[1]
        if key in OPTIONAL_KINDS and key not in served:
            continue  # not served: nothing of it can exist
        version = served.get(key, key[0])
        found = await kube.list(version, kind, meta["namespace"], prune_selector(meta["name"]))
        for obj in stale_children(found, desired, owners):
            name = obj["metadata"]["name"]
            if await kube.delete(version, kind, meta["namespace"], name):
                metrics.CHILD_WRITES.labels(kind, "delete").inc()
                log.info("delete %s/%s (no longer desired)", kind, name)
                deleted.append(f"{kind}/{name}")
    return deleted


def _child_events(emit: Emit, network: Obj, servers: dict[str, Obj], actions: list[Action]) -> None:
    """One Event per owner: which children were created, which updated and why."""
    by_owner: defaultdict[tuple[str, str], list[Action]] = defaultdict(list)
    for action in actions:
        # An unowned child (the CNPG Cluster) is reported on its network.
        refs = action.obj["metadata"].get("ownerReferences")
        owner_key = (refs[0]["kind"], refs[0]["name"]) if refs else ("ChatNetwork", "")
        by_owner[owner_key].append(action)
    for (kind, owner_name), owned in by_owner.items():
        owner = servers[owner_name] if kind == "ChatServer" else network
        created = [a.key for a in owned if a.verb == "create"]
        changed = [f"{a.key} ({a.why})" for a in owned if a.verb == "replace"]
        if created:
            emit(owner, "Normal", "ChildrenCreated", "created " + ", ".join(created))
        if changed:
            emit(owner, "Normal", "ChildrenUpdated", "updated " + ", ".join(changed))


async def _probe(config: OperatorConfig, declared: Declared, plan: NetworkPlan) -> dict[str, Probe]:
    targets = pod_targets(plan, plan.cluster.admin_port, config.cluster_domain)
    missing: dict[str, Probe] = {}
    if config.status_urls is not None:
        # The override file is the whole map: a server it does not name is not
        # running (and is not looked up in a DNS that does not know it).
        overrides = read_overrides(config.status_urls)
        targets = {k: v for k, v in overrides.items() if k in targets}
        missing = {k: Probe() for k in plan.servers if k not in targets}
    probes = await probe_all(targets, config.probe_timeout) | missing
    failed = sum(1 for p in probes.values() if not p.healthy)
    if failed:
        metrics.PROBE_FAILURES.labels(plan.namespace, plan.network).inc(failed)
    return probes


async def sync_network(
    kube: KubeClient, config: OperatorConfig, namespace: str, name: str, emit: Emit
) -> SyncResult:
    """Reconcile one network now (serialised with other runs for the same network)."""
    async with _locks[(namespace, name)]:
        started = time.monotonic()
        try:
            return await _sync(kube, config, namespace, name, emit)
        finally:
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)


async def _sync(
    kube: KubeClient, config: OperatorConfig, namespace: str, name: str, emit: Emit
) -> SyncResult:
    network = await kube.get(API_VERSION, "ChatNetwork", namespace, name)
    all_servers = await kube.list(API_VERSION, "ChatServer", namespace)
    servers = [s for s in all_servers if (s.get("spec") or {}).get("network") == name]
    if network is None or network["metadata"].get("deletionTimestamp"):
        await _report_missing_network(kube, emit, namespace, name, servers)
        return SyncResult(valid=False, missing_network=True)
    declared, problems = declared_from_cluster(network, servers)
    if declared is None:
        _invalid.add((namespace, name))
        metrics.INVALID_NETWORKS.set(len(_invalid))
        await _report_invalid(kube, emit, network, servers, problems)
        return SyncResult(valid=False, problems=problems)
    _invalid.discard((namespace, name))
    metrics.INVALID_NETWORKS.set(len(_invalid))
    live = {s["metadata"]["name"]: s for s in servers if not s["metadata"].get("deletionTimestamp")}
    declared = _with_image(declared, config.node_image)
    plan = plan_network(declared, ClusterPlacement(declared.network, config.cluster_domain))
    await _ensure_generated_secrets(kube, plan, network, emit)
    missing_secrets = await _check_secrets(kube, declared, namespace)
    desired = desired_children(plan, network, live)
    discovery = Discovery(kube)
    desired = await keep_link_ca(kube, discovery, plan, network, live, desired, emit)
    desired, missing_kinds = await _served_only(discovery, desired)
    actions = await _apply(kube, desired, emit, network)
    _child_events(emit, network, live, actions)
    # A NetworkPolicy switched off, an Ingress, route or monitor removed from
    # the spec, a hub's own PodDisruptionBudget once it has NAME-hubs.
    pruned = await _prune(kube, discovery, desired, network, live)
    # Made by versions that labelled it otherwise: found by name (and owner).
    for owner, ref in retired_children(plan):
        if owner in live:
            pruned += await _delete_owned(kube, [ref], live[owner]["metadata"]["uid"])
    if pruned:
        emit(network, "Normal", "ChildrenDeleted", "deleted " + ", ".join(pruned))

    probes = await _probe(config, declared, plan)
    now = _now()
    before = _conditions(network)
    generation = network["metadata"].get("generation")
    status = network_status(plan, probes, (), before, now, generation)
    status.conditions.append(secrets_condition(missing_secrets, before, now, generation))
    kinds_condition = _kinds_condition(missing_kinds, desired, before, now, generation)
    if kinds_condition is not None:
        status.conditions.append(kinds_condition)
    pod_certificates = await csi_driver_condition(kube, plan, before, now, generation)
    if pod_certificates is not None:
        status.conditions.append(pod_certificates)
    await _write_status(kube, network, _status_dump(status))
    changed = (before, status.conditions)
    _problem_events(emit, network, changed, "SecretsFound", ("SecretMissing", "SecretsFound"))
    _problem_events(emit, network, changed, DISCOVERY_CONDITION, ("KindsMissing", "KindsServed"))
    if pod_certificates is not None:  # its Events say its own reason
        reasons = (pod_certificates.reason, pod_certificates.reason)
        _problem_events(emit, network, changed, POD_CERTIFICATES, reasons)
    _transitions(emit, network, before, status.conditions)
    for server_name, obj in live.items():
        before = _conditions(obj)
        found = server_status(
            plan,
            server_name,
            probes,
            selector=",".join(f"{k}={v}" for k, v in selector(name, server_name).items()),
            previous=before,
            now=now,
            generation=obj["metadata"].get("generation"),
            problems=[],
        )
        await _write_status(kube, obj, _status_dump(found))
        _transitions(emit, obj, before, found.conditions)
    await autoscale(kube, emit, declared, probes, live, now)
    return SyncResult(actions=actions)


async def _served_only(discovery: Discovery, desired: list[Obj]) -> tuple[list[Obj], list[Kind]]:
    """The children this cluster can hold (in the version it serves), and the kinds it lacks."""
    wanted = [(o["apiVersion"], o["kind"]) for o in desired if is_optional(o)]
    if not wanted:
        return desired, []
    served, missing = await discovery.resolve(wanted)
    kept = [
        {**obj, "apiVersion": served.get((obj["apiVersion"], obj["kind"]), obj["apiVersion"])}
        for obj in desired
        if (obj["apiVersion"], obj["kind"]) not in missing
    ]
    return kept, missing


def _kinds_condition(
    missing: list[Kind], desired: list[Obj], before: list[Condition], now: str, gen: int | None
) -> Condition | None:
    """``OptionalKindsAvailable`` when the spec asks for an optional kind (or did before)."""
    previous = find_condition(before, DISCOVERY_CONDITION)
    if not missing and previous is None and not any(is_optional(o) for o in desired):
        return None
    return missing_condition(missing, OPTIONAL_KINDS, previous, now, gen)


async def _check_secrets(kube: KubeClient, declared: Declared, namespace: str) -> list[str]:
    """What is wrong with the Secrets the spec names (pods wait for them until fixed)."""
    uses = secret_uses(declared.network)
    # One read per Secret, however many fields name it (operators often share one).
    names = sorted({use.secret for use in uses})
    found = {name: await kube.get("v1", "Secret", namespace, name) for name in names}
    return secret_problems(uses, found, namespace)


def _problem_events(
    emit: Emit,
    network: Obj,
    changed: tuple[list[Condition], list[Condition]],
    kind: str,
    reasons: tuple[str, str],
) -> None:
    """Events for a problem condition (``SecretsFound``, ``OptionalKindsAvailable``,
    ``PodCertificatesAvailable``):
    ``reasons[0]`` (Warning) when it turns False or its message changes, ``reasons[1]``
    (Normal) when it turns True again; nothing at a re-sync that changed nothing."""
    before, after = changed
    old, new = find_condition(before, kind), find_condition(after, kind)
    if new is None or (old is not None and (old.status, old.message) == (new.status, new.message)):
        return
    if new.status == "False":
        emit(network, "Warning", reasons[0], new.message)
    elif old is not None:
        emit(network, "Normal", reasons[1], new.message)


async def _ensure_generated_secrets(
    kube: KubeClient, plan: NetworkPlan, network: Obj, emit: Emit
) -> None:
    """Create each generated Secret (link, cloak) when missing; never touch an existing one."""
    for name, key, what in generated_secrets(plan):
        if await kube.get("v1", "Secret", plan.namespace, name) is not None:
            continue
        wanted = generated_secret(plan, name, key, secrets.token_urlsafe(32), network)
        try:
            await kube.create(wanted)
        except ApiError as exc:
            if exc.status != 409:  # someone (another run) created it meanwhile: keep theirs
                raise
            continue
        emit(network, "Normal", "Created", f"Secret/{name}: {what}")


async def _report_missing_network(
    kube: KubeClient, emit: Emit, namespace: str, name: str, servers: list[Obj]
) -> None:
    """Servers naming a network that is absent (or going) keep running, marked invalid."""
    problem = (
        f"ChatNetwork/{name}: not found in namespace {namespace} (or being deleted); "
        "fix: create the ChatNetwork or correct spec.network"
    )
    live = [s for s in servers if not s["metadata"].get("deletionTimestamp")]
    if live:
        await _report_invalid(kube, emit, live[0], live[1:], [problem])


async def sync_server(
    kube: KubeClient, config: OperatorConfig, server: Obj, emit: Emit
) -> SyncResult:
    """A ChatServer changed: reconcile the network it names."""
    meta = server["metadata"]
    network = (server.get("spec") or {}).get("network", "")
    return await sync_network(kube, config, meta["namespace"], network, emit)


async def delete_network_children(kube: KubeClient, network: Obj) -> list[str]:
    """Remove the network-wide children (client Service, generated link and cloak Secrets).

    Done explicitly, not left to garbage collection, so a deleted network's
    endpoint is gone when its finalizer is released. The servers' children
    stay with their ChatServers (which then report the network missing).
    """
    meta = network["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    refs = [
        ("v1", "Service", namespace, client_service_name(name)),
        ("policy/v1", "PodDisruptionBudget", namespace, backbone_budget_name(name)),
    ]
    refs.append((NETPOL_API_VERSION, NETPOL_KIND, namespace, name))
    spec = network.get("spec") or {}
    if not ((spec.get("links") or {}).get("secretName")):
        refs.append(("v1", "Secret", namespace, f"{name}-links"))
    cloaks = spec.get("cloaks") or {}
    if cloaks.get("enabled", True) and not cloaks.get("secretRef"):
        refs.append(("v1", "Secret", namespace, cloak_secret_name(name)))
    refs.append(("v1", "Secret", namespace, ca_name(name)))  # the operator's own link CA
    # Under the network's lock: a reconcile that read the network before its
    # deletion began must not re-create what is deleted here.
    async with _locks[(namespace, name)]:
        return await _delete_owned(kube, refs, meta["uid"])


async def delete_server_children(kube: KubeClient, server: Obj) -> list[str]:
    """Remove a ChatServer's StatefulSet, PodDisruptionBudget, Service and ConfigMap."""
    meta = server["metadata"]
    network = (server.get("spec") or {}).get("network", "")
    # Under the network's lock: a reconcile that listed this server as live
    # before its deletion began must not re-create what is deleted here.
    async with _locks[(meta["namespace"], network)]:
        return await _delete_owned(
            kube, server_child_refs(meta["namespace"], meta["name"]), meta["uid"]
        )


async def _delete_owned(
    kube: KubeClient, refs: list[tuple[str, str, str, str]], owner_uid: str
) -> list[str]:
    deleted = []
    for ref in refs:
        existing = await kube.get(*ref)
        if existing is None:
            continue
        owners = existing["metadata"].get("ownerReferences") or []
        # Only what this operator made for this owner: never a same-named stranger.
        if not any(o.get("uid") == owner_uid for o in owners):
            continue
        if await kube.delete(*ref):
            metrics.CHILD_WRITES.labels(ref[1], "delete").inc()
            deleted.append(f"{ref[1]}/{ref[3]}")
    return deleted
