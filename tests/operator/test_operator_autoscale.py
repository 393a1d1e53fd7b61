"""The operator autoscales a fan-out set: real kopf loop, emulated API, fake /status.

Each replica's ``/status`` is a small HTTP server in this process whose client
count the test sets, so the load is exact: sustained high scales up, a load
hovering at the target changes nothing, sustained low scales down (the
StatefulSet follows), and each resize says why in ``status.autoscale`` and
an Event.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from tests.nodeproc import free_port
from tests.operator.kubeapi import ApiServer
from tests.operator.operatorproc import (
    CHATNET,
    OperatorProcess,
    children,
    start_api,
    wait_for,
)

NAMESPACE = "autoscale"
MANIFEST = f"""\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {{name: acme, namespace: {NAMESPACE}}}
spec: {{}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {{name: ctl, namespace: {NAMESPACE}}}
spec: {{network: acme, role: control, serverId: 1}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {{name: fan, namespace: {NAMESPACE}}}
spec:
  network: acme
  role: leaf
  serverId: 10
  replicas: 1
  maxClients: 100
  uplinks: [ctl]
  autoscale: {{minReplicas: 1, maxReplicas: 3, targetClientsPercent: 50,
              stabilizationWindow: 2s}}
"""


class FakeNode:
    """``/status`` and ``/readyz`` of one replica. Each ``/status`` answer takes the
    next client count of ``pattern`` in turn (the operator reads it once a sync)."""

    def __init__(self, max_clients: int) -> None:
        self.pattern = [0]
        self.answers = 0
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/status":
                    clients = node.pattern[node.answers % len(node.pattern)]
                    node.answers += 1
                    body = json.dumps(
                        {"clients": clients, "maxClients": max_clients, "links": []}
                    ).encode()
                else:
                    body = b"ok\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nodes() -> Iterator[dict[str, FakeNode]]:
    fakes = {"ctl": FakeNode(0)} | {f"fan-{i}": FakeNode(100) for i in range(3)}
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = start_api()
    yield server
    server.stop()


def fan(api: ApiServer) -> dict[str, Any]:
    found = api.store.find(CHATNET, "ChatServer", NAMESPACE, "fan")
    assert found is not None
    return found


def scaled_to(api: ApiServer, replicas: int) -> dict[str, Any] | None:
    obj = fan(api)
    sts = children(api, NAMESPACE).get("StatefulSet/fan")
    if obj["spec"]["replicas"] == replicas and sts and sts["spec"]["replicas"] == replicas:
        return obj
    return None


def events(api: ApiServer, reason: str) -> list[dict[str, Any]]:
    return [e for e in api.store.items("v1", "Event", NAMESPACE) if e.get("reason") == reason]


def test_operator_scales_up_holds_steady_and_scales_down_emptiest_first(
    api: ApiServer, nodes: dict[str, FakeNode], tmp_path: Path
) -> None:
    status_urls = tmp_path / "status-urls.json"
    status_urls.write_text(json.dumps({name: n.url for name, n in nodes.items()}))
    operator = OperatorProcess(api, tmp_path, status_urls, metrics_port=free_port()).start()
    try:
        for doc in yaml.safe_load_all(MANIFEST):
            api.store.apply(doc)
        wait_for(lambda: scaled_to(api, 1), what="the set at one replica", timeout=30)

        nodes["fan-0"].pattern = [80]  # 80% > 50% target, sustained: 2 replicas
        obj = wait_for(lambda: scaled_to(api, 2), what="scaled up to 2", timeout=30)
        assert (
            "80/100 clients (80%) stayed above the 50% target for 2s: 1 -> 2"
            in (obj["status"]["autoscale"]["reason"])
        )
        assert events(api, "ScaledUp")

        # Each look alternates just above and just below the target (102 or 96 of 200),
        # for 6 s (three windows): no resize either way.
        nodes["fan-0"].pattern, nodes["fan-1"].pattern = [52, 48], [50, 48]
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            time.sleep(0.1)
            assert fan(api)["spec"]["replicas"] == 2, "flapped on a hovering load"
        assert nodes["fan-1"].answers >= 4, "the operator kept looking meanwhile"

        nodes["fan-0"].pattern, nodes["fan-1"].pattern = [10], [2]
        obj = wait_for(lambda: scaled_to(api, 1), what="scaled down to 1", timeout=30)
        record = obj["status"]["autoscale"]
        assert "stayed below the 50% target for 2s: 2 -> 1" in record["reason"]
        assert record["emptiest"] == "fan-1"
        assert events(api, "ScaledDown")
        assert len(events(api, "ScaledUp")) == 1, "one resize up, never repeated"
    finally:
        operator.stop()


def test_replicas_outside_the_autoscale_bounds_are_refused_clearly() -> None:
    """What an HPA or `kubectl scale` past the bounds meets (the same rule runs as CEL)."""
    text = MANIFEST.replace("replicas: 1\n", "replicas: 5\n")
    report = validate_documents(parse_text(text, "net.yaml"))
    assert not report.ok
    message = " ".join(str(p) for p in report.problems)
    assert "replicas must lie between autoscale.minReplicas and maxReplicas" in message
    assert "an HPA must not target a ChatServer with autoscale" in message
    bad = MANIFEST.replace("minReplicas: 1, maxReplicas: 3", "minReplicas: 4, maxReplicas: 3")
    report = validate_documents(parse_text(bad, "net.yaml"))
    assert "autoscale.minReplicas must not exceed autoscale.maxReplicas" in " ".join(
        str(p) for p in report.problems
    )
