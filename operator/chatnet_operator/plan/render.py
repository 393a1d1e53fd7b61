"""Turn a network plan into the Kubernetes objects the operator creates.

``chatnet render`` prints these and the operator applies them, so both go
through this one function. Objects per network: the client Service, the
NetworkPolicy (``plan/netpolicy.py``) and one PodDisruptionBudget over all
its hubs; per ChatServer: a ConfigMap with the node configuration of every
replica, a headless Service for links, a StatefulSet (its pod template
finished by ``podspec``), and for a leaf set its own PodDisruptionBudget
(``disruption`` says why hubs share one). With link TLS, the network CA's
cert-manager objects and a link ``Certificate`` per ChatServer, or with
``links.podCertificates`` a csi-driver volume giving each pod its own
(``plan/linkca.py``). Owner references are added by the operator (they need
the owner's UID, which a rendered file cannot know).

Configuration changes reach running pods without a restart: the ConfigMap is
mounted as a volume, the kubelet swaps the files in place and the node
reloads them; so the pod template deliberately carries no config checksum.

Reproducible: the same input gives the same output byte for byte. No Secret
value is ever rendered: the pods mount the link Secret by name (the one
``spec.links.secretName`` names, or ``NETWORK-links``, which the operator
generates in the cluster once and keeps, like the cloak Secret). Objects
carry no namespace when the manifests name none (``plan.object_namespace``).

Render reads the plan alone (``plan.desired``), never the API objects: what
runs is what was planned (import-linter's ``render-reads-the-plan`` contract
keeps ``chatnet_operator.api`` out of this module).
"""

from __future__ import annotations

from typing import Any

import yaml

import chatnet_node
from chatnet_node.config import dump_config
from chatnet_operator.plan.cnpg import cnpg_cluster
from chatnet_operator.plan.desired import (
    ClusterPlan,
    HistoryStore,
    LinkTls,
    NetworkPlan,
    Role,
    ServerSetPlan,
)
from chatnet_operator.plan.disruption import backbone_budget, has_backbone, is_backbone
from chatnet_operator.plan.exposure import expose, proxy_container_ports
from chatnet_operator.plan.linkca import CSI_DRIVER, link_ca_objects, pod_certificate_volume
from chatnet_operator.plan.netpolicy import network_policy
from chatnet_operator.plan.optional import endpoint_objects, monitoring_objects
from chatnet_operator.plan.placement import LINK_TLS_DIR, SECRETS_DIR
from chatnet_operator.plan.podspec import app_version, finish_template

DEFAULT_IMAGE = "ghcr.io/chatnet/chatnet:0.1.0"
CONFIG_DIR = "/etc/chatnet/config"
LINK_SECRET_KEY = "secret"
MANAGED_BY = "chatnet-operator"
_RUN_AS = 10001
PRE_STOP_SECONDS = 5  # about two readiness periods: endpoints drop the pod first
#: The oldest Kubernetes the rendered objects run on: ``lifecycle.preStop.sleep``
#: is on by default from 1.30 (beta; alpha and off in 1.29, GA in 1.34). The
#: chart's ``kubeVersion`` and docs/operator.md ("Kubernetes versions") agree.
MIN_KUBERNETES = "1.30"

Obj = dict[str, Any]


def _labels(network: str, server: ServerSetPlan | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": "chatnet",
        "app.kubernetes.io/instance": network,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "chatnet.io/network": network,
    }
    if server is not None:
        labels |= {
            "app.kubernetes.io/component": server.role.value,
            "chatnet.io/server": server.name,
            "chatnet.io/role": server.role.value,
            "chatnet.io/serves-clients": "true" if server.serves_clients else "false",
        }
    return labels


def selector(network: str, server: str) -> dict[str, str]:
    """Labels that select the pods of one ChatServer (the scale subresource's selector)."""
    return {"chatnet.io/network": network, "chatnet.io/server": server}


def _meta(name: str, namespace: str | None, labels: dict[str, str]) -> Obj:
    if namespace is None:
        return {"name": name, "labels": labels}
    return {"name": name, "namespace": namespace, "labels": labels}


def client_service_name(network: str) -> str:
    """The network endpoint's Service; ``-chat`` keeps it apart from servers' headless ones."""
    return f"{network}-chat"


def client_service(plan: NetworkPlan) -> Obj:
    """The network endpoint: WebSocket and IRC over every server that serves clients."""
    endpoint = plan.cluster.endpoint
    ports: list[Obj] = [
        {"name": "websocket", "port": endpoint.websocket_port, "targetPort": "websocket"},
        {"name": "irc", "port": endpoint.irc_port, "targetPort": "irc"},
    ]
    if endpoint.irc_tls_port is not None:
        ports.append({"name": "irc-tls", "port": endpoint.irc_tls_port, "targetPort": "irc-tls"})
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            client_service_name(plan.network), plan.object_namespace, _labels(plan.network)
        ),
        "spec": {
            "type": endpoint.service_type.value,
            "selector": {
                "chatnet.io/network": plan.network,
                "chatnet.io/serves-clients": "true",
            },
            "ports": [{**p, "protocol": "TCP"} for p in ports],
        },
    }
    return expose(service, endpoint.exposure)


def config_map(plan: NetworkPlan, server: ServerSetPlan) -> Obj:
    """Node configuration of every replica, keyed by pod name (``NAME-ORDINAL.yaml``)."""
    data: dict[str, str] = {}
    for name in server.members:
        member = plan.servers[name]
        pod = f"{server.name}-{member.ordinal}"
        data[f"{pod}.yaml"] = dump_config(member.node)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(
            f"{server.name}-config", plan.object_namespace, _labels(plan.network, server)
        ),
        "data": data,
    }


def headless_service(plan: NetworkPlan, server: ServerSetPlan) -> Obj:
    """Stable DNS names for the pods of one ChatServer, for links between servers."""
    cluster = plan.cluster
    port = cluster.endpoint.websocket_port
    ports = [{"name": "websocket", "port": port, "targetPort": "websocket", "protocol": "TCP"}]
    if cluster.link_tls != LinkTls.OFF:
        ports.append(
            {
                "name": "link-tls",
                "port": cluster.link_tls_port,
                "targetPort": "link-tls",
                "protocol": "TCP",
            }
        )
    # The operator reads /status through this Service (pod DNS names).
    ports.append(_admin_port(cluster, "port"))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(server.name, plan.object_namespace, _labels(plan.network, server)),
        "spec": {
            "clusterIP": "None",
            # Links must reach a server that is full (not ready for new clients).
            "publishNotReadyAddresses": True,
            "selector": selector(plan.network, server.name),
            "ports": ports,
        },
    }


def _admin_port(cluster: ClusterPlan, key: str) -> Obj:
    """The admin port entry of a Service (``key`` "port") or a container ("containerPort")."""
    out: Obj = {"name": "admin", key: cluster.admin_port, "protocol": "TCP"}
    if key == "port":
        out["targetPort"] = "admin"
    return out


def _container(cluster: ClusterPlan, server: ServerSetPlan) -> Obj:
    endpoint = cluster.endpoint
    ports = [
        {"name": "websocket", "containerPort": endpoint.websocket_port, "protocol": "TCP"},
        {"name": "irc", "containerPort": endpoint.irc_port, "protocol": "TCP"},
        *proxy_container_ports(endpoint.exposure),
        _admin_port(cluster, "containerPort"),
    ]
    mounts = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "link-secret", "mountPath": "/etc/chatnet/link", "readOnly": True},
        {"name": "data", "mountPath": "/var/lib/chatnet"},
    ]
    if cluster.link_tls != LinkTls.OFF:
        ports.append(
            {"name": "link-tls", "containerPort": cluster.link_tls_port, "protocol": "TCP"}
        )
    if _link_tls_volume(cluster, server) is not None:
        mounts.append({"name": "link-tls", "mountPath": str(LINK_TLS_DIR), "readOnly": True})
    if endpoint.irc_tls_port is not None:
        ports.append({"name": "irc-tls", "containerPort": endpoint.irc_tls_port, "protocol": "TCP"})
        mounts.append({"name": "tls", "mountPath": "/etc/chatnet/tls", "readOnly": True})
    for i, name in enumerate(cluster.mounted_secrets):
        mounts.append(
            {"name": f"secret-{i}", "mountPath": str(SECRETS_DIR / name), "readOnly": True}
        )
    env: list[Obj] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    if cluster.history_store == HistoryStore.POSTGRES and cluster.postgres_secret is not None:
        env.append(
            {
                "name": "CHATNET_HISTORY_DSN",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": cluster.postgres_secret,
                        "key": cluster.postgres_secret_key,
                    }
                },
            }
        )
    # A control server serves no clients, so "ready for clients" never applies to it.
    ready_path = "/healthz" if server.role == Role.CONTROL else "/readyz"
    container: Obj = {
        "name": "node",
        "image": cluster.image or DEFAULT_IMAGE,
        "command": ["chatnet-node", "--config", f"{CONFIG_DIR}/$(POD_NAME).yaml"],
        "env": env,
        "ports": ports,
        "readinessProbe": {
            "httpGet": {"path": ready_path, "port": "admin"},
            "periodSeconds": 5,
            "failureThreshold": 1,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "admin"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "volumeMounts": mounts,
        # A rolling restart or scale-down: wait until the Services stopped
        # sending new clients here, then SIGTERM makes the node drain (its
        # clients reconnect elsewhere and catch up from history).
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if server.resources is not None:
        container["resources"] = server.resources
    return container


def scrape_annotations(cluster: ClusterPlan) -> dict[str, str]:
    """The common Prometheus discovery annotations: metrics on the admin port."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(cluster.admin_port),
        "prometheus.io/path": "/metrics",
    }


def _link_tls_secret(cluster: ClusterPlan, server: ServerSetPlan) -> str | None:
    """The link certificate Secret a set's pods mount: its own from the network CA, or the
    shared ``links.tlsSecretName``; None without link TLS (a certificate per pod is
    ``_link_tls_volume``'s)."""
    if cluster.link_tls == LinkTls.OFF:
        return None
    if cluster.link_ca is not None:
        for cert in cluster.link_ca.certificates:
            if cert.server == server.name:
                return cert.secret_name
    return cluster.link_tls_secret


def _link_tls_volume(cluster: ClusterPlan, server: ServerSetPlan) -> Obj | None:
    """The ``link-tls`` volume mounted at ``LINK_TLS_DIR``: the certificate Secret, or each
    pod's own certificate from cert-manager's csi-driver; None without one."""
    ca = cluster.link_ca
    if cluster.link_tls != LinkTls.OFF and ca is not None and ca.per_pod:
        for cert in ca.certificates:
            if cert.server == server.name:
                return pod_certificate_volume(ca, cert, _RUN_AS)
        return None
    secret = _link_tls_secret(cluster, server)
    if secret is None:
        return None
    return {"name": "link-tls", "secret": {"secretName": secret}}


def stateful_set(plan: NetworkPlan, server: ServerSetPlan) -> Obj:
    """The pods of one ChatServer: stable names, so stable server names and IDs."""
    cluster = plan.cluster
    labels = _labels(plan.network, server)
    volumes: list[Obj] = [
        {"name": "config", "configMap": {"name": f"{server.name}-config"}},
        {"name": "link-secret", "secret": {"secretName": cluster.link_secret}},
    ]
    if cluster.endpoint.tls_secret is not None:
        volumes.append({"name": "tls", "secret": {"secretName": cluster.endpoint.tls_secret}})
    link_tls = _link_tls_volume(cluster, server)
    if link_tls is not None:
        volumes.append(link_tls)
    for i, name in enumerate(cluster.mounted_secrets):
        volumes.append({"name": f"secret-{i}", "secret": {"secretName": name}})
    claims: list[Obj] = []
    if cluster.history_store == HistoryStore.SQLITE:
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "labels": labels},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": cluster.storage_size}},
                },
            }
        )
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    node_selector = {}
    if server.zone:
        node_selector["topology.kubernetes.io/zone"] = server.zone
    if server.region:
        node_selector["topology.kubernetes.io/region"] = server.region
    pod_spec: Obj = {
        # Draining moves clients away gracefully; give it time before SIGKILL.
        "terminationGracePeriodSeconds": 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": _RUN_AS,
            "runAsGroup": _RUN_AS,
            "fsGroup": _RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector(plan.network, server.name)},
            }
        ],
        "containers": [_container(cluster, server)],
        "volumes": volumes,
    }
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    spec: Obj = {
        "serviceName": server.name,
        "replicas": server.replicas,
        # Servers are peers, not a sequence: start and stop them all at once.
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector(plan.network, server.name)},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": finish_template(
            plan.network,
            server,
            {
                "metadata": {"labels": dict(labels), "annotations": scrape_annotations(cluster)},
                "spec": pod_spec,
            },
        ),
    }
    if claims:
        spec["volumeClaimTemplates"] = claims
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(server.name, plan.object_namespace, labels),
        "spec": spec,
    }


def disruption_budget(plan: NetworkPlan, server: ServerSetPlan) -> Obj:
    """At most one server of a leaf set down at a time during voluntary disruptions."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(server.name, plan.object_namespace, _labels(plan.network, server)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector(plan.network, server.name)},
        },
    }


def _recommended_labels(objects: list[Obj], version: str) -> None:
    """The recommended app.kubernetes.io labels every object (and pod) lacks, in place.

    Not on a StatefulSet's volumeClaimTemplates: the API refuses any change
    to them, so their labels stay as first rendered.
    """
    extra = {"app.kubernetes.io/version": version, "app.kubernetes.io/part-of": "chatnet"}
    for obj in objects:
        metas = [obj["metadata"]]
        if obj["kind"] == "StatefulSet":
            metas.append(obj["spec"]["template"]["metadata"])
        for meta in metas:
            # A copy: the claim templates may share the dict.
            labels = meta["labels"] = dict(meta.get("labels", {}))
            labels.setdefault("app.kubernetes.io/component", "network")
            for key, value in extra.items():
                labels.setdefault(key, value)


def render_network(plan: NetworkPlan) -> list[Obj]:
    """Every Kubernetes object of one network, in the order to apply them."""
    objects: list[Obj] = [client_service(plan)]
    policy = network_policy(plan, _meta, _labels(plan.network))
    if policy is not None:
        objects.append(policy)
    network_meta = lambda name: _meta(name, plan.object_namespace, _labels(plan.network))  # noqa: E731
    objects += endpoint_objects(plan, client_service_name(plan.network), network_meta)
    sets = {s.name: s for s in plan.sets}

    def link_meta(name: str, server: str | None) -> Obj:
        labels = _labels(plan.network, sets.get(server) if server else None)
        return _meta(name, plan.object_namespace, labels)

    objects += link_ca_objects(plan.cluster.link_ca, plan.network, link_meta)
    database = cnpg_cluster(plan, network_meta)
    if database is not None:
        objects.append(database)  # before the servers, which wait for its app Secret
    for server in plan.sets:
        objects += [
            config_map(plan, server),
            headless_service(plan, server),
            stateful_set(plan, server),
        ]
        if not is_backbone(server):
            objects.append(disruption_budget(plan, server))
    if has_backbone(plan):
        labels = _labels(plan.network) | {"app.kubernetes.io/component": "hub"}
        budget = backbone_budget(plan.network, plan.namespace, labels)
        if plan.object_namespace is None:
            del budget["metadata"]["namespace"]
        objects.append(budget)
    objects += monitoring_objects(plan, network_meta)
    _recommended_labels(
        objects, app_version(plan.cluster.image or DEFAULT_IMAGE, chatnet_node.__version__)
    )
    return objects


def secret_note(plan: NetworkPlan) -> str:
    """A YAML comment saying where the link Secret comes from (render prints no secret)."""
    name = plan.cluster.link_secret
    if plan.cluster.link_secret_generated:
        how = (
            f"the operator generates Secret {name} (key {LINK_SECRET_KEY}) in the cluster "
            "once and keeps it"
        )
    else:
        how = (
            f"create Secret {name} (key {LINK_SECRET_KEY}) yourself, as spec.links.secretName says"
        )
    note = f"# ChatNetwork {plan.network}: link secret: {how}; no secret value is rendered.\n"
    ca = plan.cluster.link_ca
    if ca is not None and ca.per_pod:
        note += (
            f"# ChatNetwork {plan.network}: link certificates: cert-manager's csi-driver "
            f"({CSI_DRIVER}) issues each pod its own from {ca.issuer_kind} {ca.issuer_name}; "
            "the pods wait until cert-manager and its csi-driver are installed.\n"
        )
    elif ca is not None and ca.own_ca:
        note += (
            f"# ChatNetwork {plan.network}: link certificates: cert-manager issues them "
            f"(Issuer {ca.issuer_name} below); without cert-manager the chatnet operator "
            "keeps the CA and the certificate Secrets in the cluster.\n"
        )
    elif ca is not None:
        note += (
            f"# ChatNetwork {plan.network}: link certificates: {ca.issuer_kind} "
            f"{ca.issuer_name} issues them (cert-manager Certificates below).\n"
        )
    return note


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people: no anchors, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(objects: list[Obj]) -> str:
    """A multi-document YAML stream, as ``kubectl apply -f -`` reads it."""
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, explicit_start=True, width=100)
