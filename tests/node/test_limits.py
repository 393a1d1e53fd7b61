"""Every limit of issue 3 against a real node process over real sockets."""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.irc.blocking import LineClient as Client
from tests.irc.lines import contains
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import wait_until

OPEN_CLIENTS: list[Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


def LineClient(port: int, rcvbuf: int | None = None, answer_pings: bool = True) -> Client:  # noqa: N802
    """A blocking client, closed at the end of the test."""
    client = Client.tcp(port, rcvbuf=rcvbuf, answer_pings=answer_pings)
    OPEN_CLIENTS.append(client)
    return client


def http_status(node: NodeProcess, path: str) -> int:
    try:
        with urllib.request.urlopen(node.admin_url + path, timeout=3) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def chat_still_works(node: NodeProcess) -> None:
    a, b = LineClient(node.irc_port), LineClient(node.irc_port)
    a.register("checka")
    b.register("checkb")
    b.send("JOIN #ok")
    b.expect("366")
    a.send("PRIVMSG #ok :still alive")  # +n: a is outside, so 404
    a.expect("404")
    a.send("JOIN #ok")
    a.expect("366")
    a.send("PRIVMSG #ok :still alive")
    assert b.expect("PRIVMSG", "#ok").last == "still alive"
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
    lines = extra.wait_closed()
    assert any(m.command == "ERROR" and "Server is full" in m.last for m in lines), lines
    clients[0].send("QUIT :making room")
    clients[0].wait_closed()
    wait_until(lambda: http_status(limited, "/readyz") == 200, 5, "/readyz is 200 again")
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
    lines = third.wait_closed()
    assert any("Too many connections from your address" in m.raw for m in lines), lines
    first.close()
    second.close()


@pytest.mark.parametrize("limited", [{"registrationTimeout": 1.0}], indirect=True)
def test_client_that_never_speaks_is_timed_out(limited: NodeProcess) -> None:
    silent = LineClient(limited.irc_port)
    lines = silent.wait_closed(timeout=6)
    assert any("Registration timed out" in m.raw for m in lines), lines
    chat_still_works(limited)


@pytest.mark.parametrize("limited", [{"pingInterval": 1.0, "pingTimeout": 1.0}], indirect=True)
def test_ping_timeout(limited: NodeProcess) -> None:
    quiet = LineClient(limited.irc_port, answer_pings=False)
    quiet.register("quiet")
    quiet.expect("PING", timeout=5)
    lines = quiet.wait_closed(timeout=6)
    assert any("Ping timeout: 2 seconds" in m.raw for m in lines), lines


@pytest.mark.parametrize(
    "limited", [{"floodBurst": 10, "floodRate": 2.0, "floodMaxQueued": 20}], indirect=True
)
def test_flood_is_delayed_then_disconnected(limited: NodeProcess) -> None:
    watcher, flooder = LineClient(limited.irc_port), LineClient(limited.irc_port)
    watcher.register("watcher")
    flooder.register("flooder")
    for client in (watcher, flooder):
        client.send("JOIN #flood")
        client.expect("366")
    time.sleep(6)  # let the bucket refill after registration
    flooder.sock.sendall(b"".join(b"PRIVMSG #flood :spam %d\r\n" % i for i in range(100)))
    lines = flooder.wait_closed()
    assert any("Excess Flood" in m.raw for m in lines), lines[-3:]
    received = []
    for line in watcher.incoming(10):
        if line.command == "QUIT":
            assert line.last == "Excess Flood"
            break
        received.append(line)
    assert 10 <= len(received) < 40  # the burst passed; the flood did not
    chat_still_works(limited)


def slow_fast_and_sender_in_big(node: NodeProcess) -> tuple[Client, Client, Client]:
    """Three members of #big: one with a 4 KiB receive buffer that reads only
    when asked, one that keeps up, and one to send."""
    clients = (
        LineClient(node.irc_port, rcvbuf=4096),
        LineClient(node.irc_port),
        LineClient(node.irc_port),
    )
    for client, nick in zip(clients, ("slow", "fast", "sender"), strict=True):
        client.register(nick)
        client.send("JOIN #big")
        client.expect("366")
    return clients


@pytest.mark.parametrize(
    "limited",
    [{"sendqBytes": 65536, "floodBurst": 100000, "floodRate": 100000, "floodMaxQueued": 100000}],
    indirect=True,
)
def test_slow_reader_is_dropped_and_nobody_else_waits(limited: NodeProcess) -> None:
    slow, fast, sender = slow_fast_and_sender_in_big(limited)
    payload = "x" * 400
    count = 15000  # 6 MB: beyond the slow reader's sendq and both kernels' socket buffers
    sender.sock.sendall(b"".join(f"PRIVMSG #big :{i} {payload}\r\n".encode() for i in range(count)))
    got, dropped = read_keeping_up(fast, count, 30)
    assert got == count, "the fast member must get every message"
    assert dropped, "the fast member must see the slow one go: QUIT :SendQ exceeded"
    slow.close()


def read_keeping_up(client: Client, count: int, timeout: float) -> tuple[int, bool]:
    """Read ``client``'s socket unparsed, as fast as the server writes, until
    ``count`` ``#big`` lines and a ``QUIT :SendQ exceeded`` came (or ``timeout``):
    how many lines came, and whether the QUIT did. Parsing each line, a member
    meant to keep up fell behind itself on a loaded machine, and was dropped."""
    sock, tail = client.sock, b""
    got, dropped = 0, False
    deadline = time.monotonic() + timeout
    while (got < count or not dropped) and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not data:
            break
        lines = (tail + data).split(b"\r\n")
        tail = lines.pop()
        got += sum(b" PRIVMSG #big :" in line for line in lines)
        dropped = dropped or any(line.endswith(b" QUIT :SendQ exceeded") for line in lines)
    return got, dropped


@pytest.mark.parametrize(
    "limited",
    [{"sendqBytes": 400_000, "socketSendBuffer": 4096, "floodBurst": 1000, "floodRate": 1000}],
    indirect=True,
)
def test_reader_that_falls_behind_and_catches_up_gets_every_line_in_order(
    limited: NodeProcess,
) -> None:
    # Past the kernel's buffers, a reader's lines wait in the server (its
    # backlog) until the socket takes bytes again: none may be lost,
    # duplicated or reordered on the way, and it stays connected.
    behind, fast, sender = slow_fast_and_sender_in_big(limited)
    payload = "y" * 400
    count = 600  # 250 kB: far past both socket buffers, inside the sendq
    sender.sock.sendall(b"".join(f"PRIVMSG #big :{i} {payload}\r\n".encode() for i in range(count)))
    got: list[int] = []
    for line in fast.incoming(30):
        if line.command == "PRIVMSG":
            got.append(int(line.last.split()[0]))
            if len(got) == count:
                break
    assert got == list(range(count))
    # Only now does the slow member read: everything, in order.
    seen: list[int] = []
    for line in behind.incoming(30):
        assert line.command not in {"QUIT", "ERROR"}, line
        if line.command == "PRIVMSG":
            seen.append(int(line.last.split()[0]))
            if len(seen) == count:
                break
    assert seen == list(range(count))
    behind.send("PING caught-up")
    assert behind.expect("PONG").last == "caught-up"


def test_ten_megabyte_line_gets_417_and_connection_survives(node: NodeProcess) -> None:
    client = LineClient(node.irc_port)
    client.register("bigline")
    chunk = b"A" * 65536
    for _ in range(160):  # 10 MiB with no line end
        client.sock.sendall(chunk)
    client.sock.sendall(b"\r\nPING still-here\r\n")
    client.expect("417", timeout=20)
    assert client.expect("PONG", timeout=20).last == "still-here"
    chat_still_works(node)


def test_garbage_bytes_do_not_hurt_anyone(node: NodeProcess) -> None:
    client = LineClient(node.irc_port)
    client.sock.sendall(os.urandom(4096).replace(b"\n", b"") + b"\r\n")
    client.sock.sendall(b"\x00\x01\x02\r\n@only=tags\r\n@\r\n:\r\n   \r\n")
    client.send("NICK garbage")
    client.send("USER garbage 0 * :g")
    client.expect("001")
    chat_still_works(node)


def test_sighup_reload_changes_motd_and_limits_without_dropping(tmp_path: Path) -> None:
    proc = make_node(tmp_path, motd="first motd")
    proc.start()
    try:
        stay = LineClient(proc.irc_port)
        stay.register("stayer")
        stay.send("JOIN #keep")
        stay.expect("366")
        config = yaml.safe_load(proc.config_path.read_text())
        config["motd"] = "second motd"
        config["limits"] = {"maxClients": 1}
        proc.config_path.write_text(yaml.safe_dump(config))
        proc.signal(signal.SIGHUP)
        # One client and maxClients 1: full.
        wait_until(lambda: http_status(proc, "/readyz") == 503, 5, "/readyz turns 503")
        stay.send("MOTD")
        assert stay.expect(lambda m: m.command in ("372", "422")).last == "- second motd"
        # A broken file is refused; the running configuration stays.
        proc.config_path.write_text("limits: {maxClients: -5}\nname: Bad Name\n")
        proc.signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in proc.log(), 5, "the reload refused", 0.1)
        stay.send("MOTD")
        assert stay.expect(lambda m: m.command in ("372", "422")).last == "- second motd"
        stay.send("PING alive")
        assert stay.expect("PONG").last == "alive"
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
    client.expect(contains("shutting down"))
    assert http_status(proc, "/readyz") == 503
    newcomer = LineClient(proc.irc_port)
    assert any("shutting down" in m.raw for m in newcomer.wait_closed())
    lines = client.wait_closed(timeout=6)
    closing = [m.last for m in lines if m.command == "ERROR"]
    assert any(c.startswith("Closing Link") and "Server restarting" in c for c in closing), lines
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

        def reloaded() -> bool:
            client.send("MOTD")
            seen = client.expect("372").last
            client.expect("376")
            return seen == "- after save"

        wait_until(reloaded, 10, "the saved MOTD is served", poll=0.3)
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
    lines = client.wait_closed(timeout=6)
    assert any("Server restarting" in m.raw for m in lines), lines
    assert proc.proc is not None
    assert proc.proc.wait(timeout=5) == 0
    assert "now test-0 (ID 10), was test (ID 10)" in proc.log()
