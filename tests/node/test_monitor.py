"""MONITOR and extended-monitor (IRCv3), on one server and across a network:
a watcher is told when a nick comes online or goes offline wherever its user
is, and with extended-monitor of its away and real-name changes."""

from __future__ import annotations

import pytest

from tests.corekit import CoreNetwork, CoreServer


@pytest.fixture
def server() -> CoreServer:
    return CoreServer()


def test_monitor_tells_who_is_online_and_follows_them(server: CoreServer) -> None:
    foo = server.user("foo")
    server.user("bar")
    assert foo.ask("MONITOR + bar,baz") == [
        ":unit 730 foo bar!~bar@127.0.0.1",
        ":unit 731 foo baz",
    ]
    baz = server.user("baz")
    assert foo.lines() == [":unit 730 foo baz!~baz@127.0.0.1"]
    baz.send("QUIT :bye")
    assert foo.lines() == [":unit 731 foo baz"]
    assert sorted(foo.ask("MONITOR S")) == [
        ":unit 730 foo bar!~bar@127.0.0.1",
        ":unit 731 foo baz",
    ]
    assert foo.ask("MONITOR L") == [":unit 732 foo bar,baz", ":unit 733 foo :End of MONITOR list"]
    assert foo.ask("MONITOR - bar") == []
    assert foo.ask("MONITOR L") == [":unit 732 foo baz", ":unit 733 foo :End of MONITOR list"]
    assert foo.ask("MONITOR C") == []
    assert foo.ask("MONITOR L") == [":unit 733 foo :End of MONITOR list"]


def test_nick_changes_are_arrivals_and_departures(server: CoreServer) -> None:
    bar = server.user("bar")
    bar.ask("MONITOR + qux")
    baz = server.user("baz")
    assert bar.lines() == []
    baz.send("NICK qux")
    assert bar.lines() == [":unit 730 bar qux!~baz@127.0.0.1"]
    baz.send("NICK QUX")
    assert bar.lines() == [], "a change of case is the same nick"
    baz.send("NICK bazbat")
    assert bar.lines() == [":unit 731 bar QUX"]


def test_monitor_takes_nicks_not_masks_and_keeps_its_limit() -> None:
    server = CoreServer(limits={"maxMonitor": 2})
    foo = server.user("foo")
    assert "MONITOR=2" in " ".join(foo.ask("VERSION"))
    assert foo.ask("MONITOR + *!user@host") == []
    assert foo.ask("MONITOR + a,b,c,d") == [
        ":unit 731 foo a,b",
        ":unit 734 foo 2 c,d :Monitor list is full.",
    ]
    assert foo.ask("MONITOR +") == [":unit 461 foo MONITOR :Not enough parameters"]
    assert foo.ask("MONITOR X") == [":unit FAIL MONITOR INVALID_PARAMS X :Unknown MONITOR modifier"]


def test_a_watcher_that_leaves_is_forgotten(server: CoreServer) -> None:
    foo = server.user("foo")
    foo.ask("MONITOR + bar")
    foo.send("QUIT")
    server.user("bar")
    assert server.core.monitors.watchers("bar") == []


@pytest.mark.parametrize("watched_caps", ["away-notify setname", ""])
def test_extended_monitor_shows_away_and_setname(server: CoreServer, watched_caps: str) -> None:
    foo = server.user("foo", "extended-monitor away-notify setname")
    plain = server.user("plain", "away-notify setname")
    bar = server.user("bar", watched_caps)
    foo.ask("MONITOR + bar")
    plain.ask("MONITOR + bar")
    bar.send("AWAY :afk")
    assert foo.lines() == [":bar!~bar@127.0.0.1 AWAY afk"]
    bar.send("AWAY")
    assert foo.lines() == [":bar!~bar@127.0.0.1 AWAY"]
    bar.send("SETNAME :Bar Baz")
    assert foo.lines() == [":bar!~bar@127.0.0.1 SETNAME :Bar Baz"]
    assert plain.lines() == [], "without extended-monitor, only shared channels show it"


def test_a_leaf_user_monitors_a_nick_on_the_far_hub() -> None:
    net = CoreNetwork("leaf", "hub1", "hub2")
    net.link("leaf", "hub1")
    net.link("hub1", "hub2")
    watcher = net.user("leaf", "watcher", caps="extended-monitor away-notify")
    assert watcher.ask("MONITOR + far") == [":leaf 731 watcher far"]
    far = net.user("hub2", "far")
    assert watcher.lines() == [":leaf 730 watcher far!~far@127.0.0.1"]
    net.say(far, "AWAY :gone fishing")
    assert watcher.lines() == [":far!~far@127.0.0.1 AWAY :gone fishing"]
    net.say(far, "NICK faraway")
    assert watcher.lines() == [":leaf 731 watcher far"]
    net.say(far, "NICK far")
    assert watcher.lines() == [":leaf 730 watcher far!~far@127.0.0.1"]
    net.cut("hub1", "hub2")
    assert watcher.lines() == [":leaf 731 watcher far"], "a netsplit takes it offline"
    net.link("hub1", "hub2")
    assert watcher.lines() == [":leaf 730 watcher far!~far@127.0.0.1"], "and the netjoin back"
    net.say(far, "QUIT")
    assert watcher.lines() == [":leaf 731 watcher far"]
