"""The node over real TCP sockets: what only a real connection and a real process show.

Every command's lines are checked on the core (``tests/node/commands/``);
these run a ``chatnet-node`` process and talk to it over TCP: a whole
conversation, a refused password closing the socket, raw bytes split and
ended every which way, and history that outlives the process. WebSocket and
TLS have their own files.
"""

from __future__ import annotations

from pathlib import Path

from tests.irc import conversation
from tests.irc.client import Clients
from tests.irc.lines import contains
from tests.nodeproc import LOCAL_CLOAK, NodeProcess, make_node

HIST_CAPS = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory"]
# Users are shown cloaked (a keyed hash of 127.0.0.1), never by their address.
WELCOME = f":test 001 alice :Welcome to the TestNet IRC Network alice!~alice@{LOCAL_CLOAK}"


async def test_a_conversation_over_tcp(irc: Clients) -> None:
    alice = await irc.tcp()
    lines = await alice.register("alice", realname="Alice Liddell")
    assert lines[0].raw == WELCOME
    assert [m.command for m in lines][-3:] == ["375", "372", "376"]
    bob = await irc.tcp("bob", caps=["echo-message"])
    await alice.join("#room")
    await bob.join("#room")
    assert (await alice.expect("JOIN")).raw == f":bob!~bob@{LOCAL_CLOAK} JOIN #room"
    await bob.send("PRIVMSG #room :hello over tcp")
    said = f":bob!~bob@{LOCAL_CLOAK} PRIVMSG #room :hello over tcp"
    assert (await bob.expect("PRIVMSG")).raw == said
    assert (await alice.expect("PRIVMSG")).raw == said
    await bob.quit("see you")
    assert (await alice.expect("QUIT")).raw == f":bob!~bob@{LOCAL_CLOAK} QUIT :Quit: see you"


async def test_a_wrong_password_closes_the_socket(tmp_path: Path) -> None:
    node = make_node(tmp_path, password="letmein")
    node.start()
    pool = Clients(node.irc_port)
    try:
        assert (await pool.tcp("good", password="letmein")).nick == "good"
        bad = await pool.tcp()
        await bad.send("PASS wrong")
        await bad.send("NICK bad")
        await bad.send("USER bad 0 * :Bad")
        assert [m.raw for m in await bad.wait_closed()] == [
            ":test 464 bad :Password incorrect",
            f"ERROR :Closing Link: {LOCAL_CLOAK} (Bad password)",
        ]
    finally:
        await pool.aclose()
        node.stop()


async def test_raw_bytes_split_and_ended_every_which_way(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send_bytes(b"PRIVMSG #room :\xff\xfe broken\r\n")
    assert (await alice.expect("FAIL")).params[:2] == ["*", "INVALID_UTF8"]
    await alice.send_bytes(b"\r\n\n   \r\n@only=tags\r\n@a=b \r\n")
    await alice.send_bytes(b"PRIVMSG #room :tail " + b"x" * 600 + b"\r\n")
    assert (await alice.expect("417")).raw == ":test 417 alice :Input line was too long"
    await alice.send_bytes(b"privmsg #room :lower-case, LF only\nPRIVMSG #room :in two")
    await alice.send_bytes(b" parts\r\n")
    assert (await bob.expect("PRIVMSG")).last == "lower-case, LF only"
    assert (await bob.expect("PRIVMSG")).last == "in two parts"


async def test_history_outlives_the_process(tmp_path: Path) -> None:
    node = make_node(tmp_path, name="persist")
    node.start()
    pool = Clients(node.irc_port)
    try:
        alice = await pool.tcp("alice", caps=HIST_CAPS)
        await alice.join("#keep")
        await alice.send("PRIVMSG #keep :before restart")
        echo = await alice.expect("PRIVMSG")
        await alice.quit()
        await pool.aclose()
        node.stop()
        node.start()
        pool = Clients(node.irc_port)
        bob = await pool.tcp("bob", caps=HIST_CAPS)
        await bob.send("CHATHISTORY LATEST #keep * 10")
        replayed = await bob.expect("PRIVMSG")
        assert replayed.last == "before restart"
        assert replayed.tags["msgid"] == echo.tags["msgid"]
        assert replayed.tags["time"] == echo.tags["time"]
    finally:
        await pool.aclose()
        node.stop()


async def test_accounts_and_registered_channels_outlive_a_killed_process(tmp_path: Path) -> None:
    """Records are written at once: a SIGKILL right after loses none of them."""
    await records_outlive_a_kill(make_node(tmp_path, name="persist"))


async def records_outlive_a_kill(node: NodeProcess) -> None:
    """Register an account and a channel with settings, SIGKILL ``node``, start it
    again: IDENTIFY works, and the channel made again has its topic, modes and lists."""
    node.start()
    pool = Clients(node.irc_port)
    password = "correct-horse-battery"
    try:
        alice = await pool.tcp("alice")
        await alice.send(f"PRIVMSG NickServ :REGISTER {password}")
        await alice.expect(contains("Account alice registered"))
        await alice.join("#kept")
        await alice.send("PRIVMSG ChanServ :REGISTER #kept")
        await alice.expect(contains("#kept is registered to alice"))
        await alice.send("TOPIC #kept :a topic that stays")
        await alice.expect("TOPIC")
        await alice.send("MODE #kept +mk-t+l sesame 12")
        await alice.expect("MODE")
        for change in ("+b *!*@banned.example", "+e *!*@friend.example", "+I *!*@guest.example"):
            await alice.send(f"MODE #kept {change}")
            await alice.expect("MODE")
        await alice.sync()
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait(timeout=10)
        await pool.aclose()
        node.start()
        pool = Clients(node.irc_port)
        back = await pool.tcp("back")
        await back.send(f"PRIVMSG NickServ :IDENTIFY alice {password}")
        await back.expect(contains("You are now logged in as alice"))
        await back.send("JOIN #kept sesame")
        joined = await back.collect_until(conversation.end_of_names("#kept"))
        topic = next(m for m in joined if m.command == "332")
        assert topic.last == "a topic that stays"
        names = next(m for m in joined if m.command == "353")
        assert names.last == "@back", "the founder gets op when the channel is made again"
        await back.send("MODE #kept")
        modes = await back.expect("324")
        assert modes.params[2:] == ["+mnkl", "sesame", "12"]
        for letter, numeric, mask in (
            ("b", "367", "*!*@banned.example"),
            ("e", "348", "*!*@friend.example"),
            ("I", "346", "*!*@guest.example"),
        ):
            await back.send(f"MODE #kept +{letter}")
            assert (await back.expect(numeric)).params[2] == mask
    finally:
        await pool.aclose()
        node.stop()
