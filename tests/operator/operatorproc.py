"""Run the real operator (kopf's loop) as a subprocess against the emulated API."""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.cluster.linkca import own_ca_secret, own_ca_secrets
from chatnet_operator.cluster.reconcile import generated_secret, generated_secrets
from chatnet_operator.plan.linkca import LINK_CA_LABEL
from chatnet_operator.plan.placement import ClusterPlacement
from chatnet_operator.plan.planner import plan_network
from chatnet_operator.plan.render import render_network
from tests.nodeproc import REPO, free_port, stop_process
from tests.operator.kubeapi import ApiServer, load_yaml_objects
from tests.waiting import Maybe, wait_until

T = TypeVar("T")
Obj = dict[str, Any]
CHATNET = "chatnet.io/v1alpha1"
#: What the operator makes for a network, by (apiVersion, kind).
CHILD_KINDS = [
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("apps/v1", "StatefulSet"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
]


def wait_for(check: Callable[[], Maybe[T]], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll ``check`` every 0.1 s until it returns something truthy (``tests.waiting``)."""
    return wait_until(check, timeout, what, poll=0.1)


def start_api() -> ApiServer:
    """An emulated API server that serves the chatnet CRDs."""
    api = ApiServer(bookmark_interval=2.0).start()
    for path in sorted((REPO / "crds").glob("*.yaml")):
        for crd in load_yaml_objects(path):
            api.store.add_crd(crd)
    return api


@contextlib.contextmanager
def running_api() -> Iterator[ApiServer]:
    """``start_api``, stopped on the way out (a module fixture's body)."""
    api = start_api()
    try:
        yield api
    finally:
        api.stop()


@contextlib.contextmanager
def running_operator(
    api: ApiServer, tmp: Path, status_urls: Path | None = None
) -> Iterator[OperatorProcess]:
    """The real operator against ``api``, stopped on the way out.

    ``status_urls`` maps servers to the ``/status`` URLs the operator probes;
    without it, an empty map in ``tmp`` (no server answers).
    """
    if status_urls is None:
        status_urls = tmp / "status-urls.json"
        status_urls.write_text("{}")
    proc = OperatorProcess(api, tmp, status_urls, metrics_port=free_port()).start()
    try:
        yield proc
    finally:
        proc.stop()


def example(name: str, namespace: str) -> list[Obj]:
    """The documents of ``examples/NAME``, moved into ``namespace``."""
    docs = [copy.deepcopy(doc) for doc in load_yaml_objects(REPO / "examples" / name)]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return docs


def children(api: ApiServer, namespace: str) -> dict[str, Obj]:
    """Every child in a namespace by KIND/NAME."""
    out = {}
    for api_version, kind in CHILD_KINDS:
        for obj in api.store.items(api_version, kind, namespace):
            out[f"{kind}/{obj['metadata']['name']}"] = obj
    return out


def rendered(docs: list[Obj]) -> dict[str, Obj]:
    """What ``chatnet render`` prints for these documents, by KIND/NAME."""
    report = validate_documents(parse_text(yaml.safe_dump_all(docs), "test"))
    assert report.ok, report.problems
    out = {}
    for declared in report.networks:
        plan = plan_network(declared, ClusterPlacement(declared.network))
        for obj in render_network(plan):
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return out


def operator_children(docs: list[Obj], cert_manager: bool = False) -> dict[str, Obj]:
    """What the operator makes of these documents: ``rendered`` and each generated Secret
    (link and cloak: created once by the operator, never printed by ``chatnet render``).

    Without ``cert_manager`` the operator keeps the link CA itself: the rendered
    cert-manager link objects give way to its CA and certificate Secrets.
    """
    out = rendered(docs)
    report = validate_documents(parse_text(yaml.safe_dump_all(docs), "test"))
    for declared in report.networks:
        plan = plan_network(declared, ClusterPlacement(declared.network))
        owner = {"apiVersion": "chatnet.io/v1alpha1", "kind": "ChatNetwork"}
        owner["metadata"] = {"name": declared.network.name, "uid": "not-compared"}
        for name, key, _ in generated_secrets(plan):
            secret = generated_secret(plan, name, key, "not-compared", owner)
            out[f"Secret/{name}"] = secret
        if cert_manager:
            continue
        for key in [k for k, o in out.items() if LINK_CA_LABEL in o["metadata"]["labels"]]:
            del out[key]
        for name, server in own_ca_secrets(plan):
            out[f"Secret/{name}"] = own_ca_secret(plan, name, {}, owner, server)
    return out


@dataclass
class OperatorProcess:
    """One operator subprocess; ``command`` picks the entry point."""

    api: ApiServer
    tmp: Path
    status_urls: Path
    command: str = "chatnet"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    liveness_port: int = 0
    metrics_port: int = 0

    def start(self) -> OperatorProcess:
        kubeconfig = self.api.kubeconfig(self.tmp / "kubeconfig.yaml")
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(kubeconfig),
            PYTHONPATH=os.pathsep.join([str(REPO / "operator"), str(REPO / "node")]),
            CHATNET_SYNC_INTERVAL="1",
            CHATNET_PROBE_TIMEOUT="0.5",
            CHATNET_STATUS_URLS=str(self.status_urls),
            CHATNET_METRICS_PORT=str(self.metrics_port),
        )
        self.liveness_port = free_port()
        live = f"http://127.0.0.1:{self.liveness_port}/healthz"
        if self.command == "kopf":
            argv = [sys.executable, "-m", "kopf", "run", "-m", "chatnet_operator"]
            argv += ["-A", "--standalone", f"--liveness={live}"]
        else:
            argv = [sys.executable, "-m", "chatnet_operator.cli", "operator", "-A"]
            argv += ["--standalone", "--liveness-port", str(self.liveness_port)]
        self.log_path = self.tmp / f"operator-{self.command}-{time.monotonic_ns()}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, timeout=15)
