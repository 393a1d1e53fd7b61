"""The I/O-free core, driven by feeding lines and reading the bytes it writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatnet_node.irc import wire
from tests.corekit import CoreServer, RecordingSink


def test_channel_message_reaches_every_other_member_once() -> None:
    server = CoreServer()
    alice, bob, carol = (server.user(nick) for nick in ("alice", "bob", "carol"))
    for user in (alice, bob, carol):
        user.send("JOIN #room")
    for user in (alice, bob, carol):
        user.lines()
    alice.send("PRIVMSG #room :hi all")
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :hi all"]
    assert carol.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :hi all"]
    assert alice.lines() == []


def test_one_serialisation_shared_by_clients_with_the_same_caps() -> None:
    server = CoreServer()
    sender = server.user("sender")
    plain = [server.user(f"p{i}") for i in range(3)]
    tagged = [server.user(f"t{i}", "message-tags server-time") for i in range(3)]
    for user in (sender, *plain, *tagged):
        user.send("JOIN #room")
    for user in plain + tagged:
        user.lines()
    sender.send("PRIVMSG #room :shared")
    server.core.flush()
    plain_bytes = [user.sink.data[0] for user in plain]
    tagged_bytes = [user.sink.data[0] for user in tagged]
    # Identical objects, not just equal values: serialised once per wire key.
    assert all(b is plain_bytes[0] for b in plain_bytes)
    assert all(b is tagged_bytes[0] for b in tagged_bytes)
    assert tagged_bytes[0].startswith(b"@time=") and b"msgid=" in tagged_bytes[0]
    assert plain_bytes[0].startswith(b":sender!")


def test_websocket_clients_get_one_frame_per_line() -> None:
    server = CoreServer()
    sender = server.user("sender")
    web = server.connection(kind=wire.WS_TEXT)
    web.send("NICK web", "USER web 0 * :Web", "JOIN #room")
    sender.send("JOIN #room")
    web.lines()
    web.sink.data.clear()
    sender.send("PRIVMSG #room :framed line")
    server.core.flush()
    payload = b":sender!~sender@127.0.0.1 PRIVMSG #room :framed line"
    assert web.sink.data[-1] == bytes((0x81, len(payload))) + payload


def test_flood_delays_then_disconnects_with_excess_flood() -> None:
    server = CoreServer(limits={"floodBurst": 5, "floodRate": 1.0, "floodMaxQueued": 3})
    flood, peer = server.user("flood"), server.user("peer")
    peer.send("JOIN #f")
    flood.send("JOIN #f")
    peer.lines()
    server.clock.now += 10  # refill the bucket
    flood.send(*(f"PRIVMSG #f :line {i}" for i in range(7)))
    # The burst went through, the rest waits.
    assert len(peer.lines()) == 5
    server.tick(2.0)
    assert len(peer.lines()) == 2  # two tokens refilled, two delayed lines sent
    flood.send(*(f"PRIVMSG #f :more {i}" for i in range(5)))
    assert flood.client.closed
    assert any("Excess Flood" in line for line in flood.lines())
    assert any("QUIT :Excess Flood" in line for line in peer.lines())


def test_max_clients_is_exact() -> None:
    server = CoreServer(limits={"maxClients": 2})
    server.user("one")
    server.user("two")
    assert server.core.full and not server.core.ready
    sink = RecordingSink(server.core)
    assert server.core.connect(sink, "127.0.0.1") is None
    assert sink.closed
    assert b"Server is full" in b"".join(sink.data)


def test_registration_and_ping_timeouts() -> None:
    server = CoreServer(limits={"registrationTimeout": 5, "pingInterval": 10, "pingTimeout": 5})
    idle = server.connection()
    pinged = server.user("pinged")
    server.tick(6)
    server.core.flush()
    assert idle.client.closed and b"Registration timed out" in b"".join(idle.sink.data)
    server.tick(5)
    assert pinged.lines() == ["PING unit"]
    server.tick(6)
    assert pinged.client.closed
    assert any("Ping timeout: 15 seconds" in line for line in pinged.lines())


def test_labeled_response_batches_multiple_replies() -> None:
    server = CoreServer()
    lab = server.user("lab", "labeled-response batch message-tags")
    lines = lab.ask("@label=q1 WHOIS lab")
    assert lines[0].startswith("@label=q1 :unit BATCH +")
    assert lines[0].endswith("labeled-response")
    ref = lines[0].split("BATCH +")[1].split()[0]
    assert all(f"batch={ref}" in line for line in lines[1:-1])
    assert lines[-1] == f":unit BATCH -{ref}"
    assert lab.ask("@label=q2 PONG x") == ["@label=q2 :unit ACK"]


def test_input_too_long() -> None:
    server = CoreServer()
    user = server.user("long")
    assert user.ask(b"PRIVMSG #x :" + b"a" * 600) == [":unit 417 long :Input line was too long"]
    assert user.ask(b"@" + b"a" * 5000 + b" PING x") == [":unit 417 long :Input line was too long"]


def test_invalid_utf8_is_refused_and_nothing_else_changes() -> None:
    server = CoreServer()
    user = server.user("utf")
    assert user.ask(b"PRIVMSG utf :\xff\xfe")[0].startswith(":unit FAIL * INVALID_UTF8")
    assert not user.client.closed


def test_history_is_committed_before_the_echo_leaves(tmp_path: Path) -> None:
    """The echo is the sender's acknowledgement: by then the message is on disk."""
    path = tmp_path / "history.sqlite3"
    server = CoreServer(history=path)
    sender = server.user("sender", "echo-message")
    sender.send("JOIN #durable")
    sender.lines()
    sender.send("PRIVMSG #durable :kept on disk")

    def rows_on_disk() -> int:
        with sqlite3.connect(path) as other:
            return int(other.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    assert sender.sink.data == [], "nothing leaves before the loop turn ends"
    seen_on_disk: list[int] = []
    plain_write = sender.sink.write

    def write(data: bytes) -> None:  # the socket, as the echo reaches it
        seen_on_disk.append(rows_on_disk())
        plain_write(data)

    sender.sink.write = write  # type: ignore[method-assign]
    echoes = sender.lines()  # the adapter's end-of-turn flush
    assert echoes[-1].endswith("PRIVMSG #durable :kept on disk")
    assert seen_on_disk == [1], "stored before the acknowledgement was written"
