"""The I/O-free core, driven by feeding lines and reading the bytes it writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatnet_node import wire
from chatnet_node.client import Client
from chatnet_node.config import NodeConfig
from chatnet_node.core import ChatCore
from chatnet_node.history.sqlite import SqliteHistory


class RecordingSink:
    """A Sink that keeps what the core writes, like a socket that never blocks."""

    def __init__(self, core: ChatCore, kind: int = wire.STREAM) -> None:
        self.core = core
        self.kind = kind
        self.data: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def close(self) -> None:
        self.closed = True

    def lines(self) -> list[str]:
        self.core.flush()  # what the adapter does at the end of each loop turn
        text = b"".join(self.data).decode()
        self.data.clear()
        return [line for line in text.split("\r\n") if line]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_core(**limits: object) -> tuple[ChatCore, FakeClock]:
    clock = FakeClock()
    config = NodeConfig.model_validate({"name": "unit", "limits": limits})
    return ChatCore(config, SqliteHistory(None), clock=clock), clock


def connect(core: ChatCore, nick: str, caps: str = "") -> tuple[Client, RecordingSink]:
    sink = RecordingSink(core)
    client = core.connect(sink, "127.0.0.1")
    assert client is not None
    if caps:
        core.receive_line(client, f"CAP REQ :{caps}".encode())
    core.receive_line(client, f"NICK {nick}".encode())
    core.receive_line(client, f"USER {nick} 0 * :{nick} Real".encode())
    if caps:
        core.receive_line(client, b"CAP END")
    assert client.registered
    sink.lines()
    return client, sink


def test_channel_message_reaches_every_other_member_once() -> None:
    core, _ = make_core()
    alice, alice_out = connect(core, "alice")
    bob, bob_out = connect(core, "bob")
    carol, carol_out = connect(core, "carol")
    for client in (alice, bob, carol):
        core.receive_line(client, b"JOIN #room")
    for sink in (alice_out, bob_out, carol_out):
        sink.lines()
    core.receive_line(alice, b"PRIVMSG #room :hi all")
    assert bob_out.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :hi all"]
    assert carol_out.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :hi all"]
    assert alice_out.lines() == []


def test_one_serialisation_shared_by_clients_with_the_same_caps() -> None:
    core, _ = make_core()
    sender, _ = connect(core, "sender")
    plain = [connect(core, f"p{i}")[1] for i in range(3)]
    tagged = [connect(core, f"t{i}", "message-tags server-time")[1] for i in range(3)]
    members = [c for c in core.clients if c is not sender]
    core.receive_line(sender, b"JOIN #room")
    for client in members:
        core.receive_line(client, b"JOIN #room")
    for sink in plain + tagged:
        sink.lines()
    core.receive_line(sender, b"PRIVMSG #room :shared")
    core.flush()
    plain_bytes = [sink.data[0] for sink in plain]
    tagged_bytes = [sink.data[0] for sink in tagged]
    # Identical objects, not just equal values: serialised once per wire key.
    assert all(b is plain_bytes[0] for b in plain_bytes)
    assert all(b is tagged_bytes[0] for b in tagged_bytes)
    assert tagged_bytes[0].startswith(b"@time=") and b"msgid=" in tagged_bytes[0]
    assert plain_bytes[0].startswith(b":sender!")


def test_websocket_clients_get_one_frame_per_line() -> None:
    core, _ = make_core()
    sender, _ = connect(core, "sender")
    sink = RecordingSink(core, wire.WS_TEXT)
    ws_client = core.connect(sink, "127.0.0.1")
    assert ws_client is not None
    for line in (b"NICK web", b"USER web 0 * :Web", b"JOIN #room"):
        core.receive_line(ws_client, line)
    core.receive_line(sender, b"JOIN #room")
    core.flush()
    sink.data.clear()
    core.receive_line(sender, b"PRIVMSG #room :framed line")
    core.flush()
    frame = sink.data[-1]
    payload = b":sender!~sender@127.0.0.1 PRIVMSG #room :framed line"
    assert frame == bytes((0x81, len(payload))) + payload


def test_flood_delays_then_disconnects_with_excess_flood() -> None:
    core, clock = make_core(floodBurst=5, floodRate=1.0, floodMaxQueued=3)
    client, out = connect(core, "flood")
    peer, peer_out = connect(core, "peer")
    core.receive_line(peer, b"JOIN #f")
    core.receive_line(client, b"JOIN #f")
    peer_out.lines()
    clock.now += 10  # refill the bucket
    for i in range(7):
        core.receive_line(client, f"PRIVMSG #f :line {i}".encode())
    # The burst went through, the rest waits.
    assert len(peer_out.lines()) == 5
    clock.now += 2.0
    core.tick()
    assert len(peer_out.lines()) == 2  # two tokens refilled, two delayed lines sent
    for i in range(5):
        core.receive_line(client, f"PRIVMSG #f :more {i}".encode())
    assert client.closed
    assert any("Excess Flood" in line for line in out.lines())
    assert any("QUIT :Excess Flood" in line for line in peer_out.lines())


def test_max_clients_is_exact() -> None:
    core, _ = make_core(maxClients=2)
    connect(core, "one")
    connect(core, "two")
    assert core.full and not core.ready
    sink = RecordingSink(core)
    assert core.connect(sink, "127.0.0.1") is None
    assert sink.closed
    assert b"Server is full" in b"".join(sink.data)


def test_registration_and_ping_timeouts() -> None:
    core, clock = make_core(registrationTimeout=5, pingInterval=10, pingTimeout=5)
    idle_sink = RecordingSink(core)
    idle = core.connect(idle_sink, "127.0.0.1")
    assert idle is not None
    client, out = connect(core, "pinged")
    clock.now += 6
    core.tick()
    core.flush()
    assert idle.closed and b"Registration timed out" in b"".join(idle_sink.data)
    clock.now += 5
    core.tick()
    assert out.lines() == ["PING unit"]
    clock.now += 6
    core.tick()
    assert client.closed
    assert any("Ping timeout: 15 seconds" in line for line in out.lines())


def test_labeled_response_batches_multiple_replies() -> None:
    core, _ = make_core()
    client, out = connect(core, "lab", "labeled-response batch message-tags")
    core.receive_line(client, b"@label=q1 WHOIS lab")
    lines = out.lines()
    assert lines[0].startswith("@label=q1 :unit BATCH +")
    assert lines[0].endswith("labeled-response")
    ref = lines[0].split("BATCH +")[1].split()[0]
    assert all(f"batch={ref}" in line for line in lines[1:-1])
    assert lines[-1] == f":unit BATCH -{ref}"
    core.receive_line(client, b"@label=q2 PONG x")
    assert out.lines() == ["@label=q2 :unit ACK"]


def test_input_too_long() -> None:
    core, _ = make_core()
    client, out = connect(core, "long")
    core.receive_line(client, b"PRIVMSG #x :" + b"a" * 600)
    assert out.lines() == [":unit 417 long :Input line was too long"]
    core.receive_line(client, b"@" + b"a" * 5000 + b" PING x")
    assert out.lines() == [":unit 417 long :Input line was too long"]


def test_invalid_utf8_is_refused_and_nothing_else_changes() -> None:
    core, _ = make_core()
    client, out = connect(core, "utf")
    core.receive_line(client, b"PRIVMSG utf :\xff\xfe")
    assert out.lines()[0].startswith(":unit FAIL * INVALID_UTF8")
    assert not client.closed


def test_history_is_committed_before_the_echo_leaves(tmp_path: Path) -> None:
    """The echo is the sender's acknowledgement: by then the message is on disk."""
    path = tmp_path / "history.sqlite3"
    config = NodeConfig.model_validate({"name": "unit", "history": {"path": str(path)}})
    core = ChatCore(config, SqliteHistory(path))
    sender, out = connect(core, "sender", "echo-message")
    core.receive_line(sender, b"JOIN #durable")
    out.lines()
    core.receive_line(sender, b"PRIVMSG #durable :kept on disk")

    def rows_on_disk() -> int:
        with sqlite3.connect(path) as other:
            return int(other.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    assert out.data == [], "nothing leaves before the loop turn ends"
    seen_on_disk: list[int] = []
    plain_write = out.write

    def write(data: bytes) -> None:  # the socket, as the echo reaches it
        seen_on_disk.append(rows_on_disk())
        plain_write(data)

    out.write = write  # type: ignore[method-assign]
    echoes = out.lines()  # the adapter's end-of-turn flush
    assert echoes[-1].endswith("PRIVMSG #durable :kept on disk")
    assert seen_on_disk == [1], "stored before the acknowledgement was written"
