"""Every command of issue 3 against a real node over real TCP sockets.

Numerics and their wording follow modern.ircdocs.horse; where real servers
word a reply differently (``Erroneus`` versus ``Erroneous``), either is taken.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from tests.ircclient import Clients, IrcClient, Msg
from tests.nodeproc import make_node


def numeric(msg: Msg, code: str, *params: str, text: str | None = None) -> None:
    """Assert ``msg`` is numeric ``code`` with these leading params (after the
    client's nick) and, when given, this last parameter."""
    assert msg.command == code, msg.raw
    assert msg.source == "test", msg.raw
    assert msg.params[1 : 1 + len(params)] == list(params), msg.raw
    if text is not None:
        assert msg.last == text, msg.raw


def commands(lines: list[Msg]) -> list[str]:
    return [m.command for m in lines]


# Registration.


async def test_welcome_burst(irc: Clients) -> None:
    client = await irc.tcp()
    await client.send("NICK alice")
    await client.send("USER alice 0 * :Alice Liddell")
    lines = await client.collect_until("376")
    codes = commands(lines)
    for code in ("001", "002", "003", "004", "005", "251", "255", "375", "372", "376"):
        assert code in codes, code
    welcome = lines[codes.index("001")]
    assert welcome.params[0] == "alice"
    assert welcome.last == "Welcome to the TestNet IRC Network alice!~alice@127.0.0.1"
    myinfo = lines[codes.index("004")]
    assert myinfo.params[1] == "test"
    numeric(lines[-1], "376", text="End of /MOTD command.")


async def test_server_password(tmp_path: Path) -> None:
    node = make_node(tmp_path, password="letmein")
    node.start()
    pool = Clients(node.irc_port)
    try:
        good = await pool.tcp("good", password="letmein")
        assert good.nick == "good"
        bad = await pool.tcp()
        await bad.send("PASS wrong")
        await bad.send("NICK bad")
        await bad.send("USER bad 0 * :Bad")
        lines = await bad.wait_closed()
        numeric(lines[0], "464", text="Password incorrect")
        assert lines[-1].command == "ERROR"
        missing = await pool.tcp()
        await missing.send("NICK nopass")
        await missing.send("USER nopass 0 * :No pass")
        lines = await missing.wait_closed()
        assert commands(lines) == ["464", "ERROR"]
    finally:
        await pool.aclose()
        node.stop()


async def test_nick_rules(irc: Clients) -> None:
    await irc.tcp("alice")
    client = await irc.tcp()
    await client.send("NICK")
    numeric(await client.expect("431"), "431", text="No nickname given")
    for bad in ("1digit", "-dash", "has.dot", "x" * 31, "#chan"):
        await client.send(f"NICK {bad}")
        reply = await client.expect("432")
        assert reply.params[1] == bad
        assert re.fullmatch(r"Erroneo?us nickname", reply.last, re.IGNORECASE), reply.raw
    await client.send("NICK Alice")  # rfc1459 case mapping: taken
    numeric(await client.expect("433"), "433", "Alice", text="Nickname is already in use")
    await client.send("NICK [bob]")
    await client.send("USER bob 0 * :Bob")
    await client.expect("001")
    other = await irc.tcp()
    await other.send("NICK {BOB}")  # folds to [bob]
    await other.expect("433", "*", "{BOB}")


async def test_nick_change_is_seen_by_self_and_peers(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send("NICK alicia")
    mine = await alice.expect("NICK")
    assert mine.source is not None and mine.source.startswith("alice!")
    assert mine.params == ["alicia"]
    theirs = await bob.expect("NICK")
    assert theirs.nick == "alice" and theirs.params == ["alicia"]
    await bob.send("PRIVMSG alicia :found you")
    assert (await alice.expect("PRIVMSG")).last == "found you"
    await bob.send("PRIVMSG alice :old nick")
    await bob.expect("401", "bob", "alice")


async def test_user_needs_params_and_commands_need_registration(irc: Clients) -> None:
    client = await irc.tcp()
    await client.send("USER onlyone")
    numeric(await client.expect("461"), "461", "USER", text="Not enough parameters")
    await client.send("JOIN #early")
    reply = await client.expect("451")
    assert reply.params[0] == "*"
    assert reply.last == "You have not registered"
    await client.send("PRIVMSG x :y")
    await client.expect("451")
    await client.send("NICK late")
    await client.send("USER late 0 * :Late")
    await client.expect("001")
    await client.send("USER again 0 * :Again")
    numeric(await client.expect("462"), "462", text="You may not reregister")
    await client.send("PASS whatever")
    await client.expect("462")


async def test_ping_pong_and_unknown_command(irc: Clients) -> None:
    client = await irc.tcp()
    await client.send("PING :before registration")
    pong = await client.expect("PONG")
    assert pong.params == ["test", "before registration"]
    await client.register("alice")
    await client.send("PING abc")
    pong = await client.expect("PONG")
    assert pong.source == "test" and pong.params == ["test", "abc"]
    await client.send("PONG :whatever")  # answering nothing is harmless
    assert await client.sync() == []
    await client.send("FROBNICATE a b")
    numeric(await client.expect("421"), "421", "FROBNICATE", text="Unknown command")
    await client.send("frobnicate")
    await client.expect("421", "alice", "FROBNICATE")


async def test_quit(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await bob.send("QUIT :see you")
    lines = await bob.wait_closed()
    assert lines[-1].command == "ERROR"
    quit_ = await alice.expect("QUIT")
    assert quit_.nick == "bob"
    assert "see you" in quit_.last
    await alice.send("NAMES #room")
    names = await alice.expect("353")
    assert names.last == "@alice"


# Channels.


async def test_join_several_with_keys_and_join_0(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.send("JOIN #one,#two,#three")
    for name in ("#one", "#two", "#three"):
        joined = await alice.expect("JOIN", name)
        assert joined.nick == "alice"
        numeric(await alice.expect("353"), "353", "=", name, text="@alice")
        numeric(await alice.expect("366"), "366", name, text="End of /NAMES list")
    await alice.send("MODE #one +k k1")
    await alice.send("MODE #two +k k2")
    await alice.expect("MODE", "#two")
    await bob.send("JOIN #one,#two,#three k1,wrong")
    await bob.expect("JOIN", "#one")
    numeric(await bob.expect("475"), "475", "#two", text="Cannot join channel (+k)")
    await bob.expect("JOIN", "#three")
    await bob.send("JOIN #two k2")
    await bob.expect("JOIN", "#two")
    await bob.expect("366", "bob", "#two")
    await bob.send("JOIN 0")
    parted = [m.params[0] for m in await bob.sync() if m.command == "PART"]
    assert sorted(parted) == ["#one", "#three", "#two"]
    await bob.send("WHOIS bob")
    lines = await bob.collect_until("318")
    assert "319" not in commands(lines)
    seen = [m.params[0] for m in await alice.sync() if m.command == "PART" and m.nick == "bob"]
    assert sorted(seen) == ["#one", "#three", "#two"]


async def test_join_bad_names_and_rejoin(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    await alice.send("JOIN nochan")
    reply = await alice.expect(lambda m: m.command in ("403", "476", "479"))
    assert reply.params[1] == "nochan"
    await alice.send("JOIN #" + "x" * 60)
    await alice.expect(lambda m: m.command in ("403", "476", "479"))
    await alice.join("#room")
    await alice.send("JOIN #room")  # already there: nothing happens
    assert await alice.sync() == []
    await alice.send("JOIN")
    await alice.expect("461", "alice", "JOIN")


async def test_part(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room", "#other")
    await bob.join("#room")
    await bob.send("PART #room :going home")
    for client in (alice, bob):
        parted = await client.expect("PART")
        assert parted.nick == "bob"
        assert parted.params == ["#room", "going home"]
    await bob.send("PART #nowhere")
    numeric(await bob.expect("403"), "403", "#nowhere", text="No such channel")
    await bob.send("PART #other")
    numeric(await bob.expect("442"), "442", "#other", text="You're not on that channel")
    await alice.send("PART #room,#other")
    assert [m.params[0] for m in await alice.collect_until("PART", "#other")] == [
        "#room",
        "#other",
    ]


# Messages.


async def test_privmsg_and_notice_to_channels_and_nicks(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    carol = await irc.tcp("carol")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send("PRIVMSG #room :hello room")
    got = await bob.expect("PRIVMSG")
    assert got.source is not None and got.source.startswith("alice!~alice@")
    assert got.params == ["#room", "hello room"]
    await alice.send("NOTICE bob :psst")
    got = await bob.expect("NOTICE")
    assert got.nick == "alice" and got.params == ["bob", "psst"]
    await alice.send("PRIVMSG #room,carol :to both")
    assert (await bob.expect("PRIVMSG")).params == ["#room", "to both"]
    assert (await carol.expect("PRIVMSG")).params == ["carol", "to both"]
    # The sender sees nothing of its own message without echo-message.
    assert "PRIVMSG" not in commands(await alice.sync())
    await alice.send("PRIVMSG BOB :case folded")
    got = await bob.expect("PRIVMSG")
    assert got.params == ["bob", "case folded"]


async def test_message_errors(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await bob.join("#room")
    await alice.send("PRIVMSG nobody :hi")
    numeric(await alice.expect("401"), "401", "nobody", text="No such nick/channel")
    await alice.send("PRIVMSG #nowhere :hi")
    reply = await alice.expect(lambda m: m.command in ("401", "403"))
    assert reply.params[1] == "#nowhere"
    await alice.send("PRIVMSG #room :from outside")  # +n
    numeric(await alice.expect("404"), "404", "#room", text="Cannot send to channel")
    await alice.send("PRIVMSG")
    numeric(await alice.expect("411"), "411", text="No recipient given (PRIVMSG)")
    await alice.send("PRIVMSG bob")
    numeric(await alice.expect("412"), "412", text="No text to send")
    await alice.send("PRIVMSG bob :")
    await alice.expect("412")
    # TARGMAX=PRIVMSG:4 - the extra targets are refused out loud, not dropped silently.
    await alice.send("PRIVMSG alice,ghost1,ghost2,bob,nobody :five")
    numeric(await alice.expect("407"), "407", "nobody")
    assert [m.last for m in await alice.sync() if m.command == "PRIVMSG"] == ["five"]
    assert [m.last for m in await bob.sync() if m.command == "PRIVMSG"] == ["five"]
    # A target named twice (in any case) gets one copy.
    await alice.send("PRIVMSG bob,BOB,Bob :once")
    assert [m.last for m in await bob.sync() if m.command == "PRIVMSG"] == ["once"]
    # NOTICE never triggers automatic replies.
    await alice.send("NOTICE nobody :hi")
    await alice.send("NOTICE #room :hi")
    await alice.send("NOTICE #nowhere :hi")
    assert await alice.sync() == []
    assert "NOTICE" not in commands(await bob.sync())


# TOPIC, NAMES, LIST.


async def test_topic(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await bob.send("TOPIC #room")
    numeric(await bob.expect("331"), "331", "#room", text="No topic is set")
    before = int(time.time())
    await alice.send("TOPIC #room :the topic here")
    for client in (alice, bob):
        change = await client.expect("TOPIC")
        assert change.nick == "alice" and change.params == ["#room", "the topic here"]
    await bob.send("TOPIC #room")
    numeric(await bob.expect("332"), "332", "#room", text="the topic here")
    whotime = await bob.expect("333")
    assert whotime.params[1] == "#room"
    assert whotime.params[2].split("!")[0] == "alice"
    assert before - 1 <= int(whotime.params[3]) <= time.time() + 1
    # +t is on by default: only operators set the topic.
    await bob.send("TOPIC #room :mine now")
    numeric(await bob.expect("482"), "482", "#room", text="You're not channel operator")
    await alice.send("MODE #room -t")
    await bob.expect("MODE")
    await bob.send("TOPIC #room :mine now")
    assert (await alice.expect("TOPIC")).params == ["#room", "mine now"]
    # A new member gets the topic on JOIN.
    carol = await irc.tcp("carol")
    await carol.send("JOIN #room")
    lines = await carol.collect_until("366")
    assert commands(lines) == ["JOIN", "332", "333", "353", "366"]
    await carol.send("TOPIC #nowhere")
    await carol.expect("403", "carol", "#nowhere")
    await carol.send("TOPIC #room :")  # empty clears (not an op, but -t)
    cleared = await alice.expect("TOPIC")
    assert cleared.params == ["#room", ""]


async def test_names(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    carol = await irc.tcp("carol")
    await alice.join("#room")
    await bob.join("#room")
    await carol.send("NAMES #room")
    reply = await carol.expect("353")
    numeric(reply, "353", "=", "#room")
    assert sorted(reply.last.split()) == ["@alice", "bob"]
    numeric(await carol.expect("366"), "366", "#room", text="End of /NAMES list")
    await carol.send("NAMES #nowhere")
    numeric(await carol.expect("366"), "366", "#nowhere")
    # Invisible users are hidden from NAMES of people outside the channel.
    await bob.send("MODE bob +i")
    await bob.expect("MODE")
    await carol.send("NAMES #room")
    assert (await carol.expect("353")).last == "@alice"
    await alice.send("NAMES #room")
    assert sorted((await alice.expect("353")).last.split()) == ["@alice", "bob"]


async def test_list(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#public", "#secret")
    await alice.send("TOPIC #public :come in")
    await alice.send("MODE #secret +s")
    await alice.expect("MODE", "#secret")
    await bob.send("LIST")
    lines = await bob.collect_until("323")
    numeric(lines[0], "321", "Channel", text="Users  Name")
    entries = {m.params[1]: m for m in lines if m.command == "322"}
    assert set(entries) == {"#public"}
    assert entries["#public"].params[2] == "1"
    assert entries["#public"].last.endswith("come in")
    numeric(lines[-1], "323", text="End of /LIST")
    await alice.send("LIST")
    lines = await alice.collect_until("323")
    assert {m.params[1] for m in lines if m.command == "322"} == {"#public", "#secret"}
    await bob.send("LIST #public")
    lines = await bob.collect_until("323")
    assert [m.params[1] for m in lines if m.command == "322"] == ["#public"]


# MODE.


async def test_channel_mode_query_and_errors(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await bob.send("MODE #room")
    reply = await bob.expect("324")
    assert reply.params[1] == "#room"
    assert set(reply.params[2]) == set("+nt")
    created = await bob.expect("329")
    assert created.params[1] == "#room" and created.params[2].isdigit()
    await bob.send("MODE #room +m")
    numeric(await bob.expect("482"), "482", "#room", text="You're not channel operator")
    await alice.send("MODE #room +z")
    numeric(await alice.expect("472"), "472", "z")
    await alice.send("MODE #nowhere +m")
    await alice.expect("403", "alice", "#nowhere")
    await alice.send("MODE #room +o nobody")
    await alice.expect("401", "alice", "nobody")


async def test_op_and_voice(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send("MODE #room +o bob")
    for client in (alice, bob):
        change = await client.expect("MODE")
        assert change.nick == "alice" and change.params == ["#room", "+o", "bob"]
    await bob.send("MODE #room +v alice")
    change = await alice.expect("MODE")
    assert change.nick == "bob" and change.params == ["#room", "+v", "alice"]
    await alice.send("NAMES #room")
    assert sorted((await alice.expect("353")).last.split()) == ["@alice", "@bob"]
    await bob.send("MODE #room -o alice")
    await alice.expect("MODE", "#room", "-o", "alice")
    await alice.send("NAMES #room")
    assert sorted((await alice.expect("353")).last.split()) == ["+alice", "@bob"]
    await alice.send("MODE #room +m")
    await alice.expect("482")


async def test_key_and_limit(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    carol = await irc.tcp("carol")
    await alice.join("#room")
    await alice.send("MODE #room +k")
    numeric(await alice.expect("461"), "461", "MODE", text="Not enough parameters")
    await alice.send("MODE #room +k sesame")
    assert (await alice.expect("MODE")).params == ["#room", "+k", "sesame"]
    await bob.send("JOIN #room")
    numeric(await bob.expect("475"), "475", "#room", text="Cannot join channel (+k)")
    await bob.send("JOIN #room wrong")
    await bob.expect("475")
    await bob.send("JOIN #room sesame")
    await bob.expect("366", "bob", "#room")
    await alice.send("MODE #room -k+l sesame 2")
    change = await alice.expect("MODE")
    assert change.params[1] == "-k+l"
    assert change.params[-1] == "2"
    await carol.send("JOIN #room")
    numeric(await carol.expect("471"), "471", "#room", text="Cannot join channel (+l)")
    await bob.send("PART #room")
    await carol.send("JOIN #room")
    await carol.expect("366", "carol", "#room")
    await alice.send("MODE #room")
    reply = await alice.expect("324")
    assert "l" in reply.params[2] and "k" not in reply.params[2]
    assert reply.params[3:] == ["2"]


async def test_invite_only_and_invite(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await alice.send("MODE #room +i")
    await alice.expect("MODE")
    await bob.send("JOIN #room")
    numeric(await bob.expect("473"), "473", "#room", text="Cannot join channel (+i)")
    await alice.send("INVITE bob #room")
    numeric(await alice.expect("341"), "341", "bob", "#room")
    invite = await bob.expect("INVITE")
    assert invite.nick == "alice" and invite.params == ["bob", "#room"]
    await bob.send("JOIN #room")
    await bob.expect("366", "bob", "#room")
    await alice.send("INVITE bob #room")
    numeric(await alice.expect("443"), "443", "bob", "#room")
    await alice.send("INVITE nobody #room")
    await alice.expect("401", "alice", "nobody")
    await bob.send("INVITE alice #room")
    await bob.expect("443")
    carol = await irc.tcp("carol")
    await bob.send("INVITE carol #room")  # +i: only operators invite
    await bob.expect("482", "bob", "#room")
    await carol.send("INVITE bob #room")
    await carol.expect("442", "carol", "#room")


async def test_ban(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send("MODE #room +b bob")
    change = await alice.expect("MODE")
    assert change.params == ["#room", "+b", "bob!*@*"]
    await bob.send("PRIVMSG #room :can I talk?")
    numeric(await bob.expect("404"), "404", "#room")
    await bob.send("PART #room")
    await bob.send("JOIN #room")
    numeric(await bob.expect("474"), "474", "#room", text="Cannot join channel (+b)")
    await alice.send("MODE #room +b")
    banlist = await alice.expect("367")
    assert banlist.params[1:3] == ["#room", "bob!*@*"]
    assert banlist.params[3].startswith("alice!")
    await alice.expect("368", "alice", "#room")
    await alice.send("MODE #room -b bob!*@*")
    await alice.expect("MODE", "#room", "-b")
    await bob.send("JOIN #room")
    await bob.expect("366", "bob", "#room")


async def test_moderated_and_no_external(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    carol = await irc.tcp("carol")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send("MODE #room +m")
    await alice.expect("MODE")
    await bob.send("PRIVMSG #room :muted?")
    numeric(await bob.expect("404"), "404", "#room", text="Cannot send to channel")
    await alice.send("MODE #room +v bob")
    await bob.expect("MODE", "#room", "+v")
    await bob.send("PRIVMSG #room :voiced now")
    assert (await alice.expect("PRIVMSG")).last == "voiced now"
    await alice.send("MODE #room -m")
    await carol.send("PRIVMSG #room :from outside")
    await carol.expect("404")
    await alice.send("MODE #room -n")
    await alice.expect("MODE", "#room", "-n")
    await carol.send("PRIVMSG #room :from outside")
    got = await alice.expect("PRIVMSG")
    assert got.nick == "carol" and got.last == "from outside"


async def test_user_mode(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    await irc.tcp("bob")
    await alice.send("MODE alice")
    numeric(await alice.expect("221"), "221", text="+")
    await alice.send("MODE alice +i")
    change = await alice.expect("MODE")
    assert change.params == ["alice", "+i"]
    await alice.send("MODE alice")
    numeric(await alice.expect("221"), "221", text="+i")
    await alice.send("MODE bob +i")
    await alice.expect("502")
    await alice.send("MODE alice +Z")
    await alice.expect("501")
    await alice.send("MODE alice -i")
    assert (await alice.expect("MODE")).params == ["alice", "-i"]


async def test_kick(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await bob.send("KICK #room alice :no")
    numeric(await bob.expect("482"), "482", "#room", text="You're not channel operator")
    await alice.send("KICK #room bob :behave")
    for client in (alice, bob):
        kick = await client.expect("KICK")
        assert kick.nick == "alice" and kick.params == ["#room", "bob", "behave"]
    await bob.send("PRIVMSG #room :still here?")
    await bob.expect("404")
    await alice.send("KICK #room bob")
    numeric(await alice.expect("441"), "441", "bob", "#room", text="They aren't on that channel")
    await alice.send("KICK #nowhere bob")
    await alice.expect("403")


# WHO, WHOIS, WHOWAS, AWAY.


async def test_who(irc: Clients) -> None:
    alice = await irc.tcp("alice", realname="Alice Liddell")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await bob.send("WHO #room")
    lines = await bob.collect_until("315")
    replies = {m.params[5]: m for m in lines if m.command == "352"}
    assert set(replies) == {"alice", "bob"}
    row = replies["alice"]
    assert row.params[1:5] == ["#room", "~alice", "127.0.0.1", "test"]
    assert row.params[6] == "H@"
    assert row.last == "0 Alice Liddell"
    numeric(lines[-1], "315", "#room", text="End of WHO list")
    await bob.send("WHO alice")
    lines = await bob.collect_until("315")
    assert [m.params[5] for m in lines if m.command == "352"] == ["alice"]
    await alice.send("AWAY :lunch")
    await bob.send("WHO alice")
    row = (await bob.collect_until("315"))[-2]
    assert row.params[6].startswith("G")


async def test_whois(irc: Clients) -> None:
    alice = await irc.tcp("alice", realname="Alice Liddell")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.send("WHOIS alice")
    lines = await bob.collect_until("318")
    by_code = {m.command: m for m in lines}
    numeric(by_code["311"], "311", "alice", "~alice", "127.0.0.1", "*", text="Alice Liddell")
    numeric(by_code["312"], "312", "alice", "test")
    numeric(by_code["319"], "319", "alice", text="@#room")
    idle = by_code["317"]
    assert idle.params[1] == "alice" and idle.params[2].isdigit() and idle.params[3].isdigit()
    assert abs(int(idle.params[3]) - time.time()) < 60
    numeric(by_code["318"], "318", "alice", text="End of /WHOIS list")
    await bob.send("WHOIS nobody")
    numeric(await bob.expect("401"), "401", "nobody", text="No such nick/channel")
    await bob.expect("318", "bob", "nobody")


async def test_whowas(irc: Clients) -> None:
    alice = await irc.tcp("alice", realname="Alice Liddell")
    bob = await irc.tcp("bob")
    await alice.quit()
    await bob.send("WHOWAS alice")
    lines = await bob.collect_until("369")
    numeric(lines[0], "314", "alice", "~alice", "127.0.0.1", "*", text="Alice Liddell")
    assert "312" in commands(lines)
    numeric(lines[-1], "369", "alice", text="End of WHOWAS")
    await bob.send("WHOWAS nobody")
    numeric(await bob.expect("406"), "406", "nobody", text="There was no such nickname")
    await bob.expect("369", "bob", "nobody")


async def test_away(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.send("AWAY :gone fishing")
    numeric(await alice.expect("306"), "306", text="You have been marked as being away")
    await bob.send("PRIVMSG alice :are you there?")
    numeric(await bob.expect("301"), "301", "alice", text="gone fishing")
    assert (await alice.expect("PRIVMSG")).last == "are you there?"
    await bob.send("NOTICE alice :no auto reply for notices")
    assert "301" not in commands(await bob.sync())
    await bob.send("WHOIS alice")
    assert "301" in commands(await bob.collect_until("318"))
    await alice.send("AWAY")
    numeric(await alice.expect("305"), "305", text="You are no longer marked as being away")
    await bob.send("PRIVMSG alice :back?")
    assert "301" not in commands(await bob.sync())


# Server queries.


async def test_isupport(irc: Clients) -> None:
    client = await irc.tcp()
    await client.send("NICK alice")
    await client.send("USER alice 0 * :A")
    lines = await client.collect_until("376")
    tokens: dict[str, str] = {}
    for line in lines:
        if line.command == "005":
            assert line.last == "are supported by this server"
            assert len(line.params) - 2 <= 13
            for token in line.params[1:-1]:
                key, _, value = token.partition("=")
                tokens[key] = value
    assert tokens["NETWORK"] == "TestNet"
    assert tokens["CHANTYPES"] == "#"
    assert tokens["PREFIX"] == "(ov)@+"
    assert tokens["CASEMAPPING"] in ("rfc1459", "ascii")
    chanmodes = tokens["CHANMODES"].split(",")
    assert "b" in chanmodes[0] and "k" in chanmodes[1] and "l" in chanmodes[2]
    assert set("imnst") <= set(chanmodes[3])
    for key in ("NICKLEN", "CHANNELLEN", "TOPICLEN", "KICKLEN", "AWAYLEN", "CHATHISTORY"):
        assert tokens[key].isdigit(), key
    assert "MSGREFTYPES" in tokens
    await client.send("VERSION")
    lines = await client.collect_until(lambda m: m.command == "005")
    version = lines[-2]
    assert version.command == "351"
    assert version.params[1].startswith("chatnet") and version.params[2] == "test"


async def test_motd_lusers_time_admin_info_links(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    await alice.send("MOTD")
    lines = await alice.collect_until("376")
    assert commands(lines) == ["375", "372", "376"]
    numeric(lines[0], "375", text="- test Message of the day - ")
    assert lines[1].last == "- Welcome to chatnet."
    await alice.send("LUSERS")
    lines = await alice.collect_until("266")
    numeric(lines[0], "251", text="There are 1 users and 0 invisible on 1 servers")
    assert {"254", "255", "265", "266"} <= set(commands(lines))
    await alice.send("TIME")
    reply = await alice.expect("391")
    assert reply.params[1] == "test"
    assert re.search(r"\d{2}:\d{2}:\d{2}", reply.last)
    await alice.send("ADMIN")
    lines = await alice.collect_until("259")
    assert commands(lines) == ["256", "257", "258", "259"]
    assert lines[-1].last == "admin@example.invalid"
    await alice.send("INFO")
    lines = await alice.collect_until("374")
    assert commands(lines)[:-1] == ["371"] * (len(lines) - 1) and len(lines) > 1
    numeric(lines[-1], "374", text="End of INFO list")
    await alice.send("LINKS")
    lines = await alice.collect_until("365")
    numeric(lines[0], "364", "test", "test")
    assert lines[0].last.startswith("0 ")
    numeric(lines[-1], "365", "*", text="End of /LINKS list")


async def test_no_motd(tmp_path: Path) -> None:
    node = make_node(tmp_path, motd="")
    node.start()
    pool = Clients(node.irc_port)
    try:
        client = await pool.tcp()
        await client.send("NICK alice")
        await client.send("USER alice 0 * :A")
        lines = await client.collect_until("422")
        numeric(lines[-1], "422", text="MOTD File is missing")
    finally:
        await pool.aclose()
        node.stop()


# OPER and KILL.


async def test_oper_and_kill(tmp_path: Path) -> None:
    node = make_node(tmp_path, operators=[{"name": "admin", "password": "pw"}])
    node.start()
    pool = Clients(node.irc_port)
    try:
        alice = await pool.tcp("alice")
        bob = await pool.tcp("bob")
        await alice.join("#room")
        await bob.join("#room")
        await bob.send("KILL alice :nope")
        numeric(
            await bob.expect("481"),
            "481",
            text="Permission Denied- You're not an IRC operator",
        )
        await alice.send("OPER admin wrong")
        numeric(await alice.expect("464"), "464", text="Password incorrect")
        await alice.send("OPER nobody pw")
        await alice.expect("464")
        await alice.send("OPER admin pw")
        numeric(await alice.expect("381"), "381", text="You are now an IRC operator")
        assert (await alice.expect("MODE")).params == ["alice", "+o"]
        await alice.send("WHOIS alice")
        assert "313" in commands(await alice.collect_until("318"))
        await alice.send("KILL nobody :x")
        await alice.expect("401", "alice", "nobody")
        await alice.send("KILL bob :spamming")
        lines = await bob.wait_closed()
        error = lines[-1]
        assert error.command == "ERROR"
        assert "Killed" in error.last and "spamming" in error.last
        quit_ = await alice.expect("QUIT")
        assert quit_.nick == "bob" and "Killed" in quit_.last
    finally:
        await pool.aclose()
        node.stop()


# SETNAME.


async def test_setname(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["setname"])
    bob = await irc.tcp("bob")
    await alice.send("SETNAME :Alice Pleasance")
    change = await alice.expect("SETNAME")
    assert change.nick == "alice" and change.params == ["Alice Pleasance"]
    await bob.send("WHOIS alice")
    assert (await bob.expect("311")).last == "Alice Pleasance"
    await alice.send("SETNAME :" + "x" * 300)
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ["SETNAME", "INVALID_REALNAME"]


# CHATHISTORY.


async def _say(client: IrcClient, target: str, texts: list[str]) -> list[Msg]:
    """Send messages with echo-message on and return the echoes (with msgid, time)."""
    echoes = []
    for text in texts:
        await asyncio.sleep(0.003)  # distinct server-time values (millisecond precision)
        await client.send(f"PRIVMSG {target} :{text}")
        echoes.append(await client.expect(lambda m, t=text: m.command == "PRIVMSG" and m.last == t))
    return echoes


HIST_CAPS = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory"]


async def _history(client: IrcClient, line: str) -> tuple[Msg, list[Msg]]:
    """Send a CHATHISTORY request; return the batch start and its messages."""
    await client.send(line)
    start = await client.expect("BATCH")
    assert start.params[0].startswith("+"), start.raw
    ref = start.params[0][1:]
    lines = await client.collect_until("BATCH", f"-{ref}")
    body = lines[:-1]
    assert all(m.tags.get("batch") == ref for m in body), [m.raw for m in body]
    return start, body


def texts(lines: list[Msg]) -> list[str]:
    return [m.last for m in lines]


async def test_chathistory_subcommands(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=HIST_CAPS)
    await alice.join("#hist")
    echoes = await _say(alice, "#hist", [f"m{i}" for i in range(10)])
    ids = [m.tags["msgid"] for m in echoes]
    times = [m.tags["time"] for m in echoes]
    assert len(set(ids)) == 10

    start, body = await _history(alice, "CHATHISTORY LATEST #hist * 3")
    assert start.params[1:] == ["chathistory", "#hist"]
    assert texts(body) == ["m7", "m8", "m9"]
    assert body[0].tags["msgid"] == ids[7] and body[0].tags["time"] == times[7]
    assert body[0].nick == "alice" and body[0].params[0] == "#hist"

    _, body = await _history(alice, f"CHATHISTORY LATEST #hist msgid={ids[6]} 10")
    assert texts(body) == ["m7", "m8", "m9"]
    _, body = await _history(alice, f"CHATHISTORY BEFORE #hist msgid={ids[5]} 2")
    assert texts(body) == ["m3", "m4"]
    _, body = await _history(alice, f"CHATHISTORY AFTER #hist msgid={ids[5]} 2")
    assert texts(body) == ["m6", "m7"]
    _, body = await _history(alice, f"CHATHISTORY AROUND #hist msgid={ids[5]} 3")
    assert "m5" in texts(body) and len(body) == 3
    assert texts(body) == sorted(texts(body))
    _, body = await _history(alice, f"CHATHISTORY BETWEEN #hist msgid={ids[2]} msgid={ids[6]} 10")
    assert texts(body) == ["m3", "m4", "m5"]
    _, body = await _history(alice, f"CHATHISTORY BETWEEN #hist msgid={ids[6]} msgid={ids[2]} 2")
    assert texts(body) == ["m4", "m5"]
    # Timestamp references are exclusive too.
    assert len(set(times)) == 10
    _, body = await _history(alice, f"CHATHISTORY AFTER #hist timestamp={times[7]} 10")
    assert texts(body) == ["m8", "m9"]
    _, body = await _history(alice, f"CHATHISTORY BEFORE #hist timestamp={times[2]} 10")
    assert texts(body) == ["m0", "m1"]
    _, body = await _history(alice, f"CHATHISTORY LATEST #hist timestamp={times[7]} 10")
    assert texts(body) == ["m8", "m9"]
    _, body = await _history(
        alice, f"CHATHISTORY BETWEEN #hist timestamp={times[0]} timestamp={times[9]} 100"
    )
    assert texts(body) == [f"m{i}" for i in range(1, 9)]
    _, body = await _history(
        alice, f"CHATHISTORY BETWEEN #hist timestamp={times[9]} timestamp={times[0]} 3"
    )
    assert texts(body) == ["m6", "m7", "m8"]
    _, body = await _history(
        alice, f"CHATHISTORY BETWEEN #hist timestamp={times[4]} timestamp={times[4]} 10"
    )
    assert body == []
    _, body = await _history(alice, f"CHATHISTORY AROUND #hist timestamp={times[5]} 1")
    assert len(body) == 1

    await alice.send("CHATHISTORY LATEST #hist * notanumber")
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ["CHATHISTORY", "INVALID_PARAMS"]
    await alice.send("CHATHISTORY BEFORE #hist msgid=doesnotexist 5")
    assert (await alice.expect("FAIL")).params[:2] == ["CHATHISTORY", "INVALID_PARAMS"]
    await alice.send("CHATHISTORY FOO #hist * 5")
    assert (await alice.expect("FAIL")).params[0] == "CHATHISTORY"


async def test_chathistory_private_messages_and_targets(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=HIST_CAPS)
    bob = await irc.tcp("bob", caps=HIST_CAPS)
    await alice.join("#a", "#b")
    await _say(alice, "#a", ["in a"])
    await asyncio.sleep(0.01)  # server-time has millisecond precision
    first = await _say(alice, "bob", ["hi bob"])
    await bob.expect("PRIVMSG")
    await _say(bob, "alice", ["hi alice"])
    await asyncio.sleep(0.01)
    await _say(alice, "#b", ["in b"])

    _, body = await _history(bob, "CHATHISTORY LATEST alice * 10")
    assert [(m.nick, m.params[0], m.last) for m in body] == [
        ("alice", "bob", "hi bob"),
        ("bob", "alice", "hi alice"),
    ]
    start = first[0].tags["time"]
    await alice.send(f"CHATHISTORY TARGETS timestamp={start} timestamp=2999-01-01T00:00:00.000Z 10")
    begin = await alice.expect("BATCH")
    assert begin.params[1] == "draft/chathistory-targets"
    lines = await alice.collect_until("BATCH", "-" + begin.params[0][1:])
    found = [m.params[1] for m in lines if m.command == "CHATHISTORY"]
    assert "#b" in found and "#a" not in found  # #a's message came before `start`
    for line in lines[:-1]:
        assert line.params[0] == "TARGETS"


async def test_chathistory_targets_include_private_conversations(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=HIST_CAPS)
    await irc.tcp("bob")
    await _say(alice, "bob", ["hello"])
    await alice.send(
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
        "timestamp=2999-01-01T00:00:00.000Z 10"
    )
    begin = await alice.expect("BATCH")
    lines = await alice.collect_until("BATCH", "-" + begin.params[0][1:])
    assert [m.params[1] for m in lines if m.command == "CHATHISTORY"] == ["bob"]


async def test_chathistory_survives_restart(tmp_path: Path) -> None:
    node = make_node(tmp_path, name="persist")
    node.start()
    pool = Clients(node.irc_port)
    try:
        alice = await pool.tcp("alice", caps=HIST_CAPS)
        await alice.join("#keep")
        echoes = await _say(alice, "#keep", ["before restart 1", "before restart 2"])
        await alice.quit()
        await pool.aclose()
        node.stop()
        node.start()
        pool = Clients(node.irc_port)
        bob = await pool.tcp("bob", caps=HIST_CAPS)
        _, body = await _history(bob, "CHATHISTORY LATEST #keep * 10")
        assert texts(body) == ["before restart 1", "before restart 2"]
        assert [m.tags["msgid"] for m in body] == [m.tags["msgid"] for m in echoes]
        assert [m.tags["time"] for m in body] == [m.tags["time"] for m in echoes]
        # Message ids stay unique across the restart.
        await bob.join("#keep")
        after = await _say(bob, "#keep", ["after restart"])
        assert after[0].tags["msgid"] not in {m.tags["msgid"] for m in echoes}
        _, body = await _history(bob, "CHATHISTORY LATEST #keep * 10")
        assert texts(body) == ["before restart 1", "before restart 2", "after restart"]
    finally:
        await pool.aclose()
        node.stop()


async def test_chathistory_without_batch_sends_plain_lines(irc: Clients) -> None:
    alice = await irc.tcp("alice", caps=["echo-message"])
    await alice.join("#plain")
    await _say(alice, "#plain", ["one", "two"])
    await alice.send("CHATHISTORY LATEST #plain * 10")
    lines = await alice.sync()
    assert [m.last for m in lines if m.command == "PRIVMSG"] == ["one", "two"]
    assert "BATCH" not in commands(lines)


# Bad input on a registered connection: an answer or silence, never a crash.


async def test_bad_lines_get_answers_and_the_connection_survives(irc: Clients) -> None:
    alice = await irc.tcp("alice")
    bob = await irc.tcp("bob")
    await alice.join("#room")
    await bob.join("#room")
    await alice.send_bytes(b"PRIVMSG #room :\xff\xfe broken\r\n")
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ["*", "INVALID_UTF8"]
    await alice.send_bytes(b"\r\n\n   \r\n@only=tags\r\n@a=b \r\n")
    await alice.send_bytes(b"PRIVMSG #room :tail " + b"x" * 600 + b"\r\n")
    too_long = await alice.expect("417")
    numeric(too_long, "417", text="Input line was too long")
    await alice.send_bytes(b"privmsg #room :lower-case command works\n")
    got = await bob.expect("PRIVMSG")
    assert got.last == "lower-case command works"
    assert [m.command for m in await alice.sync()] == []
