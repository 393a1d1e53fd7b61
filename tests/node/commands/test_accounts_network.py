"""Accounts and registered channels across linked servers (``CoreNetwork``, no sockets).

The rule after a netsplit: of two registrations of one name, the earlier
(lower ``created``, then lower origin server name) wins on every server;
its loser's origin server drops it (a tombstone every server learns), and
users logged in to the loser are logged out, with a NickServ notice, and
every server sees them logged out.
"""

from __future__ import annotations

from tests.corekit import CoreNetwork, CoreUser

PASSWORD = "correct-horse-battery"
OTHER = "another-long-password"


def whois_account(user: CoreUser, nick: str) -> str | None:
    """The account WHOIS (330) shows for ``nick``, asked by ``user``."""
    for line in user.ask(f"WHOIS {nick}"):
        words = line.split(" ")
        if len(words) > 4 and words[1] == "330":
            return words[4]
    return None


def test_records_reach_every_server_and_a_later_linked_one() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    alice = net.user("a", "alice")
    net.say(alice, f"PRIVMSG NickServ :REGISTER {PASSWORD}", "JOIN #ops")
    net.say(alice, "PRIVMSG ChanServ :REGISTER #ops", "TOPIC #ops :kept", "MODE #ops +b *!*@x")
    assert net.cores["b"].accounts.get("alice") is not None
    net.link("b", "c")  # the burst carries the records to a server that joins later
    assert net.cores["c"].accounts.get("alice") is not None
    record = net.cores["c"].channel_records.get("#ops")
    assert record is not None
    assert record.founder == "alice"
    assert record.topic == "kept"
    assert [m.mask for m in record.bans] == ["*!*@x"]


def test_the_founder_gets_op_on_another_server_after_logging_in() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice")
    net.say(alice, f"PRIVMSG NickServ :REGISTER {PASSWORD}", "JOIN #ops")
    net.say(alice, "PRIVMSG ChanServ :REGISTER #ops", "QUIT")
    watcher = net.user("b", "watcher")
    net.say(watcher, "JOIN #ops")  # not the founder: no op for making it
    assert "@watcher" not in " ".join(watcher.lines())
    back = net.user("b", "alice2")
    net.say(back, "JOIN #ops")
    back.lines()
    net.say(back, f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    assert ":ChanServ!ChanServ@services.t MODE #ops +o alice2" in back.lines()
    assert net.cores["a"].channels["#ops"].members[net.cores["a"].nicks["alice2"]] == "o"


def test_split_registrations_earliest_wins_everywhere() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("b", "c")
    net.cut("b", "c")  # {a, b} and {c}
    early = net.user("a", "early")
    net.say(early, f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    for server in net.servers.values():
        server.clock.now += 5  # c registers the same name later
    late = net.user("c", "carol")
    net.say(late, f"REGISTER early * {OTHER}")
    late.lines()
    assert net.cores["c"].accounts.get("early") is not None
    assert late.client.account == "early"
    watcher = net.user("a", "watcher")
    assert whois_account(watcher, "early") == "early"

    net.link("b", "c")
    winner = {name: core.accounts.get("early") for name, core in net.cores.items()}
    assert {(r.origin, r.created) for r in winner.values() if r} == {("a", winner["a"].created)}
    assert all(r is not None for r in winner.values())
    # The loser's user is logged out, with the notice, and every server knows.
    lines = late.lines()
    assert any("You have been logged out: the account early was dropped" in x for x in lines)
    assert late.client.account is None
    for name in net.servers:
        assert net.cores[name].users[late.client.uid].account is None, name
    assert whois_account(watcher, "carol") is None
    # The loser's tombstone reached every server: it never comes back.
    for name, core in net.cores.items():
        losers = [v for v in core.accounts.versions("early") if v.origin == "c"]
        assert [v.dropped for v in losers] == [True], name
    # The winner's password works on c, the loser's nowhere.
    probe = net.user("c", "probe")
    assert probe.ask(f"NS IDENTIFY early {OTHER}")[0].endswith(":Invalid account or password")
    assert "You are now logged in as early" in probe.ask(f"NS IDENTIFY early {PASSWORD}")[-1]


def test_a_drop_or_a_new_password_on_one_server_holds_on_every_server() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice")
    net.say(alice, f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    net.say(alice, f"NS SET PASSWORD {OTHER}")
    there = net.user("b", "there")
    assert there.ask(f"NS IDENTIFY alice {PASSWORD}")[0].endswith(":Invalid account or password")
    net.say(there, f"NS IDENTIFY alice {OTHER}")
    assert whois_account(alice, "there") == "alice"
    net.say(alice, f"NS DROP {OTHER}")
    # b logs out its own user, and tells a.
    assert any("You have been logged out" in line for line in there.lines())
    assert there.client.account is None
    assert whois_account(alice, "there") is None
    assert net.cores["b"].accounts.get("alice") is None
