"""The link CA in the cluster: cert-manager's when installed, else the operator's own Secrets.

``plan.linkca`` renders the network CA and each ChatServer's link
certificate as cert-manager objects. Here, before the children are
applied, the operator decides who keeps them:

- ``spec.links.issuerRef``: always cert-manager (a missing cert-manager is
  reported by ``OptionalKindsAvailable``, like any optional kind);
- cert-manager serves ``Certificate`` and ``Issuer``, and the operator has
  not started a CA of its own: cert-manager, through the rendered objects;
- ``spec.links.podCertificates``: always cert-manager too: each pod's
  certificate comes from cert-manager's csi-driver, which asks a cert-manager
  issuer, so the operator has nothing to stand in with (a missing
  cert-manager is reported by ``OptionalKindsAvailable``, a missing
  csi-driver by ``PodCertificatesAvailable``);
- otherwise the operator: it leaves those objects out and keeps the CA
  Secret and the servers' Secrets itself, with the same names the pods
  mount (``plan.linkpki`` says what they hold, including rotation).

Once the operator keeps a CA it keeps it, even if cert-manager is installed
later: moving to a new CA at once would split the network (delete Secret
``NETWORK-link-ca`` to hand the CA over to cert-manager, which then
re-issues every certificate). The Secrets are written only when their
content must change, so a re-sync writes nothing.

``csi_driver_condition`` says on the ChatNetwork whether the cluster has
cert-manager's csi-driver, which ``podCertificates`` pods wait for.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any

from chatnet_operator.api.fields import Condition
from chatnet_operator.cluster.discovery import Discovery
from chatnet_operator.cluster.kube import ApiError, KubeClient
from chatnet_operator.cluster.reconcile import operator_secret
from chatnet_operator.observe.status import (
    POD_CERTIFICATES,
    find_condition,
    pod_certificates_condition,
)
from chatnet_operator.plan import linkca, linkpki
from chatnet_operator.plan.desired import NetworkPlan

Obj = dict[str, Any]
Emit = Callable[[Obj, str, str, str], None]

#: The CA Secret's label value when the operator made it (not cert-manager).
OPERATOR_MADE = "operator"
#: How long the operator's own CA and certificates live (``plan.linkpki``).
LIFETIMES = linkpki.Lifetimes()
#: Where a cluster lists its CSI drivers (cluster-scoped ``CSIDriver`` objects).
CSI_DRIVER_API = "storage.k8s.io/v1"


def _is_link_ca_object(obj: Obj) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return obj["apiVersion"] == linkca.API_VERSION and linkca.LINK_CA_LABEL in labels


async def keep_link_ca(
    kube: KubeClient,
    discovery: Discovery,
    plan: NetworkPlan,
    network: Obj,
    servers: dict[str, Obj],
    desired: list[Obj],
    emit: Emit,
) -> list[Obj]:
    """The children to apply: without the link CA's cert-manager objects when the
    operator keeps the CA itself (whose Secrets it then writes)."""
    ca = plan.cluster.link_ca
    if ca is None or not ca.own_ca:
        return desired
    existing_ca = await kube.get("v1", "Secret", plan.namespace, ca.ca_secret)
    ours = _label(existing_ca) == OPERATOR_MADE
    if ca.per_pod:
        if not ours:
            return desired  # cert-manager keeps the CA: its chain is rendered
        # A CA the operator keeps (made before cert-manager was installed) stays:
        # cert-manager's CA Issuer signs the pods' certificates with its Secret,
        # so turning podCertificates on does not move a running network to a
        # CA its not-yet-rolled pods do not trust. The operator still renews it,
        # with its own key: a pod trusts only the CA its certificate came with.
        now = datetime.datetime.now(datetime.UTC)
        ca_data = linkpki.ca_data(plan.network, _data(existing_ca), now, LIFETIMES, keep_key=True)
        await _write(
            kube, own_ca_secret(plan, ca.ca_secret, ca_data, network), existing_ca, network, emit
        )
        return [o for o in desired if not _makes_a_ca(o, plan.network)]
    if not ours and existing_ca is None:
        kinds = [(linkca.API_VERSION, linkca.CERTIFICATE), (linkca.API_VERSION, linkca.ISSUER)]
        if not await discovery.missing(kinds):
            return desired  # cert-manager keeps it
    elif not ours:
        return desired  # cert-manager's CA Secret
    now = datetime.datetime.now(datetime.UTC)
    ca_data = linkpki.ca_data(plan.network, _data(existing_ca), now, LIFETIMES)
    ca_secret = own_ca_secret(plan, ca.ca_secret, ca_data, network)
    await _write(kube, ca_secret, existing_ca, network, emit)
    for cert in ca.certificates:
        if cert.server not in servers:
            continue  # going away (its Secret goes with it)
        existing = await kube.get("v1", "Secret", plan.namespace, cert.secret_name)
        data = linkpki.server_data(ca_data, _data(existing), cert.dns_names, now, LIFETIMES)
        secret = own_ca_secret(plan, cert.secret_name, data, servers[cert.server], cert.server)
        await _write(kube, secret, existing, network, emit)
    return [o for o in desired if not _is_link_ca_object(o)]


def _makes_a_ca(obj: Obj, network: str) -> bool:
    """The self-signed Issuer and the CA Certificate of the network's own CA chain
    (not the CA Issuer, which signs with whichever CA its Secret holds)."""
    if not _is_link_ca_object(obj):
        return False
    name: str = obj["metadata"]["name"]
    if obj["kind"] == linkca.CERTIFICATE:
        return name == linkca.ca_name(network)
    return name == linkca.self_signed_name(network)


def own_ca_secrets(plan: NetworkPlan) -> list[tuple[str, str | None]]:
    """(name, ChatServer or None for the CA) of the Secrets the operator keeps when it
    keeps the link CA itself, CA first."""
    ca = plan.cluster.link_ca
    if ca is None or not ca.own_ca or ca.per_pod:
        return []
    return [(ca.ca_secret, None)] + [(c.secret_name, c.server) for c in ca.certificates]


def own_ca_secret(
    plan: NetworkPlan, name: str, data: dict[str, bytes], owner: Obj, server: str | None = None
) -> Obj:
    """One of ``own_ca_secrets`` holding ``data``: the CA owned by the ChatNetwork, a
    server's certificate by its ChatServer (each goes with its owner)."""
    labels = {linkca.LINK_CA_LABEL: OPERATOR_MADE}
    if server is not None:
        labels["chatnet.io/server"] = server
    return operator_secret(plan, name, owner, data, "kubernetes.io/tls", labels)


def _label(secret: Obj | None) -> str | None:
    if secret is None:
        return None
    return ((secret.get("metadata") or {}).get("labels") or {}).get(linkca.LINK_CA_LABEL)


def _data(secret: Obj | None) -> dict[str, bytes] | None:
    if secret is None:
        return None
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


async def _write(
    kube: KubeClient, secret: Obj, existing: Obj | None, network: Obj, emit: Emit
) -> None:
    """Create one Secret, or apply its new content when it differs (a renewal)."""
    name = secret["metadata"]["name"]
    if existing is not None and existing.get("data") == secret["data"]:
        return
    if existing is None:
        try:
            await kube.create(secret)
        except ApiError as exc:
            if exc.status != 409:  # another run made it meanwhile: the next sync looks again
                raise
            return
        emit(network, "Normal", "Created", f"Secret/{name}: link certificate")
        return
    await kube.apply(secret)
    emit(network, "Normal", "Renewed", f"Secret/{name}: link certificate")


async def csi_driver_condition(
    kube: KubeClient, plan: NetworkPlan, before: list[Condition], now: str, gen: int | None
) -> Condition | None:
    """``PodCertificatesAvailable`` when the spec asks for per-pod link certificates (or
    did before): whether cert-manager's csi-driver is installed (its ``CSIDriver``).

    Without it a pod's CSI volume cannot be mounted, and the pod waits in
    ContainerCreating: nothing else would say why.
    """
    ca = plan.cluster.link_ca
    if ca is None or not ca.per_pod:
        if find_condition(before, POD_CERTIFICATES) is None:
            return None
        return pod_certificates_condition(
            True,
            "NotNeeded",
            "spec.links.podCertificates is off: no pod waits for cert-manager's csi-driver",
            before,
            now,
            gen,
        )
    try:
        driver = await kube.get(CSI_DRIVER_API, "CSIDriver", None, linkca.CSI_DRIVER)
    except ApiError as exc:
        if exc.status != 403:
            raise
        return pod_certificates_condition(
            False,
            "CSIDriverUnreadable",
            f"cannot tell whether cert-manager's csi-driver is installed: reading CSIDriver "
            f"{linkca.CSI_DRIVER} was refused ({exc.message}); fix: let the operator get "
            "storage.k8s.io csidrivers (the chart's ClusterRole does)",
            before,
            now,
            gen,
        )
    if driver is None:
        return pod_certificates_condition(
            False,
            "CSIDriverMissing",
            f"CSIDriver {linkca.CSI_DRIVER} not found: with spec.links.podCertificates the "
            "pods wait in ContainerCreating until cert-manager's csi-driver is installed; "
            "fix: install it (helm chart jetstack/cert-manager-csi-driver), or set "
            "podCertificates: false",
            before,
            now,
            gen,
        )
    return pod_certificates_condition(
        True,
        "CSIDriverFound",
        f"CSIDriver {linkca.CSI_DRIVER} is installed: each pod gets its own link certificate",
        before,
        now,
        gen,
    )
