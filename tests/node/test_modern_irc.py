"""Modern IRC behaviour, exact lines (modern.ircdocs.horse, RFC 2812):
host-name server names, USER, KICK with several targets, LUSERS counts,
WHOWAS, USERHOST, ISON, HELP/HELPOP and WALLOPS, on one server and across
a network."""

from __future__ import annotations

import pytest

from chatnet_node.config import NodeConfig, Operator
from chatnet_node.irc import wire
from tests.corekit import CoreNetwork, CoreServer, CoreUser

NAME = "My.Little.Server"


@pytest.fixture
def server() -> CoreServer:
    return CoreServer(name=NAME)


def oper(server: CoreServer, nick: str) -> CoreUser:
    server.core.config = server.core.config.model_copy(
        update={"operators": [Operator(name="root", password="pw")]}
    )
    user = server.user(nick)
    user.send("OPER root pw")
    user.lines()
    return user


# Server names are host names.


@pytest.mark.parametrize("name", ["irc.example.org", "hub1.sd.com", NAME, "east"])
def test_a_host_name_is_a_server_name(name: str) -> None:
    assert NodeConfig.model_validate({"name": name}).name == name


@pytest.mark.parametrize("name", ["-east", "east-", "a..b", "has space", "x" * 64, ""])
def test_a_server_name_that_is_no_host_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="server name must be a host name"):
        NodeConfig.model_validate({"name": name})


def test_the_server_name_is_shown_in_004_whois_who_and_links(server: CoreServer) -> None:
    user = server.connection()
    user.send("NICK alice", "USER alice 0 * :Alice")
    welcome = user.lines()
    assert (
        welcome[0]
        == f":{NAME} 001 alice :Welcome to the TestNet IRC Network alice!~alice@127.0.0.1"
    )
    assert welcome[3].startswith(f":{NAME} 004 alice {NAME} ")
    assert f":{NAME} 312 alice alice {NAME} :chatnet server" in user.ask("WHOIS alice")
    assert user.ask("WHO alice")[0] == (
        f":{NAME} 352 alice * ~alice 127.0.0.1 {NAME} alice H :0 Alice"
    )
    assert user.ask("LINKS")[0] == f":{NAME} 364 alice {NAME} {NAME} :0 chatnet server"


# Registration.


@pytest.mark.parametrize("line", ["USER alice 0 * :", "USER alice 0 *", "USER"])
def test_user_without_a_realname_is_461(server: CoreServer, line: str) -> None:
    user = server.connection()
    user.send("NICK alice")
    assert user.ask(line) == [f":{NAME} 461 alice USER :Not enough parameters"]
    assert not user.client.registered


# KICK.


def test_kick_with_several_nicks_kicks_each_with_a_message_of_its_own(server: CoreServer) -> None:
    op, bar, baz, qux = (server.user(n) for n in ("op", "bar", "baz", "qux"))
    for user in (op, bar, baz, qux):
        user.send("JOIN #chan")
    qux.lines()
    op.send("KICK #chan bar,baz :bye")
    assert qux.lines() == [
        ":op!~op@127.0.0.1 KICK #chan bar bye",
        ":op!~op@127.0.0.1 KICK #chan baz bye",
    ]


def test_kick_pairs_channels_with_nicks(server: CoreServer) -> None:
    op, bar, baz = (server.user(n) for n in ("op", "bar", "baz"))
    for user in (op, bar, baz):
        user.send("JOIN #a", "JOIN #b")
    op.lines()
    assert op.ask("KICK #a,#b bar,baz :out") == [
        ":op!~op@127.0.0.1 KICK #a bar out",
        ":op!~op@127.0.0.1 KICK #b baz out",
    ]
    assert op.ask("KICK #a,#b bar :one channel too many") == [
        f":{NAME} 461 op KICK :Not enough parameters"
    ]


# LUSERS.


def lusers(user: CoreUser) -> dict[str, str]:
    return {line.split()[1]: line for line in user.ask("LUSERS")}


def test_lusers_counts_unregistered_connections_and_keeps_real_maxima(server: CoreServer) -> None:
    bar = server.user("bar")
    numerics = lusers(bar)
    assert numerics["251"] == f":{NAME} 251 bar :There are 1 users and 0 invisible on 1 servers"
    assert numerics["265"] == f":{NAME} 265 bar 1 1 :Current local users 1, max 1"
    assert numerics["266"] == f":{NAME} 266 bar 1 1 :Current global users 1, max 1"
    pending = [server.connection(), server.connection()]
    for index, conn in enumerate(pending):
        conn.send(f"NICK pending{index}")
    numerics = lusers(bar)
    assert numerics["253"] == f":{NAME} 253 bar 2 :unknown connection(s)"
    assert numerics["255"] == f":{NAME} 255 bar :I have 1 clients and 0 servers"
    assert numerics["265"] == f":{NAME} 265 bar 1 1 :Current local users 1, max 1"
    pending[0].send("USER p 0 * :P")
    pending[1].send("QUIT")
    numerics = lusers(bar)
    assert "253" not in numerics
    assert numerics["266"] == f":{NAME} 266 bar 2 2 :Current global users 2, max 2"
    pending[0].send("QUIT")
    numerics = lusers(bar)
    assert numerics["265"] == f":{NAME} 265 bar 1 2 :Current local users 1, max 2"
    assert numerics["266"] == f":{NAME} 266 bar 1 2 :Current global users 1, max 2"


def test_lusers_counts_the_whole_network() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice")
    net.user("b", "bob")
    numerics = lusers(alice)
    assert numerics["251"] == ":a 251 alice :There are 2 users and 0 invisible on 2 servers"
    assert numerics["255"] == ":a 255 alice :I have 1 clients and 1 servers"
    assert numerics["265"] == ":a 265 alice 1 1 :Current local users 1, max 1"
    assert numerics["266"] == ":a 266 alice 2 2 :Current global users 2, max 2"


# WHOWAS.


def test_whowas_most_recent_first_with_count_masks_and_unknown_nicks(server: CoreServer) -> None:
    asker = server.user("asker")
    for ident in ("first", "second"):
        gone = server.connection()
        gone.send("NICK nick2", f"USER {ident} 0 * :Realname", "QUIT :bye")
        server.tick(1)
    whowas = [
        f":{NAME} 314 asker nick2 ~second 127.0.0.1 * Realname",
        f":{NAME} 312 asker nick2 {NAME} 2027-01-15T08:00:01.000Z",
        f":{NAME} 314 asker nick2 ~first 127.0.0.1 * Realname",
        f":{NAME} 312 asker nick2 {NAME} 2027-01-15T08:00:00.000Z",
    ]
    end = f":{NAME} 369 asker nick2 :End of WHOWAS"
    assert asker.ask("WHOWAS nick2") == [*whowas, end]
    assert asker.ask("WHOWAS nick2 1") == [*whowas[:2], end]
    assert asker.ask("WHOWAS nick2 -1") == [*whowas, end]
    assert asker.ask("WHOWAS *ck2 0") == [*whowas, end.replace("nick2", "*ck2", 1)]
    assert asker.ask("WHOWAS nobody") == [
        f":{NAME} 406 asker nobody :There was no such nickname",
        f":{NAME} 369 asker nobody :End of WHOWAS",
    ]
    assert asker.ask("WHOWAS") == [
        f":{NAME} 431 asker :No nickname given",
        f":{NAME} 369 asker * :End of WHOWAS",
    ]


# USERHOST and ISON.


def test_userhost_and_ison(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    bob.send("AWAY :lunch")
    root = oper(server, "root")
    assert alice.ask("USERHOST alice bob root nobody") == [
        f":{NAME} 302 alice :alice=+~alice@127.0.0.1 bob=-~bob@127.0.0.1 root*=+~root@127.0.0.1"
    ]
    assert alice.ask("USERHOST") == [f":{NAME} 461 alice USERHOST :Not enough parameters"]
    assert root.ask("ISON alice nobody Bob") == [f":{NAME} 303 root :alice bob"]


# HELP and HELPOP.


@pytest.mark.parametrize("command", ["HELP", "HELPOP"])
def test_help(server: CoreServer, command: str) -> None:
    user = server.user("nick")
    index = user.ask(command)
    assert index[0] == f":{NAME} 704 nick * :** Help for TestNet **"
    assert index[-1] == f":{NAME} 706 nick * :End of /HELP"
    assert all(line.split()[:4] == [f":{NAME}", "705", "nick", "*"] for line in index[1:-1])
    assert user.ask(f"{command} privmsg") == [
        f":{NAME} 704 nick PRIVMSG :PRIVMSG <target>[,<target>...] :<text>",
        f":{NAME} 705 nick PRIVMSG :Send a message to channels or users.",
        f":{NAME} 706 nick PRIVMSG :End of /HELP",
    ]
    assert user.ask(f"{command} THISISNOTACOMMAND") == [
        f":{NAME} 524 nick THISISNOTACOMMAND :No help available on this topic"
    ]


def test_every_command_has_help(server: CoreServer) -> None:
    user = server.user("nick")
    for command in server.core.commands:
        server.tick(1)  # within the flood limits
        assert user.ask(f"HELP {command}")[0].split()[1] == "704", command


# WALLOPS.


def test_wallops_reaches_users_with_mode_w_on_every_server() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    core_a = net.cores["a"]
    core_a.config = core_a.config.model_copy(
        update={"operators": [Operator(name="root", password="pw")]}
    )
    root = net.user("a", "root")
    here, there, deaf = net.user("a", "here"), net.user("b", "there"), net.user("b", "deaf")
    assert here.ask("MODE here +w") == [":here!~here@127.0.0.1 MODE here +w"]
    assert here.ask("MODE here") == [":a 221 here +w"]
    net.say(there, "MODE there +w")
    there.lines()
    assert root.ask("WALLOPS :not yet") == [
        ":a 481 root :Permission Denied- You're not an IRC operator"
    ]
    net.say(root, "OPER root pw")
    root.lines()
    net.say(root, "WALLOPS :maintenance at noon")
    expected = [":root!~root@127.0.0.1 WALLOPS :maintenance at noon"]
    assert here.lines() == expected
    assert there.lines() == expected
    assert deaf.lines() == []
    assert root.lines() == [], "root has no +w"


# Line length.


@pytest.mark.parametrize("kind", [wire.STREAM, wire.WS_TEXT])
def test_a_relayed_line_is_cut_to_510_bytes_at_a_character_boundary(
    server: CoreServer, kind: int
) -> None:
    """A client may send 510 bytes; relayed with its source the line would pass
    the limit every client relies on, so it is cut (never split inside a character)."""
    alice = server.user("alice", "echo-message")
    bob = server.user("bob", "message-tags server-time", kind=kind)
    for user in (alice, bob):
        user.send("JOIN #c")
        user.lines()
    text = "a " + "é" * 246 + "x"  # the whole line: 507 bytes
    alice.lines()
    bob.lines()
    alice.send(f"PRIVMSG #c :{text}")
    (echo,) = alice.lines()
    (relayed,) = bob.lines()
    prefix = ":alice!~alice@127.0.0.1 PRIVMSG #c :"
    room = 510 - len(prefix) - len("a ")  # bytes left for two-byte characters
    assert echo == prefix + "a " + "é" * (room // 2)
    assert len(echo.encode()) in (509, 510)
    tags, body = relayed.split(" ", 1)
    assert tags.startswith("@time=") and body == echo, "tags do not count against the 510"
