"""Cloaks: users are shown by a keyed hash of their address; operators and bans still see it."""

from __future__ import annotations

import re

from chatnet_node.config import Cloaks
from chatnet_node.irc.cloaks import cloak
from tests.corekit import CoreNetwork, CoreServer

SECRET = "network-secret"
ON = {"cloaks": {"secret": SECRET}, "operators": [{"name": "admin", "password": "operpass"}]}
LABEL = "[a-z2-7]{8}"


def shown(address: str, secret: str = SECRET) -> str:
    return cloak(Cloaks(secret=secret), address)


def test_the_shape_of_a_cloak() -> None:
    ipv4 = shown("192.0.2.10")
    assert re.fullmatch(rf"{LABEL}\.{LABEL}\.{LABEL}\.chatnet", ipv4), ipv4
    assert "192" not in ipv4
    neighbour = shown("192.0.2.99")  # same /24: the last two labels are shared
    assert neighbour != ipv4 and neighbour.split(".")[1:] == ipv4.split(".")[1:]
    other_net = shown("192.0.3.10")  # same /16 only
    assert other_net.split(".")[2:] == ipv4.split(".")[2:]
    assert other_net.split(".")[1] != ipv4.split(".")[1]
    assert shown("192.0.2.10") == ipv4  # the same on every server with the secret
    assert shown("192.0.2.10", secret="another") != ipv4
    assert shown("::ffff:192.0.2.10") == ipv4  # an IPv4 client on an IPv6 socket
    ipv6 = shown("2001:db8::1")
    assert re.fullmatch(rf"{LABEL}\.{LABEL}\.{LABEL}\.chatnet", ipv6)
    assert shown("2001:db8::2").split(".")[1:] == ipv6.split(".")[1:]  # same /64
    assert re.fullmatch(rf"{LABEL}\.chatnet", shown("/run/chat.sock"))
    assert cloak(Cloaks(enabled=False, secret=SECRET), "192.0.2.10") == "192.0.2.10"


def test_others_see_the_cloak_operators_see_the_address() -> None:
    server = CoreServer(name="test", **ON)
    host = shown("127.0.0.1")
    alice, bob = server.room(("alice", ""), ("bob", ""))
    assert alice.ask("PRIVMSG #room :hi") == []
    assert bob.lines() == [f":alice!~alice@{host} PRIVMSG #room hi"]
    whois = bob.ask("WHOIS alice")
    assert f":test 311 bob alice ~alice {host} * :alice Real" in whois
    assert not [line for line in whois if "127.0.0.1" in line]
    assert f":test 354 bob 255.255.255.255 {host} alice" in bob.ask("WHO alice %nhi")
    bob.send("OPER admin operpass")
    bob.lines()
    whois = bob.ask("WHOIS alice")
    assert ":test 378 bob alice :is connecting from ~alice@127.0.0.1 127.0.0.1" in whois
    assert ":test 338 bob alice 127.0.0.1 :actually using host" in whois
    assert f":test 354 bob 127.0.0.1 {host} alice" in bob.ask("WHO alice %nhi")


def test_bans_match_the_cloak_and_the_real_address() -> None:
    server = CoreServer(name="test", **ON)
    op, pest = server.room(("op", ""), ("pest", ""))
    op.send("MODE #room +b *!*@127.0.0.1", "KICK #room pest")
    assert pest.ask("JOIN #room")[0].startswith(":test 474 pest #room")
    op.send("MODE #room -b *!*@127.0.0.1")
    subnet = ".".join(shown("127.0.0.1").split(".")[1:])  # the /24 of the cloak
    op.send(f"MODE #room +b *!*@*.{subnet}")
    assert pest.ask("JOIN #room")[0].startswith(":test 474 pest #room")


def test_logged_in_users_are_shown_by_account() -> None:
    server = CoreServer(name="test", **ON)
    host = shown("127.0.0.1")
    alice, watcher, plain = server.room(("alice", ""), ("watcher", "chghost"), ("plain", ""))
    alice.send("NS REGISTER correct-horse-battery")
    assert watcher.lines() == [f":alice!~alice@{host} CHGHOST ~alice account/alice"]
    assert plain.lines() == []  # without chghost: nothing until alice speaks again
    alice.send("PRIVMSG #room :hi")
    assert plain.lines() == [":alice!~alice@account/alice PRIVMSG #room hi"]
    watcher.lines()
    alice.send("NS LOGOUT")
    assert watcher.lines() == [f":alice!~alice@account/alice CHGHOST ~alice {host}"]


def test_a_sasl_login_shows_the_account_from_the_welcome() -> None:
    server = CoreServer(name="test", **ON)
    server.user("alice").send("NS REGISTER correct-horse-battery", "QUIT")
    user = server.connection()
    user.send("CAP REQ :sasl", "NICK alice", "USER alice 0 * :A", "AUTHENTICATE PLAIN")
    user.send("AUTHENTICATE AGFsaWNlAGNvcnJlY3QtaG9yc2UtYmF0dGVyeQ==")
    welcome = user.ask("CAP END")
    assert welcome[0].endswith("alice!~alice@account/alice")


def test_cloaks_cross_links_with_the_real_address_for_operators() -> None:
    net = CoreNetwork("a", "b", **ON)
    net.link("a", "b")
    alice = net.user("a", "alice")
    oper = net.user("b", "oper")
    net.say(oper, "OPER admin operpass")
    oper.lines()
    remote = net.cores["b"].users[alice.client.uid]
    assert remote.host == shown("127.0.0.1") and remote.address == "127.0.0.1"
    assert ":b 338 oper alice 127.0.0.1 :actually using host" in oper.ask("WHOIS alice")
    net.say(alice, "NS REGISTER correct-horse-battery")
    assert remote.host == "account/alice"
