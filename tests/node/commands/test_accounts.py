"""Accounts: NickServ, draft/account-registration, SASL (PLAIN, SCRAM-SHA-256, EXTERNAL),
owned nicks."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from scramp import ScramClient

from chatnet_node.irc.accounts import ScramKeys, credentials
from tests.corekit import CoreServer

PASSWORD = "correct-horse-battery"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def registered(server: CoreServer, nick: str = "alice", password: str = PASSWORD) -> None:
    """An account ``nick`` registered through NickServ by a connection that then leaves."""
    user = server.user(nick)
    assert (
        f"Account {nick} registered; you are logged in"
        in user.ask(f"PRIVMSG NickServ :REGISTER {password}")[0]
    )
    user.send("QUIT")
    server.tick(1)


def sasl_connection(server: CoreServer, mechanism: str = "PLAIN", **connection: object):  # type: ignore[no-untyped-def]
    user = server.connection(**connection)  # type: ignore[arg-type]
    user.send("CAP LS 302", "CAP REQ :sasl account-tag", "NICK someone", "USER someone 0 * :S")
    user.lines()
    assert user.ask(f"AUTHENTICATE {mechanism}") == ["AUTHENTICATE +"]
    return user


# NickServ.


def test_nickserv_register_identify_logout(server: CoreServer) -> None:
    alice = server.user("alice")
    lines = alice.ask(f"PRIVMSG NickServ :REGISTER {PASSWORD} alice@example.org")
    assert lines == [
        ":NickServ!NickServ@services.TestNet NOTICE alice "
        ":Account alice registered; you are logged in",
        ":test 900 alice alice!~alice@127.0.0.1 alice :You are now logged in as alice",
    ]
    assert alice.ask("PRIVMSG NickServ :LOGOUT") == [
        ":test 901 alice alice!~alice@127.0.0.1 :You are now logged out",
        # Logged out, alice now holds a registered nick like anyone else.
        ":NickServ!NickServ@services.TestNet NOTICE alice :This nickname is registered. Log in "
        "(/msg NickServ IDENTIFY password, or SASL) within 30 seconds or your nick will be changed",
        ":NickServ!NickServ@services.TestNet NOTICE alice :You are now logged out",
    ]
    other = server.user("bob")
    assert other.ask("NS IDENTIFY alice wrong-password") == [
        ":NickServ!NickServ@services.TestNet NOTICE bob :Invalid account or password"
    ]
    assert other.ask(f"NS IDENTIFY alice {PASSWORD}")[0] == (
        ":test 900 bob bob!~bob@127.0.0.1 alice :You are now logged in as alice"
    )
    whois = other.ask("WHOIS bob")
    assert ":test 330 bob bob alice :is logged in as" in whois


def test_nickserv_refuses_bad_registrations(server: CoreServer) -> None:
    registered(server, "alice")
    alice = server.user("alice")  # the nick, not the account
    alice.lines()
    assert alice.ask(f"NS REGISTER {PASSWORD}")[0].endswith(
        ":The account alice is already registered"
    )
    bob = server.user("bob")
    assert bob.ask("NS REGISTER short")[0].endswith(":Passwords must be at least 8 characters")
    assert bob.ask(f"NS REGISTER {PASSWORD} not-an-email")[0].endswith(
        ":not-an-email is not an e-mail address"
    )
    assert bob.ask("NS FROBNICATE")[0].endswith(
        ":Unknown command FROBNICATE. /msg NickServ HELP lists them"
    )
    assert bob.ask("NICK NickServ") == [":test 432 bob NickServ :Reserved for a service"]


def test_set_password_drop_and_info(server: CoreServer) -> None:
    alice = server.user("alice")
    alice.send(f"NS REGISTER {PASSWORD}")
    alice.lines()
    assert alice.ask("NS SET PASSWORD another-long-one")[0].endswith(
        ":Your password has been changed"
    )
    other = server.user("bob")
    assert other.ask(f"NS IDENTIFY alice {PASSWORD}")[0].endswith(":Invalid account or password")
    info = other.ask("NS INFO alice")
    assert info[0].startswith(
        ":NickServ!NickServ@services.TestNet NOTICE bob :Account alice: registered 20"
    )
    assert "E-mail" not in " ".join(info)  # only for the owner and operators
    assert alice.ask("NS DROP wrong")[0].endswith(
        ":Syntax: DROP <password> (your account's password, to confirm)"
    )
    dropped = alice.ask("NS DROP another-long-one")
    assert ":test 901 alice alice!~alice@127.0.0.1 :You are now logged out" in dropped
    assert other.ask("NS INFO alice")[0].endswith(":alice is not a registered account")


# draft/account-registration.


def test_register_before_connecting(server: CoreServer) -> None:
    user = server.connection()
    user.send("CAP LS 302", "CAP REQ :draft/account-registration", "NICK carol")
    user.lines()
    assert user.ask(f"REGISTER * carol@example.org :{PASSWORD}") == [
        ":test REGISTER SUCCESS carol :Account successfully registered",
        ":test 900 carol carol!*@127.0.0.1 carol :You are now logged in as carol",
    ]
    welcome = user.ask("USER carol 0 * :Carol", "CAP END")
    assert (
        welcome[0] == ":test 001 carol :Welcome to the TestNet IRC Network carol!~carol@127.0.0.1"
    )
    assert not [line for line in welcome if "NickServ" in line]  # its own nick: no warning


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (
            f"REGISTER * * {PASSWORD}",
            "FAIL REGISTER NEED_NICK * :Choose a nick (or an account name) first",
        ),
        (
            "REGISTER dave * short",
            "FAIL REGISTER WEAK_PASSWORD dave :Passwords must be at least 8 characters",
        ),
        (
            f"REGISTER 9lives * {PASSWORD}",
            "FAIL REGISTER BAD_ACCOUNT_NAME 9lives :Account names are nicks",
        ),
        (
            f"REGISTER NickServ * {PASSWORD}",
            "FAIL REGISTER BAD_ACCOUNT_NAME NickServ :That name is reserved",
        ),
        (
            f"REGISTER dave x@ {PASSWORD}",
            "FAIL REGISTER INVALID_EMAIL dave :x@ is not an e-mail address",
        ),
        (
            f"REGISTER alice * {PASSWORD}",
            "FAIL REGISTER ACCOUNT_EXISTS alice :The account alice is already registered",
        ),
        (
            "VERIFY dave 1234",
            "FAIL VERIFY INVALID_CODE dave :No verification is pending for that account",
        ),
    ],
)
def test_register_failures(server: CoreServer, line: str, reply: str) -> None:
    registered(server, "alice")
    user = server.connection()
    (answer,) = user.ask(line)
    assert answer.startswith(f":test {reply}"), answer
    assert server.core.accounts.get("dave") is None


def test_registration_can_be_turned_off() -> None:
    server = CoreServer(name="test", accounts={"registration": False})
    user = server.user("erin")
    assert user.ask(f"REGISTER * * {PASSWORD}") == [
        ":test FAIL REGISTER DISALLOWED erin :Account registration is disabled on this network"
    ]
    off = CoreServer(name="test", accounts={"enabled": False})
    client = off.connection()
    (listing,) = client.ask("CAP LS 302")
    assert "sasl" not in listing and "account-tag" not in listing
    assert off.user("frank").ask("NS HELP")[0].endswith(":Accounts are disabled on this network")


# SASL.


def test_sasl_plain(server: CoreServer) -> None:
    registered(server, "alice")
    user = sasl_connection(server)
    assert user.ask(f"AUTHENTICATE {b64(chr(0) + 'alice' + chr(0) + PASSWORD)}") == [
        ":test 900 someone someone!~someone@127.0.0.1 alice :You are now logged in as alice",
        ":test 903 someone :SASL authentication successful",
    ]
    assert user.ask("AUTHENTICATE PLAIN") == [
        ":test 907 someone :You have already authenticated using SASL"
    ]
    user.send("CAP END")
    assert user.client.registered and user.client.account == "alice"


@pytest.mark.parametrize(
    ("pieces", "numeric"),
    [
        ([b64("\0alice\0wrong-password")], "904 someone :SASL authentication failed"),
        ([b64("alice")], "904 someone :SASL authentication failed"),
        (["not base64!"], "904 someone :SASL authentication failed"),
        (["*"], "906 someone :SASL authentication aborted"),
        (["A" * 400] * 30, "905 someone :SASL message too long"),
    ],
)
def test_sasl_plain_failures(server: CoreServer, pieces: list[str], numeric: str) -> None:
    registered(server, "alice")
    user = sasl_connection(server)
    replies = []
    for piece in pieces:
        server.tick(1)  # within the flood limits
        replies += user.ask(f"AUTHENTICATE {piece}")
        if replies:
            break
    assert replies == [f":test {numeric}"]
    assert user.client.account is None
    # The exchange is over: a new one may start.
    assert user.ask("AUTHENTICATE PLAIN") == ["AUTHENTICATE +"]


def test_sasl_in_400_byte_pieces(server: CoreServer) -> None:
    long_password = "p" * 293  # the response base64-encodes to exactly 400 characters
    registered(server, "alice", password=long_password)
    user = sasl_connection(server)
    encoded = b64(f"\0alice\0{long_password}")
    assert len(encoded) == 400
    assert user.ask(f"AUTHENTICATE {encoded}") == []  # exactly 400: more may follow
    assert user.ask("AUTHENTICATE +")[-1] == ":test 903 someone :SASL authentication successful"


def test_unknown_mechanism_lists_ours(server: CoreServer) -> None:
    user = server.connection()
    user.send("CAP REQ :sasl", "NICK x", "USER x 0 * :x")
    user.lines()
    assert user.ask("AUTHENTICATE DIGEST-MD5") == [
        ":test 908 x PLAIN,EXTERNAL,SCRAM-SHA-256 :are available SASL mechanisms",
        ":test 904 x :SASL authentication failed",
    ]


def test_sasl_scram_sha_256_against_scramp(server: CoreServer) -> None:
    """A SCRAM client from scramp (the PyPI library) logs in; the server proves itself too."""
    registered(server, "alice")
    user = sasl_connection(server, "SCRAM-SHA-256")
    client = ScramClient(["SCRAM-SHA-256"], "alice", PASSWORD)
    (first,) = user.ask(f"AUTHENTICATE {b64(client.get_client_first())}")
    client.set_server_first(base64.b64decode(first.split()[1]).decode())
    (final,) = user.ask(f"AUTHENTICATE {b64(client.get_client_final())}")
    client.set_server_final(base64.b64decode(final.split()[1]).decode())  # raises if forged
    assert user.ask("AUTHENTICATE +") == [
        ":test 900 someone someone!~someone@127.0.0.1 alice :You are now logged in as alice",
        ":test 903 someone :SASL authentication successful",
    ]


def test_sasl_scram_wrong_password(server: CoreServer) -> None:
    registered(server, "alice")
    user = sasl_connection(server, "SCRAM-SHA-256")
    client = ScramClient(["SCRAM-SHA-256"], "alice", "not the password")
    (first,) = user.ask(f"AUTHENTICATE {b64(client.get_client_first())}")
    client.set_server_first(base64.b64decode(first.split()[1]).decode())
    assert user.ask(f"AUTHENTICATE {b64(client.get_client_final())}") == [
        ":test 904 someone :SASL authentication failed"
    ]
    assert user.client.account is None


def test_scram_keys_follow_rfc_7677() -> None:
    """The stored keys are RFC 5802's: StoredKey = H(HMAC(SaltedPassword, "Client Key"))."""
    keys = credentials("pencil")["scram"]
    assert isinstance(keys, ScramKeys)
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", base64.b64decode(keys.salt), keys.iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    assert base64.b64decode(keys.stored_key) == hashlib.sha256(client_key).digest()
    assert keys.iterations == 4096


def test_sasl_external_with_a_registered_certificate(server: CoreServer) -> None:
    fingerprint = "ab" * 32
    alice = server.user("alice")
    alice.client.certfp = fingerprint  # what the TLS transport reads from the handshake
    alice.send(f"NS REGISTER {PASSWORD}")
    alice.lines()
    assert alice.ask("NS CERT ADD")[0].endswith(":Certificate added")
    assert alice.ask("NS CERT LIST")[0].endswith(f" {fingerprint}")
    user = sasl_connection(server, "EXTERNAL")
    user.client.certfp = fingerprint
    assert user.client.sasl is not None
    user.client.sasl.certfp = fingerprint
    assert user.ask("AUTHENTICATE +")[-1] == ":test 903 someone :SASL authentication successful"
    assert user.client.account == "alice"
    stranger = sasl_connection(server, "EXTERNAL")
    assert stranger.ask("AUTHENTICATE +") == [":test 904 someone :SASL authentication failed"]


# What others see of an account.


def test_account_tag_notify_and_extended_join(server: CoreServer) -> None:
    registered(server, "alice")
    watcher, plain = server.room(
        ("watcher", "account-notify account-tag extended-join message-tags"), ("plain", "")
    )
    alice = server.user("alice")
    alice.send("JOIN #room")
    assert watcher.lines()[0].endswith(" :alice!~alice@127.0.0.1 JOIN #room * :alice Real")
    plain.lines()
    alice.send(f"NS IDENTIFY {PASSWORD}")
    assert watcher.lines() == [":alice!~alice@127.0.0.1 ACCOUNT alice"]
    assert plain.lines() == []
    alice.send("PRIVMSG #room :hello")
    (tagged,) = watcher.lines()
    assert "account=alice" in tagged
    (untagged,) = plain.lines()
    assert untagged == ":alice!~alice@127.0.0.1 PRIVMSG #room hello"
    assert ":test 354 watcher alice alice" in watcher.ask("WHO alice %na")
    alice.send("PART #room", "JOIN #room")
    assert any(
        line.endswith(" :alice!~alice@127.0.0.1 JOIN #room alice :alice Real")
        for line in watcher.lines()
    )


# Owned nicks.


def test_a_registered_nick_is_taken_back_after_the_grace_period(server: CoreServer) -> None:
    registered(server, "alice")
    squatter = server.user("alice")
    assert squatter.client.nick_deadline is not None
    server.tick(29)
    assert squatter.lines() == []
    server.tick(2)
    lines = squatter.lines()
    guest = f"Guest{squatter.client.uid}"
    assert lines[0].endswith(
        f":You did not log in for the registered nick alice: you are now {guest}"
    )
    assert lines[1] == f":alice!~alice@127.0.0.1 NICK {guest}"
    assert squatter.nick == guest


def test_logging_in_within_the_grace_period_keeps_the_nick(server: CoreServer) -> None:
    registered(server, "alice")
    alice = server.user("alice")
    server.tick(10)
    alice.send(f"NS IDENTIFY {PASSWORD}")
    server.tick(60)
    assert alice.nick == "alice"


def test_warn_only_enforcement_never_renames() -> None:
    server = CoreServer(name="test", accounts={"nickEnforcement": "warn"})
    registered(server, "alice")
    squatter = server.connection()
    welcome = squatter.ask("NICK alice", "USER a 0 * :A")
    assert welcome[-1].endswith(":This nickname is registered to someone else: please change it")
    server.tick(3600)
    assert squatter.nick == "alice"


def test_ghost_frees_the_nick(server: CoreServer) -> None:
    registered(server, "alice")
    squatter = server.user("alice")
    stranger = server.user("stranger")
    assert stranger.ask("NS GHOST alice")[0].endswith(":You may not ghost alice: it is not yours")
    assert stranger.ask("NS GHOST alice wrong-password")[0].endswith("it is not yours")
    assert not squatter.closed
    owner = server.user("owner")
    owner.send(f"NS IDENTIFY alice {PASSWORD}")
    assert owner.ask("NS GHOST alice")[-1].endswith(":alice has been ghosted")
    assert squatter.closed
    assert owner.ask("NICK alice") == [":owner!~owner@127.0.0.1 NICK alice"]  # no warning: ours
    second = server.user("second")
    second.send("NICK alice2")
    assert second.ask(f"NS GHOST alice {PASSWORD}")[-1].endswith(":alice has been ghosted")
