"""IRCv3 capabilities over real TCP: negotiation and what each capability changes."""

from __future__ import annotations

from tests.ircclient import Clients, IrcClient, Msg

ALL_CAPS = {
    "away-notify",
    "batch",
    "cap-notify",
    "echo-message",
    "extended-join",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "server-time",
    "setname",
    "userhost-in-names",
}


def cap_reply(sub: str) -> object:
    return lambda m: m.command == "CAP" and len(m.params) > 2 and m.params[1] == sub


async def cap_ls(client: IrcClient, version: str = "302") -> dict[str, str]:
    await client.send(f"CAP LS {version}".strip())
    offered: dict[str, str] = {}
    while True:
        line = await client.expect(lambda m: m.command == "CAP" and m.params[1:2] == ["LS"])
        assert line.source == "test"
        for item in line.last.split():
            key, _, value = item.partition("=")
            offered[key] = value
        if line.params[2] != "*":
            return offered


# Negotiation.


async def test_cap_ls_list_req_end(irc: Clients) -> None:
    client = await irc.tcp()
    offered = await cap_ls(client)
    assert set(offered) >= ALL_CAPS
    assert {"chathistory", "draft/chathistory"} & set(offered)
    await client.send("NICK alice")
    await client.send("USER alice 0 * :Alice")
    # Registration waits for CAP END.
    assert "001" not in [m.command for m in await client.sync()]
    await client.send("CAP REQ :multi-prefix server-time")
    ack = await client.expect("CAP")
    assert ack.params[0] in ("*", "alice")  # the nick is known, registration is not done
    assert ack.params[1] == "ACK"
    assert set(ack.last.split()) == {"multi-prefix", "server-time"}
    await client.send("CAP REQ :server-time no-such-cap")
    nak = await client.expect("CAP")
    assert nak.params[1] == "NAK"
    assert set(nak.last.split()) == {"server-time", "no-such-cap"}
    await client.send("CAP LIST")
    listed = await client.expect("CAP")
    assert listed.params[1] == "LIST"
    assert {"multi-prefix", "server-time"} <= set(listed.last.split())
    await client.send("CAP REQ :-multi-prefix")
    assert (await client.expect("CAP")).params[1] == "ACK"
    await client.send("CAP LIST")
    assert "multi-prefix" not in (await client.expect("CAP")).last.split()
    await client.send("CAP END")
    welcome = await client.expect("001")
    assert welcome.params[0] == "alice"
    # CAP works after registration too, addressed to the nick.
    await client.send("CAP REQ :echo-message")
    ack = await client.expect("CAP")
    assert ack.params[:2] == ["alice", "ACK"]


async def test_cap_ls_without_version_and_nak_for_empty(irc: Clients) -> None:
    client = await irc.tcp()
    offered = await cap_ls(client, version="")
    assert set(offered) >= ALL_CAPS
    assert all(value == "" for value in offered.values())
    await client.send("CAP REQ :")
    assert (await client.expect("CAP")).params[1] == "NAK"
    await client.send("CAP END")
    await client.send("NICK bob")
    await client.send("USER bob 0 * :Bob")
    await client.expect("001")


async def test_cap_notify_with_302(irc: Clients) -> None:
    client = await irc.tcp()
    await cap_ls(client)
    await client.send("CAP REQ cap-notify")
    assert (await client.expect("CAP")).params[1] == "ACK"
    await client.send("CAP LIST")
    assert "cap-notify" in (await client.expect("CAP")).last.split()


async def test_registration_without_cap_end_is_held(irc: Clients) -> None:
    client = await irc.tcp()
    await client.send("CAP LS 302")
    await client.send("NICK held")
    await client.send("USER held 0 * :Held")
    lines = await client.sync()
    assert "001" not in [m.command for m in lines]
    await client.send("CAP END")
    await client.expect("001")


# message-tags, msgid, server-time, echo-message, TAGMSG.


async def test_client_tags_relayed_only_to_message_tags_clients(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["message-tags", "echo-message"])
    bob = await irc.tcp("bob", caps=["message-tags"])
    carol = await irc.tcp("carol")
    dave = await irc.tcp("dave", caps=["server-time"])
    for client in (alice, bob, carol, dave):
        await client.join("#room")
    await alice.send(r"@+draft/reply=abc;+example.com/x=a\sb;notclient=1 PRIVMSG #room :hi")
    echo = await alice.expect("PRIVMSG")
    got = await bob.expect("PRIVMSG")
    for msg in (echo, got):
        assert msg.tags["+draft/reply"] == "abc"
        assert msg.tags["+example.com/x"] == "a b"
        assert "notclient" not in msg.tags
        assert msg.tags["msgid"]
        assert "time" not in msg.tags, "time goes only to server-time clients"
    assert echo.tags["msgid"] == got.tags["msgid"]
    plain = await carol.expect("PRIVMSG")
    assert plain.tags == {} and plain.last == "hi"
    timed = await dave.expect("PRIVMSG")
    assert set(timed.tags) == {"time"} and timed.tags["time"].endswith("Z")


async def test_tagmsg(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["message-tags", "echo-message"])
    bob = await irc.tcp("bob", caps=["message-tags"])
    carol = await irc.tcp("carol")
    for client in (alice, bob, carol):
        await client.join("#room")
    await alice.send("@+typing=active TAGMSG #room")
    got = await bob.expect("TAGMSG")
    assert got.nick == "alice" and got.params == ["#room"]
    assert got.tags["+typing"] == "active"
    echo = await alice.expect("TAGMSG")
    assert echo.tags["msgid"] == got.tags["msgid"]
    assert "TAGMSG" not in [m.command for m in await carol.sync()]
    await alice.send("@+typing=paused TAGMSG bob")
    got = await bob.expect("TAGMSG")
    assert got.params == ["bob"] and got.tags["+typing"] == "paused"


async def test_echo_message_for_private_messages(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["echo-message", "message-tags"])
    bob = await irc.tcp("bob", caps=["message-tags"])
    await alice.send("PRIVMSG bob :direct")
    echo = await alice.expect("PRIVMSG")
    assert echo.nick == "alice" and echo.params == ["bob", "direct"]
    got = await bob.expect("PRIVMSG")
    assert got.tags["msgid"] == echo.tags["msgid"]
    await alice.send("NOTICE bob :notice too")
    assert (await alice.expect("NOTICE")).last == "notice too"


async def test_server_time_on_server_messages(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["server-time"])
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    join = await alice.expect("JOIN", "#room")
    assert join.nick == "bob"
    assert join.tags.keys() == {"time"}


# labeled-response and batch.


async def test_labeled_response(irc: Clients) -> None:
    caps = ["labeled-response", "batch", "message-tags"]
    alice = await irc.tcp("alice", caps=caps)
    await irc.tcp("bob")
    # One reply: labelled directly.
    await alice.send("@label=one PING hello")
    pong = await alice.expect("PONG")
    assert pong.tags["label"] == "one"
    # Several replies: a labeled-response batch.
    await alice.send("@label=two JOIN #room")
    start = await alice.expect("BATCH")
    assert start.tags["label"] == "two"
    assert start.params[0].startswith("+") and start.params[1] == "labeled-response"
    ref = start.params[0][1:]
    lines = await alice.collect_until("BATCH", f"-{ref}")
    body = lines[:-1]
    assert [m.command for m in body] == ["JOIN", "353", "366"]
    assert all(m.tags.get("batch") == ref for m in body)
    assert all("label" not in m.tags for m in body)
    # No reply: ACK.
    await alice.send("@label=three PRIVMSG bob :quiet")
    ack = await alice.expect("ACK")
    assert ack.tags["label"] == "three" and ack.source == "test"
    # An error is labelled too.
    await alice.send("@label=four PRIVMSG nobody :x")
    err = await alice.expect("401")
    assert err.tags["label"] == "four"
    # No label, no tags.
    await alice.send("PING again")
    assert "label" not in (await alice.expect("PONG")).tags


async def test_labeled_response_with_echo_message(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["labeled-response", "echo-message", "batch"])
    bob = await irc.tcp("bob")
    await alice.send("@label=e1 PRIVMSG bob :echoed")
    echo = await alice.expect("PRIVMSG")
    assert echo.tags["label"] == "e1"
    assert "label" not in (await bob.expect("PRIVMSG")).tags


async def test_label_ignored_without_the_cap(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    await alice.send("@label=x PING y")
    pong = await alice.expect("PONG")
    assert pong.tags == {}


# multi-prefix, userhost-in-names, extended-join, away-notify, setname.


async def test_multi_prefix(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["multi-prefix"])
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send("MODE #room +v alice")
    await alice.expect("MODE")
    await alice.send("NAMES #room")
    assert sorted((await alice.expect("353")).last.split()) == ["@+alice", "bob"]
    await bob.send("NAMES #room")
    assert sorted((await bob.expect("353")).last.split()) == ["@alice", "bob"]
    await alice.send("WHO #room")
    rows = [m for m in await alice.collect_until("315") if m.command == "352"]
    assert {m.params[5]: m.params[6] for m in rows}["alice"] == "H@+"
    await alice.send("WHOIS alice")
    assert (await alice.expect("319")).last == "@+#room"


async def test_userhost_in_names(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["userhost-in-names"])
    await alice.send("JOIN #room")
    names = await alice.expect("353")
    assert names.last == "@alice!~alice@127.0.0.1"


async def test_extended_join(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["extended-join"])
    bob = await irc.tcp("bob", realname="Bob the Builder")
    carol = await irc.tcp("carol")
    await alice.join("#room")
    await carol.join("#room")
    await bob.join("#room")
    extended = await alice.expect(lambda m: m.command == "JOIN" and m.nick == "bob")
    assert extended.params == ["#room", "*", "Bob the Builder"]
    plain = await carol.expect(lambda m: m.command == "JOIN" and m.nick == "bob")
    assert plain.params == ["#room"]


async def test_away_notify(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["away-notify"])
    bob = await irc.tcp("bob")
    carol = await irc.tcp("carol")
    await alice.join("#room")
    await bob.join("#room")
    await carol.join("#room")
    await bob.send("AWAY :brb")
    await bob.expect("306")
    note = await alice.expect("AWAY")
    assert note.nick == "bob" and note.params == ["brb"]
    await bob.send("AWAY")
    back = await alice.expect("AWAY")
    assert back.nick == "bob" and back.params == []
    assert "AWAY" not in [m.command for m in await carol.sync()]
    # Saying "not away" again changes nothing, so nobody is told.
    await bob.send("AWAY")
    await bob.expect("305")
    assert "AWAY" not in [m.command for m in await alice.sync()]
    # Joining while away tells away-notify members.
    dave = await irc.tcp("dave")
    await dave.send("AWAY :not here")
    await dave.join("#room")
    await alice.expect("JOIN")
    note = await alice.expect("AWAY")
    assert note.nick == "dave" and note.params == ["not here"]


async def test_setname_cap(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["setname"])
    bob = await irc.tcp("bob", caps=["setname"])
    carol = await irc.tcp("carol")
    for client in (alice, bob, carol):
        await client.join("#room")
    await alice.send("SETNAME :Alice in Wonderland")
    for client in (alice, bob):
        change = await client.expect("SETNAME")
        assert change.nick == "alice" and change.params == ["Alice in Wonderland"]
    assert "SETNAME" not in [m.command for m in await carol.sync()]


async def test_batch_for_chathistory(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["batch", "echo-message", "draft/chathistory"])
    await alice.join("#room")
    await alice.send("PRIVMSG #room :kept")
    await alice.expect("PRIVMSG")
    await alice.send("CHATHISTORY LATEST #room * 5")
    start: Msg = await alice.expect("BATCH")
    assert start.params[1:] == ["chathistory", "#room"]
    lines = await alice.collect_until("BATCH", "-" + start.params[0][1:])
    assert [m.last for m in lines[:-1]] == ["kept"]
