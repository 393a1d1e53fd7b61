"""One account name registered on both sides of a netsplit, over a real (virtual) network.

The rule, the same on every server: a record's identity is when and where
it was registered (``created``, then the origin server's name on a tie).
When a healed netsplit brings two registrations of one name together, the
**earliest registration wins** on every server, whatever order the two
arrive in. The loser's origin server drops it for good (a tombstone every
server learns, so it never comes back), and every user logged in to the
loser, on any server, is logged out with a NickServ notice
(``You have been logged out: the account NAME was dropped or registered
elsewhere first``), and every server sees them logged out. The winner's
password logs in everywhere; the loser's logs in nowhere.

Four servers in network namespaces (``tests/portals/netlab.py``): hub-a
with leaf-a, hub-b with leaf-b; an nftables rule between the hubs splits
the network in two, and flushing it heals it.
"""

from __future__ import annotations

import time

import pytest

from tests.irc.blocking import LineClient
from tests.irc.lines import Msg, contains
from tests.portals.netlab import Host, Lab, Node

pytestmark = pytest.mark.slow

FAST = {"pingInterval": 1, "pingTimeout": 3}
ACCOUNT = "shared"
FIRST = "first-side-password"
SECOND = "second-side-password"
LOGGED_OUT = f"You have been logged out: the account {ACCOUNT} was dropped or registered"


def from_nickserv(msg: Msg) -> bool:
    return msg.command == "NOTICE" and msg.nick == "NickServ"


def whois_account(client: LineClient, nick: str) -> str | None:
    """The account WHOIS shows for ``nick`` (330), or None."""
    client.send(f"WHOIS {nick}")
    account = None
    for line in client.incoming(10):
        if line.command == "330":
            account = line.params[2]
        if line.command == "318":
            return account
    raise AssertionError(f"no end of WHOIS for {nick}")


def identify(client: LineClient, password: str) -> bool:
    """IDENTIFY to the account; did it log in? (Logs out again after a success.)"""
    client.send(f"PRIVMSG NickServ :IDENTIFY {ACCOUNT} {password}")
    answer = client.expect(from_nickserv)
    if answer.last == "Invalid account or password":
        return False
    assert answer.last == f"You are now logged in as {ACCOUNT}", answer
    client.send("PRIVMSG NickServ :LOGOUT")
    client.expect(lambda m: from_nickserv(m) and m.last == "You are now logged out")
    return True


def registered_at(client: LineClient) -> str:
    """When the server says the account was registered (NickServ INFO)."""
    client.send(f"PRIVMSG NickServ :INFO {ACCOUNT}")
    answer = client.expect(from_nickserv)
    client.drain(0.2)
    assert answer.last.startswith(f"Account {ACCOUNT}: registered "), answer
    return answer.last


def test_the_earlier_registration_wins_on_every_server_after_a_netsplit(lab: Lab) -> None:
    hub_a = lab.node("hub-a", 1, accept=["hub-b", "leaf-a"], **FAST)
    hub_b = lab.node("hub-b", 2, dial=[hub_a.peer()], accept=["leaf-b"], **FAST)
    leaf_a = lab.node("leaf-a", 11, role="leaf", dial=[hub_a.peer()], **FAST)
    leaf_b = lab.node("leaf-b", 12, role="leaf", dial=[hub_b.peer()], **FAST)
    nodes = [hub_a, hub_b, leaf_a, leaf_b]
    users: Host = lab.host("users")
    lab.start(hub_a, hub_b)
    lab.start(leaf_a, leaf_b)
    early = lab.client(users, leaf_a, "early")
    late = lab.client(users, leaf_b, "late")
    elsewhere = lab.client(users, hub_b, "elsewhere")  # logs in to the loser, not its origin
    for client in (early, late, elsewhere):
        client.wait_linked(4)

    lab.partition(hub_a, hub_b)
    early.wait_linked(2)
    late.wait_linked(2)
    # Side A registers the name first, side B (that cannot know) a moment later.
    early.send(f"REGISTER {ACCOUNT} * {FIRST}")
    early.expect("REGISTER", "SUCCESS", ACCOUNT)
    winner_info = registered_at(early)
    time.sleep(1.1)  # the registration times differ even as INFO shows them (seconds)
    late.send(f"REGISTER {ACCOUNT} * {SECOND}")
    late.expect("REGISTER", "SUCCESS", ACCOUNT)
    assert registered_at(late) != winner_info
    elsewhere.send(f"PRIVMSG NickServ :IDENTIFY {ACCOUNT} {SECOND}")
    elsewhere.expect(contains(f"You are now logged in as {ACCOUNT}"))
    assert whois_account(early, "early") == ACCOUNT
    assert whois_account(late, "late") == ACCOUNT

    lab.heal()
    for client in (early, late, elsewhere):
        client.wait_linked(4, timeout=30)
    # The loser's users, on its origin and elsewhere, are logged out with the notice.
    for client in (late, elsewhere):
        # (saw: waiting for the link read past it, maybe)
        notice = client.saw(lambda m: from_nickserv(m) and LOGGED_OUT in m.last, timeout=15)
        assert notice.params[0] == client.nick
        client.saw(lambda m: m.command == "901")
    assert not early.has(lambda m: from_nickserv(m) and LOGGED_OUT in m.last)

    # One winner, the same on every server: early's registration, its password.
    for node in nodes:
        probe = lab.client(users, node, f"probe-{node.name}")
        assert registered_at(probe) == winner_info, node.name
        assert identify(probe, FIRST), f"{node.name}: the winner's password"
        assert not identify(probe, SECOND), f"{node.name}: the loser's password"
        # Every server sees early logged in, and the loser's users logged out.
        assert whois_account(probe, "early") == ACCOUNT, node.name
        assert whois_account(probe, "late") is None, node.name
        assert whois_account(probe, "elsewhere") is None, node.name
    assert all(node_alive(node) for node in nodes)


def node_alive(node: Node) -> bool:
    return node.proc is not None and node.proc.poll() is None and "Traceback" not in node.log()
