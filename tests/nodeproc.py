"""Start real chatnet-node processes for tests, on free loopback ports.

Also what starts them for the tests in bulk: ``chatnet up`` (``start_up``),
and the environment that finds the operator's and the node's sources.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from chatnet_node.config import Cloaks
from chatnet_node.irc.cloaks import cloak
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent


#: Every test node's cloak secret, so a test knows the cloak users see.
CLOAK_SECRET = "test-cloak-secret"
#: The cloak of a client connecting from 127.0.0.1 to a test node.
LOCAL_CLOAK = cloak(Cloaks(secret=CLOAK_SECRET), "127.0.0.1")


#: Test listeners take ports below Linux's ephemeral range (32768-60999), so a
#: port handed out is never taken meanwhile by some client's outgoing socket.
_ALL_PORTS = range(20000, 32000)


def _worker_ports() -> range:
    """This test worker's share of ``_ALL_PORTS`` (pytest-xdist runs several): a
    port one worker handed out, not yet listened on, is never another's."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    # A worker that replaces a crashed one is numbered past the count: it takes
    # the spare share (the crashed worker's may still be listened on).
    index = min(int(worker), count) if worker.isdigit() else 0
    share = len(_ALL_PORTS) // (max(count, 1) + 1)
    start = _ALL_PORTS.start + index * share
    return range(start, start + share)


_PORTS = _worker_ports()
_handed_out: set[int] = set()
_next_port = [_PORTS.start + (os.getpid() * 7919) % len(_PORTS)]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now and not handed out in this run's last
    ``len(_PORTS)`` (once all were, they are all handed out afresh, in turn).

    ``bind(0)`` would give the same port twice when its first taker has not
    started listening yet (two nodes made before either starts), and an
    ephemeral port can be taken by an outgoing connection before the test
    listens on it; both made CI fail with "address already in use".
    """
    if len(_handed_out) >= len(_PORTS):
        _handed_out.clear()  # every one handed out long ago: their tests are over
    for _ in range(len(_PORTS)):
        port = _next_port[0]
        _next_port[0] = _PORTS.start + (port + 1 - _PORTS.start) % len(_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port left in {_PORTS}")


def stop_process(
    proc: subprocess.Popen[bytes], timeout: float = 10.0, signum: int = signal.SIGTERM
) -> None:
    """``signum`` (SIGTERM), then SIGKILL if it has not exited within ``timeout``
    seconds; nothing if it has exited already. Every wait is bounded."""
    if proc.poll() is not None:
        return
    proc.send_signal(signum)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def operator_env() -> dict[str, str]:
    """This environment with PYTHONPATH set to the operator's and the node's sources."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "operator"), str(REPO / "node")])
    return env


def start_up(
    manifest: Path, endpoints: Path, state: Path, out: IO[bytes], err: IO[bytes], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start ``chatnet up MANIFEST`` with its listeners on ports the system picks.

    SIGHUP is at its default in the child: under nohup, chatnet up would
    inherit an ignored SIGHUP and rightly keep it.
    """
    hangup = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatnet_operator.cli",
                "up",
                str(manifest),
                "--endpoints",
                str(endpoints),
                "--state-dir",
                str(state),
                "--ws-port",
                "0",
                "--irc-port",
                "0",
                "--irc-tls-port",
                "0",
            ],
            stdout=out,
            stderr=err,
            env=operator_env(),
            cwd=cwd,
        )
    finally:
        signal.signal(signal.SIGHUP, hangup)


def node_pids(mentioning: str) -> list[int]:
    """PIDs of chatnet_node processes whose command line contains ``mentioning``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        text = cmdline.decode(errors="replace")
        if "chatnet_node" in text and mentioning in text:
            pids.append(int(entry.name))
    return pids


@dataclass
class NodeProcess:
    """One chatnet-node subprocess and where to reach it."""

    name: str
    irc_port: int
    ws_port: int
    config_path: Path
    proc: subprocess.Popen[bytes] | None = None
    tls_port: int | None = None
    #: The admin listener (/healthz, /readyz, /status, /metrics); None: on ws_port.
    admin_port: int | None = None
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Environment variables set for this node's process only (say, libfaketime's).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ws_port}"

    @property
    def admin_url(self) -> str:
        """Where /healthz, /readyz, /status and /metrics answer."""
        return f"http://127.0.0.1:{self.admin_port or self.ws_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "node"), env.get("PYTHONPATH", "")])
        env.update(self.env)
        assert self.log_path is not None
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chatnet_node", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # a node that never became ready is not left running
            raise

    def wait_ready(self, timeout: float = 15.0) -> None:
        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.admin_url + "/healthz", timeout=1) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        wait_until(healthy, timeout, f"node {self.name} healthy", 0.05, self.log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, timeout=10)


def linked_pair(
    tmp: Path, links: dict[str, Any], **overrides: Any
) -> tuple[NodeProcess, NodeProcess]:
    """Two nodes, ``a`` (server ID 1) and ``b`` (3) dialing it, with these
    ``links`` settings (and ``overrides``) each; made, not started. (Not 2: the
    hostile tests' fake peer, 42, is ``2a`` in hex, and would clash with it.)"""
    a = make_node(tmp, "a", serverId=1, links=links, **overrides)
    dial = {"name": "a", "serverId": 1, "host": "127.0.0.1", "port": a.ws_port}
    b = make_node(tmp, "b", serverId=3, links={**links, "dial": [dial]}, **overrides)
    return a, b


def make_node(tmp: Path, name: str = "test", **overrides: Any) -> NodeProcess:
    """Write a configuration for a node on free ports and return it, not started.

    ``overrides`` are merged into the top level of the YAML configuration
    (camelCase keys, as in the file format).
    """
    irc_port, ws_port, admin_port = free_port(), free_port(), free_port()
    config: dict[str, Any] = {
        "name": name,
        "serverId": 10,
        "network": "TestNet",
        "listeners": {
            "irc": [{"host": "127.0.0.1", "port": irc_port}],
            "websocket": [{"host": "127.0.0.1", "port": ws_port}],
            "admin": [{"host": "127.0.0.1", "port": admin_port}],
        },
        "history": {"path": str(tmp / f"{name}-history.sqlite3")},
        "drainSeconds": 1.0,
        "cloaks": {"secret": CLOAK_SECRET},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return NodeProcess(
        name=name,
        irc_port=irc_port,
        ws_port=ws_port,
        config_path=path,
        admin_port=admin_port if config["listeners"].get("admin") else None,
        log_path=tmp / f"{name}.log",
    )
