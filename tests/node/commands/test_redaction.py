"""REDACT (draft/message-redaction): who may take a message back, who is told, what is kept."""

from __future__ import annotations

import re

from tests.corekit import CoreNetwork, CoreServer

CAPS = "draft/message-redaction message-tags echo-message"
FORBIDDEN = "REDACT_FORBIDDEN {} {} :You are not authorised to delete this message"


def msgid_of(line: str) -> str:
    found = re.search(r"msgid=([^; ]+)", line)
    assert found, line
    return found.group(1)


def test_the_author_takes_a_message_back(server: CoreServer) -> None:
    alice, bob, carol = server.room(("alice", CAPS), ("bob", CAPS), ("carol", ""))
    (echo,) = alice.ask("PRIVMSG #room :oops, wrong window")
    msgid = msgid_of(echo)
    bob.lines()
    carol.lines()
    (told,) = alice.ask(f"REDACT #room {msgid} :typo")
    assert re.fullmatch(
        rf"@msgid=[\w-]+ :alice!~alice@127\.0\.0\.1 REDACT #room {msgid} typo", told
    ), told
    assert bob.lines() == [told]
    assert carol.lines() == []  # no fallback: clients without the capability see no change
    history = bob.ask("CHATHISTORY LATEST #room * 10")
    assert not [line for line in history if "wrong window" in line]


def test_operators_may_redact_others_members_may_not(server: CoreServer) -> None:
    op, bob, carol = server.room(("op", CAPS), ("bob", CAPS), ("carol", CAPS))
    (echo,) = bob.ask("PRIVMSG #room :spam spam")
    msgid = msgid_of(echo)
    op.lines()
    carol.lines()
    assert carol.ask(f"REDACT #room {msgid}") == [
        ":test FAIL REDACT " + FORBIDDEN.format("#room", msgid)
    ]
    (told,) = op.ask(f"REDACT #room {msgid} :spam")
    assert told.endswith(f":op!~op@127.0.0.1 REDACT #room {msgid} spam")
    assert bob.lines() == carol.lines() == [told]


def test_bad_redactions_change_nothing(server: CoreServer) -> None:
    alice, bob = server.room(("alice", CAPS), ("bob", CAPS))
    msgid = msgid_of(alice.ask("PRIVMSG #room :keep me")[0])
    bob.lines()
    outsider = server.user("outsider", CAPS)
    assert outsider.ask(f"REDACT #room {msgid}") == [
        ":test FAIL REDACT INVALID_TARGET #room :You cannot delete messages from #room"
    ]
    assert alice.ask(f"REDACT #nowhere {msgid}") == [
        ":test FAIL REDACT INVALID_TARGET #nowhere :You cannot delete messages from #nowhere"
    ]
    assert alice.ask("REDACT #room nosuchid") == [
        ":test FAIL REDACT UNKNOWN_MSGID #room nosuchid :This message does not exist or is too old"
    ]
    assert alice.ask("REDACT #room") == [":test 461 alice REDACT :Not enough parameters"]
    assert bob.lines() == []
    assert [line for line in bob.ask("CHATHISTORY LATEST #room * 10") if "keep me" in line]


def test_private_messages_only_by_their_author(server: CoreServer) -> None:
    alice, bob = server.user("alice", CAPS), server.user("bob", CAPS)
    msgid = msgid_of(alice.ask("PRIVMSG bob :just between us")[0])
    bob.lines()
    assert bob.ask(f"REDACT alice {msgid}") == [
        ":test FAIL REDACT " + FORBIDDEN.format("alice", msgid)
    ]
    (told,) = alice.ask(f"REDACT bob {msgid}")
    assert told.endswith(f":alice!~alice@127.0.0.1 REDACT bob {msgid}")
    assert bob.lines() == [told]
    assert not [line for line in bob.ask("CHATHISTORY LATEST alice * 10") if "between us" in line]


def test_a_redaction_crosses_two_hops() -> None:
    """east - hub - west: the author on one leaf, a reader on the other; history goes everywhere."""
    net = CoreNetwork("east", "hub", "west")
    net.link("east", "hub")
    net.link("hub", "west")
    alice = net.user("east", "alice", CAPS)
    bob = net.user("west", "bob", CAPS)
    carol = net.user("hub", "carol", "")
    for user in (alice, bob, carol):
        net.say(user, "JOIN #room")
    for user in (alice, bob, carol):
        user.lines()
    net.say(alice, "PRIVMSG #room :regret this")
    msgid = msgid_of(alice.lines()[0])
    assert [line for line in bob.lines() if "regret this" in line]
    carol.lines()
    net.say(alice, f"REDACT #room {msgid} :sorry")
    (told,) = bob.lines()
    assert told.endswith(f":alice!~alice@127.0.0.1 REDACT #room {msgid} sorry")
    assert carol.lines() == []
    for server in ("east", "hub", "west"):
        assert net.servers[server].core.history.find("#room", msgid) is None, server
