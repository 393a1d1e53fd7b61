"""Channels line by line on the core: JOIN, PART, TOPIC, NAMES, LIST, MODE, KICK, INVITE."""

from __future__ import annotations

from tests.corekit import CoreServer, in_room

START = 1_800_000_000  # the kit's clock: channels and topics are stamped with it


def test_join_several_with_keys_and_join_0(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    assert alice.ask("JOIN #one,#two,#three") == [
        line
        for name in ("#one", "#two", "#three")
        for line in (
            f":alice!~alice@127.0.0.1 JOIN {name}",
            f":test 353 alice = {name} @alice",
            f":test 366 alice {name} :End of /NAMES list",
        )
    ]
    alice.send("MODE #one +k k1", "MODE #two +k k2")
    lines = bob.ask("JOIN #one,#two,#three k1,wrong")
    assert lines[0] == ":bob!~bob@127.0.0.1 JOIN #one"
    assert ":test 475 bob #two :Cannot join channel (+k)" in lines
    assert ":bob!~bob@127.0.0.1 JOIN #three" in lines
    assert bob.ask("JOIN #two k2")[0] == ":bob!~bob@127.0.0.1 JOIN #two"
    alice.lines()
    assert sorted(bob.ask("JOIN 0")) == [
        ":bob!~bob@127.0.0.1 PART #one :Left all channels",
        ":bob!~bob@127.0.0.1 PART #three :Left all channels",
        ":bob!~bob@127.0.0.1 PART #two :Left all channels",
    ]
    assert not [line for line in bob.ask("WHOIS bob") if " 319 " in line]
    assert len([line for line in alice.lines() if "PART" in line]) == 3


def test_join_bad_names_and_rejoin(server: CoreServer) -> None:
    alice = server.user("alice")
    assert alice.ask("JOIN nochan") == [":test 476 alice nochan :Bad Channel Mask"]
    assert alice.ask("JOIN #" + "x" * 60)[0].split()[1] == "476"
    alice.send("JOIN #room")
    alice.lines()
    assert alice.ask("JOIN #room") == []  # already there: nothing happens
    assert alice.ask("JOIN") == [":test 461 alice JOIN :Not enough parameters"]


def test_part(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    alice.send("JOIN #other")
    alice.lines()
    assert bob.ask("PART #room :going home") == [":bob!~bob@127.0.0.1 PART #room :going home"]
    assert alice.lines() == [":bob!~bob@127.0.0.1 PART #room :going home"]
    assert bob.ask("PART #nowhere") == [":test 403 bob #nowhere :No such channel"]
    assert bob.ask("PART #other") == [":test 442 bob #other :You're not on that channel"]
    assert alice.ask("PART #room,#other") == [
        ":alice!~alice@127.0.0.1 PART #room",
        ":alice!~alice@127.0.0.1 PART #other",
    ]


def test_topic(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    assert bob.ask("TOPIC #room") == [":test 331 bob #room :No topic is set"]
    assert alice.ask("TOPIC #room :the topic here") == [
        ":alice!~alice@127.0.0.1 TOPIC #room :the topic here"
    ]
    assert bob.lines() == [":alice!~alice@127.0.0.1 TOPIC #room :the topic here"]
    assert bob.ask("TOPIC #room") == [
        ":test 332 bob #room :the topic here",
        f":test 333 bob #room alice!~alice@127.0.0.1 {START}",
    ]
    # +t is on by default: only operators set the topic.
    assert bob.ask("TOPIC #room :mine now") == [":test 482 bob #room :You're not channel operator"]
    alice.send("MODE #room -t")
    bob.lines()
    bob.send("TOPIC #room :mine now")
    assert alice.lines()[-1] == ":bob!~bob@127.0.0.1 TOPIC #room :mine now"
    # A new member gets the topic on JOIN.
    carol = server.user("carol")
    assert [line.split()[1] for line in carol.ask("JOIN #room")] == [
        "JOIN",
        "332",
        "333",
        "353",
        "366",
    ]
    assert carol.ask("TOPIC #nowhere") == [":test 403 carol #nowhere :No such channel"]
    carol.send("TOPIC #room :")  # empty clears (not an op, but -t)
    assert alice.lines()[-1] == ":carol!~carol@127.0.0.1 TOPIC #room :"


def test_names(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    carol = server.user("carol")
    assert carol.ask("NAMES #room") == [
        ":test 353 carol = #room :@alice bob",
        ":test 366 carol #room :End of /NAMES list",
    ]
    assert carol.ask("NAMES #nowhere") == [":test 366 carol #nowhere :End of /NAMES list"]
    # Invisible users are hidden from NAMES of people outside the channel.
    bob.send("MODE bob +i")
    assert carol.ask("NAMES #room")[0] == ":test 353 carol = #room @alice"
    assert alice.ask("NAMES #room")[0] == ":test 353 alice = #room :@alice bob"


def test_list(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    alice.send("JOIN #public", "JOIN #secret", "TOPIC #public :come in", "MODE #secret +s")
    assert bob.ask("LIST") == [
        ":test 321 bob Channel :Users  Name",
        ":test 322 bob #public 1 :[+nt] come in",
        ":test 323 bob :End of /LIST",
    ]
    assert [line.split()[3] for line in alice.ask("LIST") if " 322 " in line] == [
        "#public",
        "#secret",
    ]
    assert [line.split()[3] for line in bob.ask("LIST #public") if " 322 " in line] == ["#public"]


def test_channel_mode_query_and_errors(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    assert bob.ask("MODE #room") == [
        ":test 324 bob #room +nt",
        f":test 329 bob #room {START}",
    ]
    assert bob.ask("MODE #room +m") == [":test 482 bob #room :You're not channel operator"]
    assert alice.ask("MODE #room +z") == [":test 472 alice z :is unknown mode char to me"]
    assert alice.ask("MODE #nowhere +m") == [":test 403 alice #nowhere :No such channel"]
    assert alice.ask("MODE #room +o nobody") == [":test 401 alice nobody :No such nick/channel"]


def test_op_and_voice(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    assert alice.ask("MODE #room +o bob") == [":alice!~alice@127.0.0.1 MODE #room +o bob"]
    assert bob.lines() == [":alice!~alice@127.0.0.1 MODE #room +o bob"]
    bob.send("MODE #room +v alice")
    assert alice.lines() == [":bob!~bob@127.0.0.1 MODE #room +v alice"]
    assert alice.ask("NAMES #room")[0] == ":test 353 alice = #room :@alice @bob"
    bob.send("MODE #room -o alice")
    assert alice.lines() == [":bob!~bob@127.0.0.1 MODE #room -o alice"]
    assert alice.ask("NAMES #room")[0] == ":test 353 alice = #room :+alice @bob"
    assert alice.ask("MODE #room +m") == [":test 482 alice #room :You're not channel operator"]


def test_key_and_limit(server: CoreServer) -> None:
    (alice,) = in_room(server, "alice")
    bob, carol = server.user("bob"), server.user("carol")
    assert alice.ask("MODE #room +k") == [":test 461 alice MODE :Not enough parameters"]
    assert alice.ask("MODE #room +k sesame") == [":alice!~alice@127.0.0.1 MODE #room +k sesame"]
    assert bob.ask("JOIN #room") == [":test 475 bob #room :Cannot join channel (+k)"]
    assert bob.ask("JOIN #room wrong") == [":test 475 bob #room :Cannot join channel (+k)"]
    assert bob.ask("JOIN #room sesame")[0] == ":bob!~bob@127.0.0.1 JOIN #room"
    alice.lines()
    assert alice.ask("MODE #room -k+l sesame 2") == [":alice!~alice@127.0.0.1 MODE #room -k+l * 2"]
    assert carol.ask("JOIN #room") == [":test 471 carol #room :Cannot join channel (+l)"]
    bob.send("PART #room")
    assert carol.ask("JOIN #room")[0] == ":carol!~carol@127.0.0.1 JOIN #room"
    assert alice.ask("MODE #room")[-2] == ":test 324 alice #room +ntl 2"


def test_invite_only_and_invite(server: CoreServer) -> None:
    (alice,) = in_room(server, "alice")
    bob = server.user("bob")
    alice.send("MODE #room +i")
    assert bob.ask("JOIN #room") == [":test 473 bob #room :Cannot join channel (+i)"]
    assert alice.ask("INVITE bob #room") == [":test 341 alice bob #room"]
    assert bob.lines() == [":alice!~alice@127.0.0.1 INVITE bob #room"]
    assert bob.ask("JOIN #room")[0] == ":bob!~bob@127.0.0.1 JOIN #room"
    assert alice.ask("INVITE bob #room")[-1] == ":test 443 alice bob #room :is already on channel"
    assert alice.ask("INVITE nobody #room") == [":test 401 alice nobody :No such nick/channel"]
    assert bob.ask("INVITE alice #room") == [":test 443 bob alice #room :is already on channel"]
    carol = server.user("carol")
    # +i: only operators invite.
    assert bob.ask("INVITE carol #room") == [":test 482 bob #room :You're not channel operator"]
    assert carol.ask("INVITE bob #room") == [":test 442 carol #room :You're not on that channel"]


def test_ban(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    assert alice.ask("MODE #room +b bob") == [":alice!~alice@127.0.0.1 MODE #room +b bob!*@*"]
    assert bob.ask("PRIVMSG #room :can I talk?")[-1] == (
        ":test 404 bob #room :Cannot send to channel"
    )
    bob.send("PART #room")
    assert bob.ask("JOIN #room") == [":test 474 bob #room :Cannot join channel (+b)"]
    assert alice.ask("MODE #room +b") == [
        f":test 367 alice #room bob!*@* alice!~alice@127.0.0.1 {START}",
        ":test 368 alice #room :End of channel ban list",
    ]
    assert alice.ask("MODE #room -b bob!*@*") == [":alice!~alice@127.0.0.1 MODE #room -b bob!*@*"]
    assert bob.ask("JOIN #room")[0] == ":bob!~bob@127.0.0.1 JOIN #room"


def test_moderated_and_no_external(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    carol = server.user("carol")
    alice.send("MODE #room +m")
    bob.lines()
    assert bob.ask("PRIVMSG #room :muted?") == [":test 404 bob #room :Cannot send to channel"]
    alice.send("MODE #room +v bob")
    bob.lines()
    alice.lines()
    bob.send("PRIVMSG #room :voiced now")
    assert alice.lines() == [":bob!~bob@127.0.0.1 PRIVMSG #room :voiced now"]
    alice.send("MODE #room -m")
    assert carol.ask("PRIVMSG #room :from outside") == [
        ":test 404 carol #room :Cannot send to channel"
    ]
    alice.send("MODE #room -n")
    alice.lines()
    carol.send("PRIVMSG #room :from outside")
    assert alice.lines() == [":carol!~carol@127.0.0.1 PRIVMSG #room :from outside"]


def test_user_mode(server: CoreServer) -> None:
    alice = server.user("alice")
    server.user("bob")
    assert alice.ask("MODE alice") == [":test 221 alice +"]
    assert alice.ask("MODE alice +i") == [":alice!~alice@127.0.0.1 MODE alice +i"]
    assert alice.ask("MODE alice") == [":test 221 alice +i"]
    assert alice.ask("MODE bob +i") == [":test 502 alice :Cant change mode for other users"]
    assert alice.ask("MODE alice +Z") == [":test 501 alice :Unknown MODE flag"]
    assert alice.ask("MODE alice -i") == [":alice!~alice@127.0.0.1 MODE alice -i"]


def test_kick(server: CoreServer) -> None:
    alice, bob = in_room(server, "alice", "bob")
    assert bob.ask("KICK #room alice :no") == [":test 482 bob #room :You're not channel operator"]
    assert alice.ask("KICK #room bob :behave") == [":alice!~alice@127.0.0.1 KICK #room bob behave"]
    assert bob.lines() == [":alice!~alice@127.0.0.1 KICK #room bob behave"]
    assert bob.ask("PRIVMSG #room :still here?") == [":test 404 bob #room :Cannot send to channel"]
    assert alice.ask("KICK #room bob") == [":test 441 alice bob #room :They aren't on that channel"]
    assert alice.ask("KICK #nowhere bob") == [":test 403 alice #nowhere :No such channel"]
