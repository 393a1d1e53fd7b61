"""Turn a network plan into the Kubernetes objects the operator creates.

``chatnet render`` prints these and the operator applies them, so both go
through this one function. Objects per network: the link Secret and the
client Service; per ChatServer: a ConfigMap with the node configuration of
every replica, a headless Service for links, a StatefulSet, a
PodDisruptionBudget. Owner references are added by the operator (they need
the owner's UID, which a rendered file cannot know).

Configuration changes reach running pods without a restart: the ConfigMap is
mounted as a volume, the kubelet swaps the files in place and the node
reloads them; so the pod template deliberately carries no config checksum.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from chatnet_node.config import dump_config
from chatnet_operator.api.models import ChatServer, HistoryStore, LinkTls, Role
from chatnet_operator.api.validate import Declared
from chatnet_operator.plan.planner import LINK_TLS_DIR, NetworkPlan

DEFAULT_IMAGE = "ghcr.io/chatnet/chatnet:0.1.0"
CONFIG_DIR = "/etc/chatnet/config"
LINK_SECRET_KEY = "secret"
MANAGED_BY = "chatnet-operator"
_RUN_AS = 10001
PRE_STOP_SECONDS = 5  # about two readiness periods: endpoints drop the pod first

Obj = dict[str, Any]


def link_secret_name(declared: Declared) -> str:
    """The Secret holding the shared link secret: declared, or ``NETWORK-links``."""
    return declared.network.spec.links.secret_name or f"{declared.network.name}-links"


def _labels(network: str, server: ChatServer | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": "chatnet",
        "app.kubernetes.io/instance": network,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "chatnet.io/network": network,
    }
    if server is not None:
        labels |= {
            "app.kubernetes.io/component": server.spec.role.value,
            "chatnet.io/server": server.name,
            "chatnet.io/role": server.spec.role.value,
            "chatnet.io/serves-clients": "true" if server.spec.serves_clients else "false",
        }
    return labels


def selector(network: str, server: str) -> dict[str, str]:
    """Labels that select the pods of one ChatServer (the scale subresource's selector)."""
    return {"chatnet.io/network": network, "chatnet.io/server": server}


def _meta(name: str, namespace: str, labels: dict[str, str]) -> Obj:
    return {"name": name, "namespace": namespace, "labels": labels}


def link_secret(declared: Declared, secret_value: str) -> Obj:
    """The network's shared link secret (only when the network does not name its own)."""
    network = declared.network
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(link_secret_name(declared), network.namespace, _labels(network.name)),
        "type": "Opaque",
        "data": {LINK_SECRET_KEY: base64.b64encode(secret_value.encode()).decode()},
    }


def client_service_name(network: str) -> str:
    """The network endpoint's Service; ``-chat`` keeps it apart from servers' headless ones."""
    return f"{network}-chat"


def client_service(declared: Declared) -> Obj:
    """The network endpoint: WebSocket and IRC over every server that serves clients."""
    network = declared.network
    endpoint = network.spec.endpoint
    ports = [
        {"name": "websocket", "port": endpoint.websocket_port, "targetPort": "websocket"},
        {"name": "irc", "port": endpoint.irc_port, "targetPort": "irc"},
    ]
    if endpoint.tls is not None:
        ports.append({"name": "irc-tls", "port": endpoint.irc_tls_port, "targetPort": "irc-tls"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            client_service_name(network.name), network.namespace, _labels(network.name)
        ),
        "spec": {
            "type": endpoint.service_type.value,
            "selector": {
                "chatnet.io/network": network.name,
                "chatnet.io/serves-clients": "true",
            },
            "ports": [{**p, "protocol": "TCP"} for p in ports],
        },
    }


def config_map(plan: NetworkPlan, server: ChatServer) -> Obj:
    """Node configuration of every replica, keyed by pod name (``NAME-ORDINAL.yaml``)."""
    data: dict[str, str] = {}
    for member in plan.servers.values():
        if member.chat_server != server.name:
            continue
        pod = f"{server.name}-{member.ordinal}"
        data[f"{pod}.yaml"] = dump_config(member.node)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(f"{server.name}-config", server.namespace, _labels(plan.network, server)),
        "data": data,
    }


def headless_service(declared: Declared, server: ChatServer) -> Obj:
    """Stable DNS names for the pods of one ChatServer, for links between servers."""
    spec = declared.network.spec
    port = spec.endpoint.websocket_port
    ports = [{"name": "websocket", "port": port, "targetPort": "websocket", "protocol": "TCP"}]
    if spec.links.tls != LinkTls.OFF:
        ports.append(
            {
                "name": "link-tls",
                "port": spec.links.tls_port,
                "targetPort": "link-tls",
                "protocol": "TCP",
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(server.name, server.namespace, _labels(declared.network.name, server)),
        "spec": {
            "clusterIP": "None",
            # Links must reach a server that is full (not ready for new clients).
            "publishNotReadyAddresses": True,
            "selector": selector(declared.network.name, server.name),
            "ports": ports,
        },
    }


def _container(declared: Declared, server: ChatServer) -> Obj:
    spec = declared.network.spec
    endpoint = spec.endpoint
    ports = [
        {"name": "websocket", "containerPort": endpoint.websocket_port, "protocol": "TCP"},
        {"name": "irc", "containerPort": endpoint.irc_port, "protocol": "TCP"},
    ]
    mounts = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "link-secret", "mountPath": "/etc/chatnet/link", "readOnly": True},
        {"name": "data", "mountPath": "/var/lib/chatnet"},
    ]
    if spec.links.tls != LinkTls.OFF:
        ports.append({"name": "link-tls", "containerPort": spec.links.tls_port, "protocol": "TCP"})
    if spec.links.tls_secret_name is not None and spec.links.tls != LinkTls.OFF:
        mounts.append({"name": "link-tls", "mountPath": str(LINK_TLS_DIR), "readOnly": True})
    if endpoint.tls is not None:
        ports.append({"name": "irc-tls", "containerPort": endpoint.irc_tls_port, "protocol": "TCP"})
        mounts.append({"name": "tls", "mountPath": "/etc/chatnet/tls", "readOnly": True})
    env: list[Obj] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    if spec.history.store == HistoryStore.POSTGRES and spec.history.postgres is not None:
        env.append(
            {
                "name": "CHATNET_HISTORY_DSN",
                "valueFrom": {
                    "secretKeyRef": {"name": spec.history.postgres.secret_name, "key": "dsn"}
                },
            }
        )
    # A control server serves no clients, so "ready for clients" never applies to it.
    ready_path = "/healthz" if server.spec.role == Role.CONTROL else "/readyz"
    container: Obj = {
        "name": "node",
        "image": spec.image or DEFAULT_IMAGE,
        "command": ["chatnet-node", "--config", f"{CONFIG_DIR}/$(POD_NAME).yaml"],
        "env": env,
        "ports": ports,
        "readinessProbe": {
            "httpGet": {"path": ready_path, "port": "websocket"},
            "periodSeconds": 5,
            "failureThreshold": 1,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "websocket"},
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
    if server.spec.resources is not None:
        container["resources"] = server.spec.resources.model_dump(exclude_defaults=True)
    return container


def stateful_set(declared: Declared, server: ChatServer) -> Obj:
    """The pods of one ChatServer: stable names, so stable server names and IDs."""
    network = declared.network
    labels = _labels(network.name, server)
    volumes: list[Obj] = [
        {"name": "config", "configMap": {"name": f"{server.name}-config"}},
        {"name": "link-secret", "secret": {"secretName": link_secret_name(declared)}},
    ]
    if network.spec.endpoint.tls is not None:
        volumes.append(
            {"name": "tls", "secret": {"secretName": network.spec.endpoint.tls.secret_name}}
        )
    links = network.spec.links
    if links.tls_secret_name is not None and links.tls != LinkTls.OFF:
        volumes.append({"name": "link-tls", "secret": {"secretName": links.tls_secret_name}})
    claims: list[Obj] = []
    if network.spec.history.store == HistoryStore.SQLITE:
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "labels": labels},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": network.spec.history.storage_size}},
                },
            }
        )
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    node_selector = {}
    if server.spec.zone:
        node_selector["topology.kubernetes.io/zone"] = server.spec.zone
    if server.spec.region:
        node_selector["topology.kubernetes.io/region"] = server.spec.region
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
                "labelSelector": {"matchLabels": selector(network.name, server.name)},
            }
        ],
        "containers": [_container(declared, server)],
        "volumes": volumes,
    }
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    spec: Obj = {
        "serviceName": server.name,
        "replicas": server.spec.replicas,
        # Servers are peers, not a sequence: start and stop them all at once.
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector(network.name, server.name)},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if claims:
        spec["volumeClaimTemplates"] = claims
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(server.name, server.namespace, labels),
        "spec": spec,
    }


def disruption_budget(declared: Declared, server: ChatServer) -> Obj:
    """At most one server of a set down at a time during voluntary disruptions."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(server.name, server.namespace, _labels(declared.network.name, server)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector(declared.network.name, server.name)},
        },
    }


def render_network(declared: Declared, plan: NetworkPlan, secret_value: str) -> list[Obj]:
    """Every Kubernetes object of one network, in the order to apply them."""
    objects: list[Obj] = []
    if declared.network.spec.links.secret_name is None:
        objects.append(link_secret(declared, secret_value))
    objects.append(client_service(declared))
    for server in sorted(declared.servers, key=lambda s: s.spec.server_id):
        objects += [
            config_map(plan, server),
            headless_service(declared, server),
            stateful_set(declared, server),
            disruption_budget(declared, server),
        ]
    return objects


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
