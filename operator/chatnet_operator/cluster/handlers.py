"""kopf registration: when to reconcile, and kopf's settings. A thin edge.

Every handler ends in ``controller.sync_network`` for the network concerned:
a ChatNetwork's create/update/resume and its re-sync timer, a ChatServer's
create/update/resume (its network is what gets planned). Deletion handlers,
behind the finalizer ``chatnet.io/finalizer``, remove the object's children
and re-plan what remains; they retry a bounded number of times so a broken
API never leaves an object stuck in deletion (owner references let garbage
collection finish the job).

Imported by ``chatnet operator`` and by ``kopf run -m chatnet_operator``
(the package imports this module only when kopf is already loaded).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from typing import Any, cast

import kopf

from chatnet_operator.api.fields import GROUP, VERSION
from chatnet_operator.cluster import metrics
from chatnet_operator.cluster.config import OperatorConfig, peering_priority
from chatnet_operator.cluster.controller import (
    SyncResult,
    delete_network_children,
    delete_server_children,
    sync_network,
    sync_server,
)
from chatnet_operator.cluster.kube import ApiError, KubeClient

Obj = dict[str, Any]

#: Read once at import: kopf needs the timer interval when the decorator runs.
CONFIG = OperatorConfig.from_env()
log = logging.getLogger("chatnet.operator")
NETWORKS = (GROUP, VERSION, "chatnetworks")
SERVERS = (GROUP, VERSION, "chatservers")
FINALIZER = "chatnet.io/finalizer"
#: How long kopf waits before retrying a failed reconcile.
RETRY_DELAY = 5.0


def emit(obj: Obj, kind: str, reason: str, message: str) -> None:
    """Post an Event through kopf's poster (batched, retried, never blocking)."""
    kopf.event(kopf.Body(cast(kopf.RawBody, obj)), type=kind, reason=reason, message=message[:1024])


def configure_peering(settings: kopf.OperatorSettings, env: Mapping[str, str] = os.environ) -> None:
    """Peering name, whether it is mandatory, and this replica's own priority.

    kopf pauses *every* operator when two live peers share a priority
    ("Pausing all operators, including self") and its default priority is 0,
    so with two replicas nothing would be reconciled: each replica takes its
    own (``config.peering_priority``), unless one was given (``--priority``,
    kopf's ``--priority``). Runs as a startup handler, before kopf's peering
    starts, so both entry points get it.
    """
    # (`--standalone` and `--peering` are applied before this runs; kopf pauses
    # every watch when peering is mandatory and its CRD absent, even standalone,
    # so mandatory only when peering is on.)
    if settings.peering.name == "default":
        settings.peering.name = "chatnet"
    settings.peering.mandatory = not settings.peering.standalone
    if settings.peering.standalone:
        return
    if settings.peering.priority == 0:
        settings.peering.priority = peering_priority(env)
    log.info(
        "peering %r: priority %d (the highest live replica acts)",
        settings.peering.name,
        settings.peering.priority,
    )


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    """kopf settings for a long-lived operator, the API client, the metrics port."""
    # Progress and diff-base in annotations, not status: the API server prunes
    # undeclared status fields, and a kopf-owned status key is not in our CRDs.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="chatnet.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="chatnet.io", key="last-handled-configuration"
    )
    # A silent watch must not hang the operator: the server ends it, and the
    # client gives up shortly after if the server does not.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    # A network deleted while its resync timer runs keeps its finalizer until
    # kopf sees the timer has exited: it looks again after this long, not its
    # default 60 s (a deleted network stayed a minute, one delete in three).
    settings.background.cancellation_polling = 1.0
    # Events: only ours (posted explicitly) and warnings from logs, not every log line.
    settings.posting.enabled = True
    settings.posting.level = logging.WARNING
    # Two replicas must never both act: peering is on by default (the Helm
    # chart installs kopf's peering CRDs); `--standalone` turns it off.
    configure_peering(settings)
    # The same credentials kopf finds (service account, else kubeconfig).
    memo.kube = await KubeClient.connect()
    metrics.serve(CONFIG.metrics_port)


@kopf.on.cleanup()
async def close(memo: Any, **_: Any) -> None:
    kube: KubeClient | None = getattr(memo, "kube", None)
    if kube is not None:
        await kube.close()


async def _run(kind: str, call: Any) -> SyncResult:
    try:
        result: SyncResult = await call
    except ApiError as exc:
        metrics.RECONCILES.labels(kind, "error").inc()
        metrics.ERRORS.labels(kind).inc()
        raise kopf.TemporaryError(f"Kubernetes API: {exc}", delay=RETRY_DELAY) from exc
    except Exception:
        metrics.RECONCILES.labels(kind, "error").inc()
        metrics.ERRORS.labels(kind).inc()
        raise
    metrics.RECONCILES.labels(kind, "ok" if result.valid else "invalid").inc()
    return result


@kopf.on.resume(*NETWORKS)
@kopf.on.create(*NETWORKS)
@kopf.on.update(*NETWORKS)
async def network_changed(name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    """Apply the network's children and report its status."""
    await _run("ChatNetwork", sync_network(memo.kube, CONFIG, namespace or "", name, emit))


@kopf.timer(*NETWORKS, interval=CONFIG.sync_interval, initial_delay=CONFIG.sync_interval)
async def network_resync(name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    """Correct drift in children and refresh status from the nodes."""
    await _run("ChatNetwork", sync_network(memo.kube, CONFIG, namespace or "", name, emit))


@kopf.on.resume(*SERVERS)
@kopf.on.create(*SERVERS)
@kopf.on.update(*SERVERS)
async def server_changed(body: kopf.Body, memo: Any, **_: Any) -> None:
    """Re-plan the server's network: its links and other servers' configs may change."""
    server = copy.deepcopy(dict(body))
    await _run("ChatServer", sync_server(memo.kube, CONFIG, server, emit))


@kopf.on.delete(*NETWORKS, retries=3, backoff=2, timeout=60)
async def network_deleted(
    body: kopf.Body, name: str, namespace: str | None, memo: Any, **_: Any
) -> None:
    """Remove the network's endpoint and generated link Secret."""
    network = copy.deepcopy(dict(body))
    deleted = await delete_network_children(memo.kube, network)
    if deleted:
        emit(network, "Normal", "ChildrenDeleted", "deleted " + ", ".join(deleted))
    # Its servers keep running; tell them (and kubectl) that their network is gone.
    await _run("ChatNetwork", sync_network(memo.kube, CONFIG, namespace or "", name, emit))


@kopf.on.delete(*SERVERS, retries=3, backoff=2, timeout=60)
async def server_deleted(body: kopf.Body, memo: Any, **_: Any) -> None:
    """Remove the server's children, then re-plan the rest of its network."""
    server = copy.deepcopy(dict(body))
    deleted = await delete_server_children(memo.kube, server)
    if deleted:
        emit(server, "Normal", "ChildrenDeleted", "deleted " + ", ".join(deleted))
    await _run("ChatServer", sync_server(memo.kube, CONFIG, server, emit))
