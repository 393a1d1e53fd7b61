"""Messages line by line on the core: PRIVMSG, NOTICE, AWAY, and bad input."""

from __future__ import annotations

from tests.corekit import CoreServer


def test_privmsg_and_notice_to_channels_and_nicks(server: CoreServer) -> None:
    alice, bob, carol = (server.user(nick) for nick in ("alice", "bob", "carol"))
    for user in (alice, bob):
        user.send("JOIN #room")
    alice.lines()
    bob.lines()
    alice.send("PRIVMSG #room :hello room")
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :hello room"]
    alice.send("NOTICE bob :psst")
    assert bob.lines() == [":alice!~alice@127.0.0.1 NOTICE bob psst"]
    # The sender sees nothing of its own message without echo-message.
    assert alice.ask("PRIVMSG #room,carol :to both") == []
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :to both"]
    assert carol.lines() == [":alice!~alice@127.0.0.1 PRIVMSG carol :to both"]
    alice.send("PRIVMSG BOB :case folded")
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG bob :case folded"]


def test_message_errors(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    bob.send("JOIN #room")
    bob.lines()
    assert alice.ask("PRIVMSG nobody :hi") == [":test 401 alice nobody :No such nick/channel"]
    assert alice.ask("PRIVMSG #nowhere :hi") == [":test 403 alice #nowhere :No such channel"]
    assert alice.ask("PRIVMSG #room :from outside") == [  # +n
        ":test 404 alice #room :Cannot send to channel"
    ]
    assert alice.ask("PRIVMSG") == [":test 411 alice :No recipient given (PRIVMSG)"]
    assert alice.ask("PRIVMSG bob") == [":test 412 alice :No text to send"]
    assert alice.ask("PRIVMSG bob :") == [":test 412 alice :No text to send"]
    # TARGMAX=PRIVMSG:4: the extra targets are refused out loud, not dropped silently.
    assert alice.ask("PRIVMSG alice,ghost1,ghost2,bob,nobody :five") == [
        ":test 407 alice nobody :Too many recipients. Only 4 processed",
        ":alice!~alice@127.0.0.1 PRIVMSG alice five",
        ":test 401 alice ghost1 :No such nick/channel",
        ":test 401 alice ghost2 :No such nick/channel",
    ]
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG bob five"]
    # A target named twice (in any case) gets one copy.
    alice.send("PRIVMSG bob,BOB,Bob :once")
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG bob once"]
    # NOTICE never triggers automatic replies.
    assert alice.ask("NOTICE nobody :hi", "NOTICE #room :hi", "NOTICE #nowhere :hi") == []
    assert bob.lines() == []


def test_away(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    assert alice.ask("AWAY :gone fishing") == [
        ":test 306 alice :You have been marked as being away"
    ]
    assert bob.ask("PRIVMSG alice :are you there?") == [":test 301 bob alice :gone fishing"]
    assert alice.lines() == [":bob!~bob@127.0.0.1 PRIVMSG alice :are you there?"]
    assert bob.ask("NOTICE alice :no auto reply for notices") == []
    assert ":test 301 bob alice :gone fishing" in bob.ask("WHOIS alice")
    assert alice.ask("AWAY") == [":test 305 alice :You are no longer marked as being away"]
    assert bob.ask("PRIVMSG alice :back?") == []


def test_bad_lines_get_answers_and_the_connection_survives(server: CoreServer) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #room")
    alice.lines()
    bob.lines()
    assert alice.ask(b"PRIVMSG #room :\xff\xfe broken") == [
        ":test FAIL * INVALID_UTF8 :Message rejected, your IRC software MUST use UTF-8 "
        "encoding on this network"
    ]
    assert alice.ask(b"", b"   ", b"@only=tags", b"@a=b ") == []
    assert alice.ask(b"PRIVMSG #room :tail " + b"x" * 600) == [
        ":test 417 alice :Input line was too long"
    ]
    alice.send("privmsg #room :lower-case command works")
    assert bob.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #room :lower-case command works"]
    assert not alice.closed
