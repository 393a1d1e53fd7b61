"""The operator's autoscaler: resize ChatServer sets that have ``spec.autoscale``.

Run at the end of every network re-sync, with the probes just taken.
``observe.scaling.Tracker`` (pure) keeps the samples and decides; this module
applies a decision by writing ``spec.replicas`` (the field the ``scale``
subresource exposes, so ``kubectl get`` and the StatefulSet follow on the
next sync), records why in ``status.autoscale`` and posts a ``ScaledUp`` or
``ScaledDown`` Event. A StatefulSet removes its highest-numbered pods; each
gets SIGTERM and drains (clients told, closed, and reconnected through the
Service to the others) before it exits.

Samples live in this process: after an operator restart (or a leader change)
a whole stabilisation window passes before the next resize.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from chatnet_operator.api.outcome import Declared
from chatnet_operator.cluster.kube import ApiError, KubeClient
from chatnet_operator.observe.scaling import Tracker
from chatnet_operator.observe.status import Probe

Obj = dict[str, Any]
Emit = Callable[[Obj, str, str, str], None]
log = logging.getLogger("chatnet.operator")

_tracker = Tracker()


async def autoscale(
    kube: KubeClient,
    emit: Emit,
    declared: Declared,
    probes: Mapping[str, Probe],
    live: Mapping[str, Obj],
    now: str,
) -> list[str]:
    """Resize the network's autoscaled sets that need it; the ``NAME: old -> new`` done."""
    namespace = declared.network.namespace
    done = []
    keys = set()
    for server in declared.servers:
        key = (namespace, server.name)
        obj = live.get(server.name)
        if obj is None or server.spec.autoscale is None:
            continue
        keys.add(key)
        decision = _tracker.step(key, server, probes, time.monotonic())
        if decision is None:
            continue
        current = server.spec.replicas
        meta = obj["metadata"]
        # Only spec.replicas, and only if nobody changed the object since it was read.
        change = {
            "metadata": {"resourceVersion": meta.get("resourceVersion")},
            "spec": {"replicas": decision.replicas},
        }
        try:
            await kube.patch(obj["apiVersion"], obj["kind"], namespace, meta["name"], change)
        except ApiError as exc:
            # Changed meanwhile (a conflict) or deleted: the next sync decides again.
            log.warning("autoscale %s/%s: not applied: %s", namespace, server.name, exc)
            _tracker.sets.pop(key, None)
            continue
        record = {
            "replicas": decision.replicas,
            "lastScaleTime": now,
            "reason": decision.reason,
        }
        if decision.remove:
            record["emptiest"] = ", ".join(decision.remove)
        try:
            await kube.patch_status(
                obj["apiVersion"], obj["kind"], namespace, meta["name"], {"autoscale": record}
            )
        except ApiError as exc:
            log.warning("autoscale %s/%s: status not written: %s", namespace, meta["name"], exc)
        reason = "ScaledUp" if decision.replicas > current else "ScaledDown"
        emit(obj, "Normal", reason, decision.reason)
        log.info("autoscale %s/%s: %s", namespace, server.name, decision.reason)
        done.append(f"{server.name}: {current} -> {decision.replicas}")
    _tracker.forget(keys | {k for k in _tracker.sets if k[0] != namespace})
    return done
