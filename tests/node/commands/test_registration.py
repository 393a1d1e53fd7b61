"""Connection registration, NICK, USER, PING, QUIT and SETNAME, line by line, on the core.

Numerics and their wording follow modern.ircdocs.horse. The server is named
``test``, its network ``TestNet``.
"""

from __future__ import annotations

from tests.corekit import CoreServer


def test_welcome_burst(server: CoreServer) -> None:
    client = server.connection()
    lines = client.ask("NICK alice", "USER alice 0 * :Alice Liddell")
    assert lines[:4] == [
        ":test 001 alice :Welcome to the TestNet IRC Network alice!~alice@127.0.0.1",
        ":test 002 alice :Your host is test, running version chatnet-0.1.0",
        ":test 003 alice :This server was created at startup",
        ":test 004 alice test chatnet-0.1.0 Biow Ibeklimnostv Ibeklov",
    ]
    codes = [line.split()[1] for line in lines]
    assert codes[4:6] == ["005", "005"]
    assert codes[6:] == ["251", "254", "255", "265", "266", "375", "372", "376"]
    assert lines[-1] == ":test 376 alice :End of /MOTD command."


def test_server_password() -> None:
    server = CoreServer(name="test", password="letmein")
    good = server.connection()
    good.send("PASS letmein", "NICK good", "USER good 0 * :Good")
    assert good.client.registered
    for attempt in (["PASS wrong"], []):
        bad = server.connection()
        lines = bad.ask(*attempt, "NICK bad", "USER bad 0 * :Bad")
        assert lines == [
            ":test 464 bad :Password incorrect",
            "ERROR :Closing Link: 127.0.0.1 (Bad password)",
        ]
        assert bad.closed


def test_nick_rules(server: CoreServer) -> None:
    server.user("alice")
    client = server.connection()
    assert client.ask("NICK") == [":test 431 * :No nickname given"]
    for bad in ("1digit", "-dash", "has.dot", "x" * 31, "#chan"):
        assert client.ask(f"NICK {bad}") == [f":test 432 * {bad} :Erroneous nickname"]
    # rfc1459 case mapping: Alice is alice, {BOB} is [bob].
    assert client.ask("NICK Alice") == [":test 433 * Alice :Nickname is already in use"]
    client.send("NICK [bob]", "USER bob 0 * :Bob")
    assert client.client.registered
    other = server.connection()
    assert other.ask("NICK {BOB}") == [":test 433 * {BOB} :Nickname is already in use"]


def test_nick_change_is_seen_by_self_and_peers(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #room")
    alice.lines()
    bob.lines()
    assert alice.ask("NICK alicia") == [":alice!~alice@127.0.0.1 NICK alicia"]
    assert bob.lines() == [":alice!~alice@127.0.0.1 NICK alicia"]
    bob.send("PRIVMSG alicia :found you")
    assert alice.lines() == [":bob!~bob@127.0.0.1 PRIVMSG alicia :found you"]
    assert bob.ask("PRIVMSG alice :old nick") == [":test 401 bob alice :No such nick/channel"]


def test_user_needs_params_and_commands_need_registration(server: CoreServer) -> None:
    client = server.connection()
    assert client.ask("USER onlyone") == [":test 461 * USER :Not enough parameters"]
    assert client.ask("JOIN #early") == [":test 451 * :You have not registered"]
    assert client.ask("PRIVMSG x :y") == [":test 451 * :You have not registered"]
    client.send("NICK late", "USER late 0 * :Late")
    assert client.client.registered
    client.lines()
    assert client.ask("USER again 0 * :Again") == [":test 462 late :You may not reregister"]
    assert client.ask("PASS whatever") == [":test 462 late :You may not reregister"]


def test_ping_pong_and_unknown_command(server: CoreServer) -> None:
    client = server.connection()
    assert client.ask("PING :before registration") == [":test PONG test :before registration"]
    client.send("NICK alice", "USER alice 0 * :A")
    client.lines()
    assert client.ask("PING abc") == [":test PONG test abc"]
    assert client.ask("PING") == [":test 409 alice :No origin specified"]
    assert client.ask("PONG :whatever") == []  # answering nothing is harmless
    assert client.ask("FROBNICATE a b") == [":test 421 alice FROBNICATE :Unknown command"]
    assert client.ask("frobnicate") == [":test 421 alice FROBNICATE :Unknown command"]


def test_quit(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #room")
    alice.lines()
    assert bob.ask("QUIT :see you") == ["ERROR :Closing Link: 127.0.0.1 (Quit: see you)"]
    assert bob.closed
    assert alice.lines() == [":bob!~bob@127.0.0.1 QUIT :Quit: see you"]
    assert alice.ask("NAMES #room")[0] == ":test 353 alice = #room @alice"


def test_setname(server: CoreServer) -> None:
    alice, bob = server.user("alice", "setname"), server.user("bob")
    assert alice.ask("SETNAME :Alice Pleasance") == [
        ":alice!~alice@127.0.0.1 SETNAME :Alice Pleasance"
    ]
    assert bob.ask("WHOIS alice")[0] == ":test 311 bob alice ~alice 127.0.0.1 * :Alice Pleasance"
    assert alice.ask("SETNAME :" + "x" * 300) == [
        ":test FAIL SETNAME INVALID_REALNAME :Realname is not valid"
    ]


def test_no_motd() -> None:
    server = CoreServer(name="test", motd="")
    client = server.connection()
    lines = client.ask("NICK alice", "USER alice 0 * :A")
    assert lines[-1] == ":test 422 alice :MOTD File is missing"
