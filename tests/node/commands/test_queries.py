"""Questions line by line on the core: WHO, WHOIS, WHOWAS, ISUPPORT, VERSION, MOTD,
LUSERS, TIME, ADMIN, INFO, LINKS, and OPER with KILL."""

from __future__ import annotations

from chatnet_node.config import Operator
from tests.corekit import START, CoreServer


def test_who(server: CoreServer) -> None:
    alice = server.user("alice", realname="Alice Liddell")
    bob = server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #room")
    assert bob.ask("WHO #room") == [
        ":test 352 bob #room ~alice 127.0.0.1 test alice H@ :0 Alice Liddell",
        ":test 352 bob #room ~bob 127.0.0.1 test bob H :0 bob Real",
        ":test 315 bob #room :End of WHO list",
    ]
    assert bob.ask("WHO alice")[0] == (
        ":test 352 bob * ~alice 127.0.0.1 test alice H :0 Alice Liddell"
    )
    alice.send("AWAY :lunch")
    assert bob.ask("WHO alice")[0].split()[8] == "G"


def test_whois(server: CoreServer) -> None:
    alice = server.user("alice", realname="Alice Liddell")
    bob = server.user("bob")
    alice.send("JOIN #room")
    server.tick(7)
    assert bob.ask("WHOIS alice") == [
        ":test 311 bob alice ~alice 127.0.0.1 * :Alice Liddell",
        ":test 319 bob alice @#room",
        ":test 312 bob alice test :chatnet server",
        f":test 317 bob alice 7 {int(START)} :seconds idle, signon time",
        ":test 318 bob alice :End of /WHOIS list",
    ]
    assert bob.ask("WHOIS nobody") == [
        ":test 401 bob nobody :No such nick/channel",
        ":test 318 bob nobody :End of /WHOIS list",
    ]


def test_whowas(server: CoreServer) -> None:
    alice = server.user("alice", realname="Alice Liddell")
    bob = server.user("bob")
    alice.send("QUIT")
    assert bob.ask("WHOWAS alice") == [
        ":test 314 bob alice ~alice 127.0.0.1 * :Alice Liddell",
        ":test 312 bob alice test 2027-01-15T08:00:00.000Z",
        ":test 369 bob alice :End of WHOWAS",
    ]
    assert bob.ask("WHOWAS nobody") == [
        ":test 406 bob nobody :There was no such nickname",
        ":test 369 bob nobody :End of WHOWAS",
    ]


def test_isupport_and_version(server: CoreServer) -> None:
    client = server.connection()
    lines = client.ask("NICK alice", "USER alice 0 * :A")
    tokens: dict[str, str] = {}
    for line in (ln for ln in lines if ln.split()[1] == "005"):
        head, _, tail = line.partition(" :")
        assert tail == "are supported by this server"
        words = head.split()[3:]
        assert len(words) <= 13
        tokens.update(dict(w.partition("=")[::2] for w in words))
    assert tokens["NETWORK"] == "TestNet"
    assert tokens["CHANTYPES"] == "#"
    assert tokens["PREFIX"] == "(ov)@+"
    assert tokens["CASEMAPPING"] == "rfc1459"
    assert tokens["CHANMODES"] == "Ibe,k,l,imnst"
    for key in ("NICKLEN", "CHANNELLEN", "TOPICLEN", "KICKLEN", "AWAYLEN", "CHATHISTORY"):
        assert tokens[key].isdigit(), key
    assert tokens["MSGREFTYPES"] == "msgid,timestamp"
    lines = client.ask("VERSION")
    assert lines[0] == ":test 351 alice chatnet-0.1.0 test :chatnet IRC server"
    assert [line.split()[1] for line in lines[1:]] == ["005", "005"]


def test_motd_lusers_time_admin_info_links(server: CoreServer) -> None:
    alice = server.user("alice")
    assert alice.ask("MOTD") == [
        ":test 375 alice :- test Message of the day - ",
        ":test 372 alice :- Welcome to chatnet.",
        ":test 376 alice :End of /MOTD command.",
    ]
    assert alice.ask("LUSERS") == [
        ":test 251 alice :There are 1 users and 0 invisible on 1 servers",
        ":test 254 alice 0 :channels formed",
        ":test 255 alice :I have 1 clients and 0 servers",
        ":test 265 alice 1 1 :Current local users 1, max 1",
        ":test 266 alice 1 1 :Current global users 1, max 1",
    ]
    assert alice.ask("TIME") == [
        f":test 391 alice test {int(START)} 0 :Friday January 15 2027 -- 08:00:00 +00:00"
    ]
    assert alice.ask("ADMIN") == [
        ":test 256 alice test :Administrative info",
        ":test 257 alice chatnet",
        ":test 258 alice :a chatnet server",
        ":test 259 alice admin@example.invalid",
    ]
    info = alice.ask("INFO")
    assert all(line.split()[1] == "371" for line in info[:-1]) and len(info) > 1
    assert info[-1] == ":test 374 alice :End of INFO list"
    assert alice.ask("LINKS") == [
        ":test 364 alice test test :0 chatnet server",
        ":test 365 alice * :End of /LINKS list",
    ]


def test_oper_and_kill(server: CoreServer) -> None:
    server.core.config = server.core.config.model_copy(
        update={"operators": [Operator(name="admin", password="pw")]}
    )
    alice, bob = server.user("alice"), server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #room")
    alice.lines()
    assert bob.ask("KILL alice :nope") == [
        ":test 481 bob :Permission Denied- You're not an IRC operator"
    ]
    assert alice.ask("OPER admin wrong") == [":test 464 alice :Password incorrect"]
    assert alice.ask("OPER nobody pw") == [":test 464 alice :Password incorrect"]
    assert alice.ask("OPER admin pw") == [
        ":test 381 alice :You are now an IRC operator",
        ":alice!~alice@127.0.0.1 MODE alice +o",
    ]
    assert ":test 313 alice alice :is an IRC operator" in alice.ask("WHOIS alice")
    assert alice.ask("KILL nobody :x") == [":test 401 alice nobody :No such nick/channel"]
    assert alice.ask("KILL bob :spamming") == [
        ":bob!~bob@127.0.0.1 QUIT :Killed (alice (spamming))"
    ]
    assert bob.lines() == ["ERROR :Closing Link: 127.0.0.1 (Killed (alice (spamming)))"]
    assert bob.closed
