"""Every limit of issue 3 against a real node process over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.nodeproc import NodeProcess, make_node

OPEN_CLIENTS: list[LineClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


class LineClient:
    """A blocking IRC client on a plain socket: enough to poke at limits."""

    def __init__(self, port: int, rcvbuf: int | None = None) -> None:
        OPEN_CLIENTS.append(self)
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(5)
        self.buffer = b""

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def register(self, nick: str) -> None:
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.expect(" 376 ", " 422 ")

    def read_line(self, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no line in time")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed; unread: {self.buffer!r}")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def expect(self, *needles: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.read_line(deadline - time.monotonic())
            seen.append(line)
            if any(n in line for n in needles):
                return line
        raise AssertionError(f"none of {needles} in {seen}")

    def closed_with(self, timeout: float = 5.0) -> list[str]:
        """Read until the server closes the connection; return every line."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                lines.append(self.read_line(deadline - time.monotonic()))
            except ConnectionError:
                return lines
        raise AssertionError(f"still open after {timeout}s: {lines}")

    def close(self) -> None:
        self.sock.close()


def http_status(node: NodeProcess, path: str) -> int:
    try:
        with urllib.request.urlopen(node.http_url + path, timeout=3) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def chat_still_works(node: NodeProcess) -> None:
    a, b = LineClient(node.irc_port), LineClient(node.irc_port)
    a.register("checka")
    b.register("checkb")
    b.send("JOIN #ok")
    b.expect(" 366 ")
    a.send("PRIVMSG #ok :still alive")  # +n: a is outside, so 404
    a.expect(" 404 ")
    a.send("JOIN #ok")
    a.expect(" 366 ")
    a.send("PRIVMSG #ok :still alive")
    assert "still alive" in b.expect("PRIVMSG #ok")
    a.close()
    b.close()


@pytest.fixture
def limited(tmp_path: Path, request: pytest.FixtureRequest) -> NodeProcess:
    limits = getattr(request, "param", {})
    proc = make_node(tmp_path, limits=limits)
    proc.start()
    request.addfinalizer(proc.stop)
    return proc


@pytest.mark.parametrize("limited", [{"maxClients": 3}], indirect=True)
def test_max_clients_exact_and_readyz(limited: NodeProcess) -> None:
    clients = [LineClient(limited.irc_port) for _ in range(3)]
    for i, client in enumerate(clients):
        client.register(f"user{i}")
    assert http_status(limited, "/readyz") == 503
    extra = LineClient(limited.irc_port)
    lines = extra.closed_with()
    assert any("ERROR" in line and "Server is full" in line for line in lines), lines
    clients[0].send("QUIT :making room")
    clients[0].closed_with()
    deadline = time.monotonic() + 5
    while http_status(limited, "/readyz") != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert http_status(limited, "/readyz") == 200
    again = LineClient(limited.irc_port)
    again.register("latecomer")
    for client in [*clients[1:], again]:
        client.close()


@pytest.mark.parametrize("limited", [{"maxPerAddress": 2}], indirect=True)
def test_per_address_limit(limited: NodeProcess) -> None:
    first, second = LineClient(limited.irc_port), LineClient(limited.irc_port)
    first.register("first")
    second.register("second")
    third = LineClient(limited.irc_port)
    lines = third.closed_with()
    assert any("Too many connections from your address" in line for line in lines), lines
    first.close()
    second.close()


@pytest.mark.parametrize("limited", [{"registrationTimeout": 1.0}], indirect=True)
def test_client_that_never_speaks_is_timed_out(limited: NodeProcess) -> None:
    silent = LineClient(limited.irc_port)
    lines = silent.closed_with(timeout=6)
    assert any("Registration timed out" in line for line in lines), lines
    chat_still_works(limited)


@pytest.mark.parametrize("limited", [{"pingInterval": 1.0, "pingTimeout": 1.0}], indirect=True)
def test_ping_timeout(limited: NodeProcess) -> None:
    quiet = LineClient(limited.irc_port)
    quiet.register("quiet")
    quiet.expect("PING ", timeout=5)
    lines = quiet.closed_with(timeout=6)
    assert any("Ping timeout: 2 seconds" in line for line in lines), lines


@pytest.mark.parametrize(
    "limited", [{"floodBurst": 10, "floodRate": 2.0, "floodMaxQueued": 20}], indirect=True
)
def test_flood_is_delayed_then_disconnected(limited: NodeProcess) -> None:
    watcher, flooder = LineClient(limited.irc_port), LineClient(limited.irc_port)
    watcher.register("watcher")
    flooder.register("flooder")
    for client in (watcher, flooder):
        client.send("JOIN #flood")
        client.expect(" 366 ")
    time.sleep(6)  # let the bucket refill after registration
    flooder.sock.sendall(b"".join(b"PRIVMSG #flood :spam %d\r\n" % i for i in range(100)))
    lines = flooder.closed_with()
    assert any("Excess Flood" in line for line in lines), lines[-3:]
    received = []
    while True:
        line = watcher.read_line()
        if "QUIT" in line:
            assert "Excess Flood" in line
            break
        received.append(line)
    assert 10 <= len(received) < 40  # the burst passed; the flood did not
    chat_still_works(limited)


@pytest.mark.parametrize(
    "limited",
    [{"sendqBytes": 65536, "floodBurst": 100000, "floodRate": 100000, "floodMaxQueued": 100000}],
    indirect=True,
)
def test_slow_reader_is_dropped_and_nobody_else_waits(limited: NodeProcess) -> None:
    slow = LineClient(limited.irc_port, rcvbuf=4096)
    fast, sender = LineClient(limited.irc_port), LineClient(limited.irc_port)
    for client, nick in ((slow, "slow"), (fast, "fast"), (sender, "sender")):
        client.register(nick)
        client.send("JOIN #big")
        client.expect(" 366 ")
    payload = "x" * 400
    count = 15000  # 6 MB: beyond the slow reader's sendq and both kernels' socket buffers
    sender.sock.sendall(b"".join(f"PRIVMSG #big :{i} {payload}\r\n".encode() for i in range(count)))
    got = 0
    dropped = False
    deadline = time.monotonic() + 30
    while got < count and time.monotonic() < deadline:
        line = fast.read_line()
        if "PRIVMSG #big" in line:
            got += 1
        elif "QUIT" in line and "SendQ exceeded" in line:
            dropped = True
    assert got == count, "the fast member must get every message"
    while not dropped:
        dropped = "SendQ exceeded" in fast.expect("QUIT")
    assert dropped, "the slow member must be dropped with 'SendQ exceeded'"
    slow.close()


def test_ten_megabyte_line_gets_417_and_connection_survives(node: NodeProcess) -> None:
    client = LineClient(node.irc_port)
    client.register("bigline")
    chunk = b"A" * 65536
    for _ in range(160):  # 10 MiB with no line end
        client.sock.sendall(chunk)
    client.sock.sendall(b"\r\nPING still-here\r\n")
    assert " 417 " in client.expect(" 417 ", timeout=20)
    assert "still-here" in client.expect("PONG", timeout=20)
    chat_still_works(node)


def test_garbage_bytes_do_not_hurt_anyone(node: NodeProcess) -> None:
    client = LineClient(node.irc_port)
    client.sock.sendall(os.urandom(4096).replace(b"\n", b"") + b"\r\n")
    client.sock.sendall(b"\x00\x01\x02\r\n@only=tags\r\n@\r\n:\r\n   \r\n")
    client.send("NICK garbage")
    client.send("USER garbage 0 * :g")
    client.expect(" 001 ")
    chat_still_works(node)


def test_sighup_reload_changes_motd_and_limits_without_dropping(tmp_path: Path) -> None:
    proc = make_node(tmp_path, motd="first motd")
    proc.start()
    try:
        stay = LineClient(proc.irc_port)
        stay.register("stayer")
        stay.send("JOIN #keep")
        stay.expect(" 366 ")
        config = yaml.safe_load(proc.config_path.read_text())
        config["motd"] = "second motd"
        config["limits"] = {"maxClients": 1}
        proc.config_path.write_text(yaml.safe_dump(config))
        proc.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while http_status(proc, "/readyz") != 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http_status(proc, "/readyz") == 503  # one client and maxClients 1: full
        stay.send("MOTD")
        assert "second motd" in stay.expect("second motd", " 422 ")
        # A broken file is refused; the running configuration stays.
        proc.config_path.write_text("limits: {maxClients: -5}\nname: Bad Name\n")
        proc.signal(signal.SIGHUP)
        time.sleep(0.5)
        stay.send("MOTD")
        assert "second motd" in stay.expect("second motd", " 422 ")
        assert "reload refused" in proc.log()
        stay.send("PING alive")
        assert "alive" in stay.expect("PONG")
        stay.close()
    finally:
        proc.stop()


def test_sigterm_drains_tells_clients_and_exits(tmp_path: Path) -> None:
    proc = make_node(tmp_path, drainSeconds=2.0)
    proc.start()
    client = LineClient(proc.irc_port)
    client.register("drained")
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert "shutting down" in client.expect("shutting down")
    assert http_status(proc, "/readyz") == 503
    newcomer = LineClient(proc.irc_port)
    assert any("shutting down" in line for line in newcomer.closed_with())
    lines = client.closed_with(timeout=6)
    closing = [line for line in lines if "ERROR :Closing Link" in line]
    assert any("Server restarting" in line for line in closing), lines
    assert proc.proc is not None
    assert proc.proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5


def test_saving_the_config_file_reloads_it(tmp_path: Path) -> None:
    proc = make_node(tmp_path, motd="before save")
    proc.start()
    try:
        client = LineClient(proc.irc_port)
        client.register("watcher")
        config = yaml.safe_load(proc.config_path.read_text())
        config["motd"] = "after save"
        time.sleep(1.1)  # a new mtime, even on coarse file systems
        proc.config_path.write_text(yaml.safe_dump(config))
        deadline = time.monotonic() + 10
        seen = ""
        while "after save" not in seen and time.monotonic() < deadline:
            time.sleep(0.3)
            client.send("MOTD")
            seen = client.expect(" 372 ")
            client.expect(" 376 ")
        assert "after save" in seen
    finally:
        proc.stop()


def test_a_new_identity_in_the_config_drains_and_exits_for_a_restart(tmp_path: Path) -> None:
    """Scaling a ChatServer from one replica to two renames its first server."""
    proc = make_node(tmp_path)
    proc.start()
    client = LineClient(proc.irc_port)
    client.register("renamed")
    config = yaml.safe_load(proc.config_path.read_text())
    config["name"] = "test-0"
    proc.config_path.write_text(yaml.safe_dump(config))
    proc.signal(signal.SIGHUP)
    lines = client.closed_with(timeout=6)
    assert any("Server restarting" in line for line in lines), lines
    assert proc.proc is not None
    assert proc.proc.wait(timeout=5) == 0
    assert "now test-0 (ID 10), was test (ID 10)" in proc.log()
