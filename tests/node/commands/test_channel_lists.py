"""Ban exceptions (+e), invite exceptions (+I), the mute extban (m:) and LIST's ELIST filters."""

from __future__ import annotations

from tests.corekit import CoreNetwork, CoreServer, CoreUser

START = 1_800_000_000  # the kit's clock: list entries are stamped with it


def op_in(server: CoreServer, channel: str = "#room") -> CoreUser:
    op = server.user("op")
    op.send(f"JOIN {channel}")
    op.lines()
    return op


def test_isupport_announces_the_lists(server: CoreServer) -> None:
    tokens = " ".join(line for line in server.connection().ask("NICK a", "USER a 0 * :A"))
    for token in ("CHANMODES=Ibe,k,l,imnst", "EXCEPTS=e", "INVEX=I", "EXTBAN=,m"):
        assert f" {token} " in tokens
    assert " MAXLIST=beI:100 " in tokens
    assert " ELIST=CMNTU " in tokens


def test_ban_exception_lets_a_banned_user_in(server: CoreServer) -> None:
    op = op_in(server)
    assert op.ask("MODE #room +b *!*@127.0.0.1") == [
        ":op!~op@127.0.0.1 MODE #room +b *!*@127.0.0.1"
    ]
    bob = server.user("bob")
    assert bob.ask("JOIN #room") == [":test 474 bob #room :Cannot join channel (+b)"]
    assert op.ask("MODE #room +e bob") == [":op!~op@127.0.0.1 MODE #room +e bob!*@*"]
    assert bob.ask("JOIN #room")[0] == ":bob!~bob@127.0.0.1 JOIN #room"
    assert op.ask("MODE #room e") == [
        f":test 348 op #room bob!*@* op!~op@127.0.0.1 {START}",
        ":test 349 op #room :End of channel exception list",
    ]
    assert op.ask("MODE #room -e bob!*@*") == [":op!~op@127.0.0.1 MODE #room -e bob!*@*"]
    assert op.ask("MODE #room e") == [":test 349 op #room :End of channel exception list"]


def test_invite_exception_opens_an_invite_only_channel(server: CoreServer) -> None:
    op = op_in(server)
    op.send("MODE #room +i")
    op.lines()
    carol, dave = server.user("carol"), server.user("dave", address="10.0.0.9")
    assert carol.ask("JOIN #room") == [":test 473 carol #room :Cannot join channel (+i)"]
    assert op.ask("MODE #room +I *!*@127.0.0.1") == [
        ":op!~op@127.0.0.1 MODE #room +I *!*@127.0.0.1"
    ]
    assert carol.ask("JOIN #room")[0] == ":carol!~carol@127.0.0.1 JOIN #room"
    assert dave.ask("JOIN #room") == [":test 473 dave #room :Cannot join channel (+i)"]
    assert op.ask("MODE #room I") == [
        f":test 346 op #room *!*@127.0.0.1 op!~op@127.0.0.1 {START}",
        ":test 347 op #room :End of channel invite list",
    ]


def test_mute_extban_silences_without_keeping_out(server: CoreServer) -> None:
    op = op_in(server)
    assert op.ask("MODE #room +b m:troll") == [":op!~op@127.0.0.1 MODE #room +b m:troll!*@*"]
    troll = server.user("troll")
    assert troll.ask("JOIN #room")[0] == ":troll!~troll@127.0.0.1 JOIN #room"
    op.lines()
    assert troll.ask("PRIVMSG #room :spam") == [":test 404 troll #room :Cannot send to channel"]
    assert op.lines() == []
    # Voice lifts it (statuses speak past bans), and so does an exception.
    op.send("MODE #room +e troll")
    op.lines()
    troll.lines()
    assert troll.ask("PRIVMSG #room :sorry") == []
    assert op.lines() == [":troll!~troll@127.0.0.1 PRIVMSG #room sorry"]


def test_list_modes_refuse_non_operators_and_full_lists() -> None:
    server = CoreServer(name="test", limits={"floodBurst": 200})  # 100 MODE lines at once
    op = op_in(server)
    bob = server.user("bob")
    bob.send("JOIN #room")
    bob.lines()
    op.lines()
    assert bob.ask("MODE #room +e bob") == [":test 482 bob #room :You're not channel operator"]
    for n in range(100):
        op.send(f"MODE #room +I n{n}")
    op.lines()
    assert op.ask("MODE #room +I one-too-many") == [":test 478 op #room I :Channel list is full"]
    assert op.ask("MODE #room +I n5") == []  # already there: nothing to do, nothing to refuse
    long_mask = "x" * 250 + "!*@*"
    assert op.ask(f"MODE #room +b {long_mask}") == [
        f":test 696 op #room b {'x' * 40}... :Mask is too long"
    ]


def test_lists_cross_the_network_and_its_bursts() -> None:
    net = CoreNetwork("hub", "leaf")
    net.link("hub", "leaf")
    op = net.user("hub", "op")
    net.say(op, "JOIN #room", "MODE #room +b *!*@127.0.0.1", "MODE #room +ee bob carol")
    bob = net.user("leaf", "bob")
    assert bob.ask("JOIN #room")[0] == ":bob!~bob@127.0.0.1 JOIN #room"
    net.say(op, "MODE #room +i", "MODE #room +I carol", "MODE #room +b m:dave")
    carol = net.user("leaf", "carol")
    assert carol.ask("JOIN #room")[0] == ":carol!~carol@127.0.0.1 JOIN #room"
    # A server that links later learns the lists from the burst.
    net.cut("hub", "leaf")
    net.link("hub", "leaf")
    leaf_channel = net.cores["leaf"].channels["#room"]
    assert [b.mask for b in leaf_channel.excepts] == ["bob!*@*", "carol!*@*"]
    assert [b.mask for b in leaf_channel.invex] == ["carol!*@*"]
    assert sorted(b.mask for b in leaf_channel.bans) == ["*!*@127.0.0.1", "m:dave!*@*"]


def test_list_filters() -> None:
    # Nobody answers PINGs here: the clock jumps minutes, so they must not time out.
    server = CoreServer(name="test", limits={"pingInterval": 3600, "pingTimeout": 3600})
    alice, bob = server.user("alice"), server.user("bob")
    alice.send("JOIN #chan1", "JOIN #chan2", "TOPIC #chan1 :first")
    server.tick(180)
    bob.send("JOIN #chan2", "JOIN #other")
    alice.send("TOPIC #chan2 :second")
    server.tick(60)

    def listed(terms: str) -> list[str]:
        lines = bob.ask(f"LIST {terms}".strip())
        assert lines[0] == ":test 321 bob Channel :Users  Name"
        assert lines[-1] == ":test 323 bob :End of /LIST"
        return [line.split()[3] for line in lines[1:-1]]

    assert listed("") == ["#chan1", "#chan2", "#other"]
    assert listed("*an1") == ["#chan1"]
    assert listed("#c*n2,#other") == ["#chan2", "#other"]
    assert listed("!#ch*") == ["#other"]
    assert listed(">1") == ["#chan2"]
    assert listed("<2") == ["#chan1", "#other"]
    assert listed("C>2") == ["#chan1", "#chan2"]
    assert listed("C<2") == ["#other"]
    assert listed("C<0") == []
    assert listed("T>2") == ["#chan1"]
    assert listed("T<2") == ["#chan2"]
    assert listed("T<10,>1") == ["#chan2"]
    assert listed("#nowhere") == []
