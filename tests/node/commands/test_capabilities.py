"""IRCv3 capabilities line by line on the core: negotiation, and what each one changes."""

from __future__ import annotations

import re

from tests.corekit import CoreServer

ALL_CAPS = (
    "account-notify account-tag away-notify batch cap-notify chathistory chghost "
    "draft/account-registration draft/channel-rename draft/chathistory "
    "draft/extended-monitor "
    "draft/message-redaction draft/metadata-2 draft/multiline draft/read-marker "
    "echo-message extended-join extended-monitor labeled-response message-tags "
    "multi-prefix sasl server-time setname userhost-in-names"
)
ALL_CAPS_302 = (
    ALL_CAPS.replace("draft/multiline", "draft/multiline=max-bytes=4096,max-lines=32")
    .replace("draft/metadata-2", "draft/metadata-2=maxsub=50,maxkey=20")
    .replace(
        "draft/account-registration",
        "draft/account-registration=before-connect,custom-account-name",
    )
    .replace("sasl", "sasl=PLAIN,EXTERNAL,SCRAM-SHA-256")
)
TIME = r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


# Negotiation.


def test_cap_ls_list_req_end(server: CoreServer) -> None:
    client = server.connection()
    assert client.ask("CAP LS 302") == [f":test CAP * LS :{ALL_CAPS_302}"]
    # Registration waits for CAP END.
    assert client.ask("NICK alice", "USER alice 0 * :Alice") == []
    assert client.ask("CAP REQ :multi-prefix server-time") == [
        ":test CAP * ACK :multi-prefix server-time"
    ]
    assert client.ask("CAP REQ :server-time no-such-cap") == [
        ":test CAP * NAK :server-time no-such-cap"
    ]
    assert client.ask("CAP LIST") == [":test CAP * LIST :cap-notify multi-prefix server-time"]
    assert client.ask("CAP REQ :-multi-prefix") == [":test CAP * ACK -multi-prefix"]
    assert client.ask("CAP LIST") == [":test CAP * LIST :cap-notify server-time"]
    welcome = client.ask("CAP END")
    assert welcome[0].startswith(":test 001 alice :Welcome to the TestNet IRC Network")


def test_cap_req_after_registration_is_addressed_to_the_nick(server: CoreServer) -> None:
    alice = server.user("alice")
    assert alice.ask("CAP REQ :echo-message") == [":test CAP alice ACK echo-message"]
    assert alice.ask("CAP LIST") == [":test CAP alice LIST echo-message"]


def test_cap_ls_without_version_and_nak_for_empty(server: CoreServer) -> None:
    client = server.connection()
    assert client.ask("CAP LS") == [f":test CAP * LS :{ALL_CAPS}"]
    assert client.ask("CAP REQ :") == [":test CAP * NAK :"]
    client.send("CAP END", "NICK bob", "USER bob 0 * :Bob")
    assert client.client.registered


def test_cap_notify_comes_with_302(server: CoreServer) -> None:
    client = server.connection()
    client.send("CAP LS 302")
    assert client.ask("CAP REQ cap-notify") == [":test CAP * ACK cap-notify"]
    assert client.ask("CAP LIST") == [":test CAP * LIST cap-notify"]


def test_registration_without_cap_end_is_held(server: CoreServer) -> None:
    client = server.connection()
    assert client.ask("CAP LS 302", "NICK held", "USER held 0 * :Held")[1:] == []
    assert client.ask("CAP END")[0].startswith(":test 001 held ")


# message-tags, msgid, server-time, echo-message, TAGMSG.


def test_client_tags_relayed_only_to_message_tags_clients(server: CoreServer) -> None:
    alice, bob, carol, dave = server.room(
        ("alice", "message-tags echo-message"),
        ("bob", "message-tags"),
        ("carol", ""),
        ("dave", "server-time"),
    )
    alice.send(r"@+draft/reply=abc;+example.com/x=a\sb;notclient=1 PRIVMSG #room :hi")
    (echo,) = alice.lines()
    assert re.fullmatch(
        r"@msgid=([\w-]+);\+draft/reply=abc;\+example\.com/x=a\\sb :alice!~alice@127\.0\.0\.1 "
        r"PRIVMSG #room hi",
        echo,
    ), echo
    assert bob.lines() == [echo], "the same bytes; time goes only to server-time clients"
    assert carol.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room hi"]
    (timed,) = dave.lines()
    assert re.fullmatch(f"@{TIME} :alice!~alice@127.0.0.1 PRIVMSG #room hi", timed)


def test_tagmsg(server: CoreServer) -> None:
    alice, bob, carol = server.room(
        ("alice", "message-tags echo-message"), ("bob", "message-tags"), ("carol", "")
    )
    alice.send("@+typing=active TAGMSG #room")
    (got,) = bob.lines()
    assert re.fullmatch(
        r"@msgid=[\w-]+;\+typing=active :alice!~alice@127\.0\.0\.1 TAGMSG #room", got
    )
    assert alice.lines() == [got]
    assert carol.lines() == []
    alice.send("@+typing=paused TAGMSG bob")
    (got,) = bob.lines()
    assert re.fullmatch(r"@msgid=[\w-]+;\+typing=paused :alice!~alice@127\.0\.0\.1 TAGMSG bob", got)


def test_echo_message_for_private_messages(server: CoreServer) -> None:
    alice = server.user("alice", "echo-message message-tags")
    bob = server.user("bob", "message-tags")
    (echo,) = alice.ask("PRIVMSG bob :direct")
    assert re.fullmatch(r"@msgid=[\w-]+ :alice!~alice@127\.0\.0\.1 PRIVMSG bob direct", echo)
    assert bob.lines() == [echo]
    assert alice.ask("NOTICE bob :notice too")[0].endswith(" NOTICE bob :notice too")


def test_server_time_on_server_messages(server: CoreServer) -> None:
    (alice,) = server.room(("alice", "server-time"))
    bob = server.user("bob")
    bob.send("JOIN #room")
    (join,) = alice.lines()
    assert re.fullmatch(f"@{TIME} :bob!~bob@127.0.0.1 JOIN #room", join)


# labeled-response and batch.


def test_labeled_response(server: CoreServer) -> None:
    alice = server.user("alice", "labeled-response batch message-tags")
    server.user("bob")
    # One reply: labelled directly.
    assert alice.ask("@label=one PING hello") == ["@label=one :test PONG test hello"]
    # Several replies: a labeled-response batch.
    lines = alice.ask("@label=two JOIN #room")
    assert lines[0] == "@label=two :test BATCH +b1 labeled-response"
    assert [re.sub(r"msgid=[\w-]+", "msgid=*", line) for line in lines[1:]] == [
        "@msgid=*;batch=b1 :alice!~alice@127.0.0.1 JOIN #room",
        "@batch=b1 :test 353 alice = #room @alice",
        "@batch=b1 :test 366 alice #room :End of /NAMES list",
        ":test BATCH -b1",
    ]
    # No reply: ACK.
    assert alice.ask("@label=three PRIVMSG bob :quiet") == ["@label=three :test ACK"]
    # An error is labelled too.
    assert alice.ask("@label=four PRIVMSG nobody :x") == [
        "@label=four :test 401 alice nobody :No such nick/channel"
    ]
    # No label, no label tag.
    assert alice.ask("PING again") == [":test PONG test again"]


def test_labeled_response_with_echo_message(server: CoreServer) -> None:
    alice = server.user("alice", "labeled-response echo-message batch")
    bob = server.user("bob")
    assert alice.ask("@label=e1 PRIVMSG bob :echoed") == [
        "@label=e1 :alice!~alice@127.0.0.1 PRIVMSG bob echoed"
    ]
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG bob echoed"]


def test_label_ignored_without_the_cap(server: CoreServer) -> None:
    alice = server.user("alice")
    assert alice.ask("@label=x PING y") == [":test PONG test y"]


# multi-prefix, userhost-in-names, extended-join, away-notify, setname.


def test_multi_prefix(server: CoreServer) -> None:
    alice, bob = server.room(("alice", "multi-prefix"), ("bob", ""))
    alice.send("MODE #room +v alice")
    assert alice.ask("NAMES #room")[0] == ":test 353 alice = #room :@+alice bob"
    assert bob.ask("NAMES #room")[0] == ":test 353 bob = #room :@alice bob"
    assert alice.ask("WHO #room")[0].split()[8] == "H@+"
    assert ":test 319 alice alice @+#room" in alice.ask("WHOIS alice")


def test_userhost_in_names(server: CoreServer) -> None:
    alice = server.user("alice", "userhost-in-names")
    assert alice.ask("JOIN #room")[1] == ":test 353 alice = #room @alice!~alice@127.0.0.1"


def test_extended_join(server: CoreServer) -> None:
    alice, carol = server.room(("alice", "extended-join"), ("carol", ""))
    bob = server.user("bob", realname="Bob the Builder")
    bob.send("JOIN #room")
    assert alice.lines() == [":bob!~bob@127.0.0.1 JOIN #room * :Bob the Builder"]
    assert carol.lines() == [":bob!~bob@127.0.0.1 JOIN #room"]


def test_away_notify(server: CoreServer) -> None:
    alice, bob, carol = server.room(("alice", "away-notify"), ("bob", ""), ("carol", ""))
    assert bob.ask("AWAY :brb") == [":test 306 bob :You have been marked as being away"]
    assert alice.lines() == [":bob!~bob@127.0.0.1 AWAY brb"]
    bob.send("AWAY")
    assert alice.lines() == [":bob!~bob@127.0.0.1 AWAY"]
    assert carol.lines() == []
    # Saying "not away" again changes nothing, so nobody is told.
    assert bob.ask("AWAY") == [":test 305 bob :You are no longer marked as being away"]
    assert alice.lines() == []
    # Joining while away tells away-notify members.
    dave = server.user("dave")
    dave.send("AWAY :not here", "JOIN #room")
    assert alice.lines() == [
        ":dave!~dave@127.0.0.1 JOIN #room",
        ":dave!~dave@127.0.0.1 AWAY :not here",
    ]


def test_setname_cap(server: CoreServer) -> None:
    alice, bob, carol = server.room(("alice", "setname"), ("bob", "setname"), ("carol", ""))
    change = ":alice!~alice@127.0.0.1 SETNAME :Alice in Wonderland"
    assert alice.ask("SETNAME :Alice in Wonderland") == [change]
    assert bob.lines() == [change]
    assert carol.lines() == []


def test_batch_for_chathistory(server: CoreServer) -> None:
    alice = server.user("alice", "batch echo-message draft/chathistory")
    alice.ask("JOIN #room", "PRIVMSG #room :kept")
    assert alice.ask("CHATHISTORY LATEST #room * 5") == [
        ":test BATCH +b1 chathistory #room",
        "@batch=b1 :alice!~alice@127.0.0.1 PRIVMSG #room kept",
        ":test BATCH -b1",
    ]
