"""RENAME (draft/channel-rename): a channel takes a new name, members, modes and topic with it."""

from __future__ import annotations

from tests.corekit import CoreNetwork, CoreServer

CAP = "draft/channel-rename"


def test_rename_as_each_client_understands_it(server: CoreServer) -> None:
    bar, baz = server.room(("bar", CAP), ("baz", ""), channel="#bar")
    bar.send("TOPIC #bar :drinks", "MODE #bar +m")
    bar.lines()
    baz.lines()
    assert bar.ask("RENAME #bar #qux :no reason") == [
        ":bar!~bar@127.0.0.1 RENAME #bar #qux :no reason"
    ]
    assert baz.lines() == [
        ":baz!~baz@127.0.0.1 PART #bar :Changing the channel name: no reason",
        ":baz!~baz@127.0.0.1 JOIN #qux",
        ":test 332 baz #qux drinks",
        ":test 333 baz #qux bar!~bar@127.0.0.1 1800000000",
        ":test 353 baz = #qux :@bar baz",
        ":test 366 baz #qux :End of /NAMES list",
    ]
    assert bar.ask("MODE #qux")[0] == ":test 324 bar #qux +mnt"
    assert [line for line in bar.ask("WHOIS baz") if " 319 " in line] == [":test 319 bar baz #qux"]
    # The old name is free again: joining it makes a new channel.
    assert baz.ask("JOIN #bar")[0] == ":baz!~baz@127.0.0.1 JOIN #bar"
    assert baz.ask("MODE #bar +k beer")[0] == ":baz!~baz@127.0.0.1 MODE #bar +k beer"


def test_bad_renames_change_nothing(server: CoreServer) -> None:
    bar, baz = server.room(("bar", CAP), ("baz", CAP), channel="#bar")
    other = server.user("other")
    other.send("JOIN #taken")
    assert baz.ask("RENAME #bar #qux") == [":test 482 baz #bar :You're not channel operator"]
    assert bar.ask("RENAME #nowhere #qux") == [":test 403 bar #nowhere :No such channel"]
    assert bar.ask("RENAME #bar #taken") == [
        ":test FAIL RENAME CHANNEL_NAME_IN_USE #bar #taken :Channel already exists"
    ]
    assert bar.ask("RENAME #bar qux") == [
        ":test FAIL RENAME CANNOT_RENAME #bar qux :qux is not a valid channel name"
    ]
    assert bar.ask("RENAME #bar") == [":test 461 bar RENAME :Not enough parameters"]
    assert baz.lines() == []
    assert "#bar" in server.core.channels


def test_a_rename_crosses_the_network() -> None:
    net = CoreNetwork("east", "hub", "west")
    net.link("east", "hub")
    net.link("hub", "west")
    bar = net.user("east", "bar", CAP)
    baz = net.user("west", "baz", "")
    net.say(bar, "JOIN #bar")
    net.say(baz, "JOIN #bar")
    bar.lines()
    baz.lines()
    net.say(bar, "RENAME #bar #qux :moving")
    assert bar.lines() == [":bar!~bar@127.0.0.1 RENAME #bar #qux moving"]
    assert baz.lines()[:2] == [
        ":baz!~baz@127.0.0.1 PART #bar :Changing the channel name: moving",
        ":baz!~baz@127.0.0.1 JOIN #qux",
    ]
    for name, server in net.servers.items():
        assert set(server.core.channels) == {"#qux"}, name
    net.say(baz, "PRIVMSG #qux :hello there")
    assert bar.lines() == [":baz!~baz@127.0.0.1 PRIVMSG #qux :hello there"]
