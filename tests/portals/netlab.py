"""A small network lab for portal tests: namespaces, veth pairs, a bridge, nftables.

Every host (a chatnet-node, or the clients) gets its own network namespace
with one interface ``eth0`` and an address in 10.77.0.0/24, a range that
exists only inside the namespaces made here. The other end of each veth pair
sits in a switch namespace, enslaved to a bridge. Impairments are nftables
rules in the switch namespace (``bridge`` family, ``forward`` hook): they act
on frames between two hosts, like a broken or lossy network would, and touch
neither the hosts nor anything outside the lab. Nothing is created in the
root namespace except the namespace names themselves (``cnl<pid>-...``),
which ``close()`` deletes with everything in them.

The test process opens its client sockets inside a namespace with setns(2)
on the calling thread and switches straight back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.irc.blocking import LineClient
from tests.nodeproc import REPO, stop_process
from tests.waiting import wait_until

SUBNET = "10.77.0"
PREFIX = "cnl"
CLONE_NEWNET = 0x40000000
IRC_PORT = 6667
WS_PORT = 8080
SECRET = "netns-portal-secret"


def _run(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=20, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def skip_unless_capable() -> None:
    """Skip (with the reason) unless namespaces and nftables can be used here."""
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces need Linux")
    if os.geteuid() != 0:
        pytest.skip("network-namespace tests need root (ip netns add)")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` not found: install {package} (scripts/install-system-deps.sh)")
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        _run("ip", "netns", "add", probe)
        try:
            _run("ip", "-n", probe, "link", "add", "br0", "type", "bridge")
            _run("ip", "netns", "exec", probe, "nft", "add", "table", "bridge", "probe")
        finally:
            _run("ip", "netns", "del", probe)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot build a namespace lab here: {exc}")


def _libc_setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the block with this thread in namespace ``ns``; always switch back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            _libc_setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _libc_setns(home)
    finally:
        os.close(home)


def connect(ns: str, host: str, port: int, timeout: float = 10.0) -> socket.socket:
    """A TCP connection opened from inside namespace ``ns``."""
    with inside(ns):
        return socket.create_connection((host, port), timeout=timeout)


def Client(ns: str, host: str, nick: str) -> LineClient:  # noqa: N802 - reads like a class
    """A registered IRC client whose socket lives in lab namespace ``ns``."""
    return LineClient(connect(ns, host, IRC_PORT), f"{ns}:{host}").register(nick)


@dataclass
class Host:
    name: str
    ns: str
    addr: str


@dataclass
class Node:
    """A chatnet-node process running inside its host's namespace."""

    host: Host
    sid: int
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def addr(self) -> str:
        return self.host.addr

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "node"), env.get("PYTHONPATH", "")])
        cmd = ["ip", "netns", "exec", self.host.ns, sys.executable, "-m", "chatnet_node"]
        with self.log_path.open("ab") as log:
            # `ip netns exec` execs the command: the pid is the node's own.
            self.proc = subprocess.Popen(
                [*cmd, "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def wait_ready(self, timeout: float = 15.0) -> None:
        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: {self.log()}")
            with contextlib.suppress(OSError):
                sock = connect(self.host.ns, self.addr, WS_PORT, timeout=1)
                with sock:
                    sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
                    return sock.recv(64).startswith(b"HTTP/1.1 200")
            return False

        wait_until(healthy, timeout, f"node {self.name} healthy", 0.05, self.log)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 3)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def peer(self) -> dict[str, Any]:
        """This node as a ``links.dial`` entry."""
        return {"name": self.name, "serverId": self.sid, "host": self.addr, "port": WS_PORT}


@dataclass
class Lab:
    """Namespaces for one test; ``close()`` removes all of them."""

    tmp: Path
    prefix: str = ""
    switch: str = ""
    hosts: list[Host] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    clients: list[LineClient] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def open(self) -> None:
        """Make the switch namespace and its bridge (``close()`` undoes it, even half done)."""
        # Short, unique and recognisable: cnl<pid>-<counter>.
        self.prefix = f"{PREFIX}{os.getpid()}-{len(_LABS)}"
        _LABS.append(self.prefix)
        self.switch = self._add_ns("sw")
        _run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.switch, "link", "set", "br0", "up")
        _run("ip", "netns", "exec", self.switch, "nft", "-f", "-", stdin=_IMPAIR_TABLE)

    def _add_ns(self, suffix: str) -> str:
        ns = f"{self.prefix}-{suffix}"
        _run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def host(self, name: str) -> Host:
        """A namespace wired to the bridge with the next address of the lab."""
        index = len(self.hosts) + 1
        ns = self._add_ns(name)
        port = f"p{index}"
        _run("ip", "-n", self.switch, "link", "add", port, "type", "veth",
             "peer", "name", "eth0", "netns", ns)  # fmt: skip
        _run("ip", "-n", self.switch, "link", "set", port, "master", "br0")
        addr = f"{SUBNET}.{index}"
        _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", self.switch, "link", "set", port, "up")
        host = Host(name=name, ns=ns, addr=addr)
        self.hosts.append(host)
        return host

    def node(self, name: str, sid: int, **links: Any) -> Node:
        """A chatnet-node in a host of its own (not started)."""
        host = self.host(name)
        config = {
            "name": name,
            "serverId": sid,
            "network": "NetnsNet",
            "listeners": {
                "irc": [{"host": host.addr, "port": IRC_PORT}],
                "websocket": [{"host": host.addr, "port": WS_PORT}],
            },
            "history": {"path": str(self.tmp / f"{name}-history.sqlite3")},
            "drainSeconds": 0.2,
            # The lab's clients send quickly, all from one host; neither the flood
            # limit nor the connection throttle is under test here.
            "limits": {
                "floodBurst": 1000,
                "floodRate": 1000.0,
                "throttle": {"exempt": [f"{SUBNET}.0/24"]},
            },
            "links": {"secret": SECRET, **links},
        }
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        node = Node(host=host, sid=sid, config_path=path, log_path=self.tmp / f"{name}.log")
        self.nodes.append(node)
        return node

    def start(self, *nodes: Node) -> None:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()

    def client(self, where: Host, node: Node, nick: str) -> LineClient:
        client = Client(where.ns, node.addr, nick)
        self.clients.append(client)
        return client

    # Impairments, in the switch between two hosts (both directions).

    def _nft(self, *rule: str) -> None:
        _run("ip", "netns", "exec", self.switch, "nft", *rule)

    def partition(self, a: Node, b: Node) -> None:
        for src, dst in ((a, b), (b, a)):
            self._nft("add", "rule", "bridge", "lab", "forward", "ip", "saddr", src.addr,
                      "ip", "daddr", dst.addr, "counter", "drop")  # fmt: skip

    def lose(self, a: Node, b: Node, percent: int) -> None:
        for src, dst in ((a, b), (b, a)):
            match = ["ip", "saddr", src.addr, "ip", "daddr", dst.addr, "meta", "l4proto", "tcp"]
            # Count what passes by (comment "seen"), then drop a random share of it.
            self._nft("add", "rule", "bridge", "lab", "forward", *match, "counter",
                      "comment", '"seen"')  # fmt: skip
            self._nft("add", "rule", "bridge", "lab", "forward", *match,
                      "numgen", "random", "mod", "100", "<", str(percent),
                      "counter", "drop")  # fmt: skip

    def heal(self) -> None:
        self._nft("flush", "chain", "bridge", "lab", "forward")

    def dropped(self) -> int:
        """Packets the impairment rules dropped so far."""
        return self._counted(lambda line: line.endswith("drop"))

    def seen(self) -> int:
        """Packets the loss rules looked at (dropped or not)."""
        return self._counted(lambda line: '"seen"' in line)

    def _counted(self, which: Callable[[str], bool]) -> int:
        out = _run("ip", "netns", "exec", self.switch, "nft", "list", "chain", "bridge",
                   "lab", "forward")  # fmt: skip
        total = 0
        for line in out.splitlines():
            words = line.split()
            if "packets" in words and which(line.strip()):
                total += int(words[words.index("packets") + 1])
        return total

    def logs(self) -> str:
        return "\n".join(f"===== {n.name}.log =====\n{n.log()[-6000:]}" for n in self.nodes)

    def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(OSError):
                client.close()
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait(timeout=10)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@contextlib.contextmanager
def opened(tmp: Path) -> Iterator[Lab]:
    """A lab, open inside the ``with``; then its node logs are printed and it is closed.

    Under pytest, the printed logs are shown only when the test failed.
    """
    lab = Lab(tmp)
    try:
        lab.open()
        yield lab
    finally:
        print(lab.logs())
        lab.close()


_LABS: list[str] = []

_IMPAIR_TABLE = """
table bridge lab {
    chain forward {
        type filter hook forward priority 0; policy accept;
    }
}
"""


def remove_stale_labs() -> None:
    """Delete namespaces left by lab runs whose process is gone (a killed run)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listing.stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        head = ns.split("-", 1)[0]
        if not head.startswith(PREFIX) or not head[len(PREFIX) :].isdigit():
            continue
        pid = int(head[len(PREFIX) :])
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
