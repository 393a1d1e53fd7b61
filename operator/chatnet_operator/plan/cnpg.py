"""The CloudNativePG ``Cluster`` that holds a network's shared history.

With ``history.cnpg`` the network's PostgreSQL is run by CloudNativePG, a
well-kept operator that does what chatnet should not do by hand: streaming
replicas, automated failover, backups. chatnet creates the Cluster (or adopts
an existing one) and points every node at its ``NAME-app`` Secret, whose
``uri`` reaches the primary through CNPG's ``NAME-rw`` Service.

With ``synchronous`` (the default) and two or more instances, a commit waits
for one standby (``minSyncReplicas``/``maxSyncReplicas`` 1, which every CNPG
release reads), so a message acknowledged to its sender survives the
primary's loss: CNPG promotes the most advanced standby, which has it.
Reads go to the primary too: CNPG's ``-ro`` replicas may lag, and a client
catching up after a failover must see every acknowledged message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatnet_operator.plan.desired import NetworkPlan

Obj = dict[str, Any]

API_VERSION = "postgresql.cnpg.io/v1"
KIND = "Cluster"
#: The database and its owner; CNPG names its app Secret after the Cluster.
DATABASE = "chatnet"


def cnpg_cluster(plan: NetworkPlan, metadata: Callable[[str], Obj]) -> Obj | None:
    """The Cluster to create, or None (no CNPG, or an adopted Cluster left as it is).

    ``metadata(name)`` is the renderer's metadata for a network-wide object.
    """
    cnpg = plan.cluster.cnpg
    if cnpg is None or not cnpg.create:
        return None
    storage: Obj = {"size": cnpg.storage}
    if cnpg.storage_class is not None:
        storage["storageClass"] = cnpg.storage_class
    spec: Obj = {
        "instances": cnpg.instances,
        "storage": storage,
        "bootstrap": {"initdb": {"database": DATABASE, "owner": DATABASE}},
    }
    if cnpg.synchronous and cnpg.instances >= 2:
        spec["minSyncReplicas"] = 1
        spec["maxSyncReplicas"] = 1
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata(cnpg.cluster_name),
        "spec": spec,
    }
