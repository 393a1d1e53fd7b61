"""Accounts across links: one account and one channel registration, every server; splits healed."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from chatnet_node.irc.accounts import Account
from chatnet_node.irc.registry import Registry
from tests.corekit import CoreNetwork

PASSWORD = "correct-horse-battery"
NS = ":NickServ!NickServ@services.t"


def test_an_account_registered_on_one_server_logs_in_two_hops_away() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("b", "c")
    alice = net.user("a", "alice")
    watcher = net.user("c", "watcher", "account-notify")
    net.say(watcher, "JOIN #room")
    net.say(alice, "JOIN #room")
    net.say(alice, f"NS REGISTER {PASSWORD}")
    assert watcher.lines()[-1] == ":alice!~alice@127.0.0.1 ACCOUNT alice"
    assert ":c 330 watcher alice alice :is logged in as" in watcher.ask("WHOIS alice")
    for core in net.cores.values():
        assert core.accounts.get("ALICE") is not None
    net.say(alice, "QUIT")
    other = net.user("c", "someone")
    net.say(other, f"NS IDENTIFY alice {PASSWORD}")
    assert (
        other.lines()[0]
        == ":c 900 someone someone!~someone@127.0.0.1 alice :You are now logged in as alice"
    )


def test_the_founder_gets_op_on_another_server() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    founder = net.user("a", "founder")
    net.say(founder, f"NS REGISTER {PASSWORD}", "JOIN #ops", "CS REGISTER #ops", "TOPIC #ops :ours")
    net.say(founder, "QUIT :server died")
    back = net.user("b", "founder2")
    net.say(back, f"NS IDENTIFY founder {PASSWORD}", "JOIN #ops")
    for core in net.cores.values():
        channel = core.channels["#ops"]
        member = next(m for m in channel.members if m.nick == "founder2")
        assert "o" in channel.members[member]
        assert channel.topic == "ours"


def test_a_server_that_links_later_gets_every_record_in_the_burst() -> None:
    net = CoreNetwork("a", "b")
    alice = net.user("a", "alice")
    net.say(alice, f"NS REGISTER {PASSWORD}", "JOIN #mine", "CS REGISTER #mine")
    assert net.cores["b"].accounts.get("alice") is None
    net.link("a", "b")
    assert net.cores["b"].accounts.get("alice") is not None
    assert net.cores["b"].channel_records.get("#mine") is not None


def test_the_same_account_registered_on_both_sides_of_a_split() -> None:
    """The earlier registration wins on every server; the later one's users are logged out."""
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    net.cut("a", "b")
    first = net.user("a", "dup")
    net.say(first, "NS REGISTER first-password")
    net.servers["b"].clock.now += 5  # b's registration is the later one
    second = net.user("b", "dup")
    net.say(second, "NS REGISTER second-password")
    assert second.client.account == "dup"
    second.lines()
    net.link("a", "b")
    winners = {name: core.accounts.get("dup") for name, core in net.cores.items()}
    assert winners["a"] == winners["b"]
    assert winners["a"] is not None and winners["a"].origin == "a"
    assert first.client.account == "dup"
    assert second.client.account is None
    # ...on every server: a's copy of the loser's user is logged out too.
    assert net.cores["a"].users[second.client.uid].account is None
    told = second.lines()
    # (The nick collision renamed the later user too: its nick is a guest's now.)
    assert told[-1] == (
        f"{NS} NOTICE {second.nick} :You have been logged out: "
        "the account dup was dropped or registered elsewhere first"
    )
    # The loser's registration is dropped for good, on both servers.
    for core in net.cores.values():
        assert [v.dropped for v in core.accounts.versions("dup") if v.origin == "b"] == [True]
    checker = net.user("b", "checker")
    net.say(checker, "NS IDENTIFY dup second-password")
    assert checker.lines()[-1].endswith(":Invalid account or password")
    net.say(checker, "NS IDENTIFY dup first-password")
    assert checker.client.account == "dup"


def _version(created: float, origin: str, updated: float, by: str, dropped: bool) -> Account:
    return Account(
        name="x", created=created, origin=origin, updated=updated, by=by, dropped=dropped
    )


versions = st.lists(
    st.builds(
        _version,
        st.sampled_from([1.0, 2.0]),
        st.sampled_from(["a", "b"]),
        st.floats(0, 10),
        st.sampled_from(["a", "b"]),
        st.booleans(),
    ),
    max_size=6,
)


@given(versions)
def test_merging_in_any_order_gives_the_same_account(seen: list[Account]) -> None:
    outcomes = set()
    for order in itertools.islice(itertools.permutations(seen), 24):
        registry: Registry[Account] = Registry()
        for version in order:
            registry.merge(version)
            registry.merge(version)  # idempotent
        effective = registry.get("X")
        outcomes.add(None if effective is None else (effective.identity, effective.version))
    assert len(outcomes) <= 1
