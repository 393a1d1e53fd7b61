"""draft/multiline: a batch of lines is one message, sent whole or as lines to older clients."""

from __future__ import annotations

import re

from tests.corekit import CoreNetwork, CoreServer, CoreUser

BASE = "message-tags batch echo-message server-time labeled-response"
MULTI = BASE + " draft/multiline"
TIME = r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def send_batch(
    user: CoreUser, *lines: str, opening: str = "@label=xyz BATCH +123 draft/multiline #test"
) -> list[str]:
    return user.ask(opening, *lines, "BATCH -123")


def test_the_cap_advertises_its_limits(server: CoreServer) -> None:
    (ls,) = server.connection().ask("CAP LS 302")
    assert " draft/multiline=max-bytes=4096,max-lines=32 " in ls + " "


def test_a_batch_reaches_each_client_as_it_can_read_it(server: CoreServer) -> None:
    alice, bob, charlie = server.room(
        ("alice", MULTI), ("bob", MULTI), ("charlie", BASE), channel="#test"
    )
    echo = send_batch(
        alice,
        "@batch=123 PRIVMSG #test hello",
        "@batch=123 PRIVMSG #test :#how is ",
        "@batch=123;draft/multiline-concat PRIVMSG #test :everyone?",
    )
    opening = re.fullmatch(
        rf"@{TIME};msgid=([\w-]+);label=xyz :alice!\S+ BATCH \+(\w+) draft/multiline #test",
        echo[0],
    )
    assert opening, echo[0]
    msgid, ref = opening.groups()
    assert echo[1:] == [
        f"@batch={ref} :alice!~alice@127.0.0.1 PRIVMSG #test hello",
        f"@batch={ref} :alice!~alice@127.0.0.1 PRIVMSG #test :#how is ",
        f"@batch={ref};draft/multiline-concat :alice!~alice@127.0.0.1 PRIVMSG #test everyone?",
        f"BATCH -{ref}",
    ]
    relay = bob.lines()
    assert re.fullmatch(
        rf"@{TIME};msgid={msgid} :alice!\S+ BATCH \+\w+ draft/multiline #test", relay[0]
    )
    assert len(relay) == 5 and relay[-1].startswith("BATCH -")
    fallback = charlie.lines()
    assert [re.sub(TIME, "T", line) for line in fallback] == [
        f"@T;msgid={msgid} :alice!~alice@127.0.0.1 PRIVMSG #test hello",
        "@T :alice!~alice@127.0.0.1 PRIVMSG #test :#how is ",
        "@T :alice!~alice@127.0.0.1 PRIVMSG #test everyone?",
    ]


def test_blank_lines_and_client_tags(server: CoreServer) -> None:
    alice, bob, charlie = server.room(
        ("alice", MULTI), ("bob", MULTI), ("charlie", BASE), channel="#test"
    )
    send_batch(
        alice,
        "@batch=123 PRIVMSG #test :",
        "@batch=123 PRIVMSG #test :second",
        opening="@+client-only-tag BATCH +123 draft/multiline #test",
    )
    relay = bob.lines()
    assert "+client-only-tag" in relay[0]
    assert relay[1].endswith("PRIVMSG #test :") and relay[2].endswith("PRIVMSG #test second")
    (fallback,) = charlie.lines()  # blank lines are not sent to older clients
    assert "+client-only-tag" in fallback and fallback.endswith("PRIVMSG #test second")


def test_history_keeps_it_whole(server: CoreServer) -> None:
    alice, bob = server.room(("alice", MULTI), ("bob", "batch"), channel="#test")
    send_batch(alice, "@batch=123 PRIVMSG #test one", "@batch=123 PRIVMSG #test two")
    replay = alice.ask("CHATHISTORY LATEST #test * 10")
    assert replay[0].startswith(":test BATCH +") and replay[0].endswith(" chathistory #test")
    outer = replay[0].split()[2][1:]
    assert re.fullmatch(
        rf"@{TIME};msgid=[\w-]+;batch={outer} :alice!\S+ BATCH \+\w+ draft/multiline #test",
        replay[1],
    )
    assert [line.split(" :alice")[1] for line in replay[2:4]] == [
        "!~alice@127.0.0.1 PRIVMSG #test one",
        "!~alice@127.0.0.1 PRIVMSG #test two",
    ]
    assert replay[4].startswith(f"@batch={outer} BATCH -")
    older = bob.ask("CHATHISTORY LATEST #test * 10")
    assert [line.split(" :alice")[1] for line in older[1:-1]] == [
        "!~alice@127.0.0.1 PRIVMSG #test one",
        "!~alice@127.0.0.1 PRIVMSG #test two",
    ]


def test_broken_batches_fail_and_send_nothing(server: CoreServer) -> None:
    alice, bob = server.room(("alice", MULTI), ("bob", MULTI), channel="#test")
    fail = ":test FAIL BATCH MULTILINE_INVALID :Invalid multiline batch"
    assert alice.ask("BATCH +1 draft/multiline #test", "@batch=2 PRIVMSG #test :hi") == [fail]
    assert alice.ask("@batch=1 PRIVMSG #test :rest of the failed batch", "BATCH -1") == []
    assert alice.ask(
        "BATCH +3 draft/multiline #test",
        "@batch=3 PRIVMSG #test :hi",
        "@batch=3;draft/multiline-concat PRIVMSG #test :",
    ) == [fail]
    assert alice.ask("BATCH +4 draft/multiline #test", "@batch=4 PRIVMSG #other :hi") == [
        ":test FAIL BATCH MULTILINE_INVALID_TARGET #test #other :Invalid multiline target"
    ]
    lines = ["@batch=5 PRIVMSG #test hi"] * 33
    assert alice.ask("BATCH +5 draft/multiline #test", *lines) == [
        ":test FAIL BATCH MULTILINE_MAX_LINES 32 :Multiline batch max-lines exceeded"
    ]
    server.tick(30)  # the flood bucket refills
    lines = ["@batch=6 PRIVMSG #test " + "x" * 400] * 11
    assert alice.ask("BATCH +6 draft/multiline #test", *lines) == [
        ":test FAIL BATCH MULTILINE_MAX_BYTES 4096 :Multiline batch max-bytes exceeded"
    ]
    assert alice.ask("BATCH +7 draft/multiline #test", "@batch=7 PRIVMSG #test :", "BATCH -7") == [
        fail
    ]
    assert alice.ask("BATCH -99") == [fail]
    assert alice.ask("BATCH +8 chathistory #test") == [
        ":test FAIL BATCH UNKNOWN_TYPE chathistory :Only draft/multiline batches are accepted"
    ]
    plain = server.user("plain")
    assert plain.ask("BATCH +9 draft/multiline #test") == [fail]  # without the capability
    assert bob.lines() == []
    # And the connection works on as before.
    assert alice.ask("PRIVMSG #test :still here")[0].endswith("PRIVMSG #test :still here")


def test_a_batch_to_a_user_and_across_the_network() -> None:
    net = CoreNetwork("east", "hub", "west")
    net.link("east", "hub")
    net.link("hub", "west")
    alice = net.user("east", "alice", MULTI)
    bob = net.user("west", "bob", MULTI)
    carol = net.user("west", "carol", BASE)
    net.say(
        alice,
        "BATCH +1 draft/multiline bob",
        "@batch=1 PRIVMSG bob :line one",
        "@batch=1 PRIVMSG bob :line two",
        "BATCH -1",
    )
    got = bob.lines()
    assert got[0].split(" ", 2)[2].startswith("BATCH +") and got[0].endswith("draft/multiline bob")
    assert [line.split(" ", 1)[1] for line in got[1:3]] == [
        ":alice!~alice@127.0.0.1 PRIVMSG bob :line one",
        ":alice!~alice@127.0.0.1 PRIVMSG bob :line two",
    ]
    for user in (alice, bob, carol):
        net.say(user, "JOIN #test")
        user.lines()
    net.say(
        alice,
        "BATCH +2 draft/multiline #test",
        "@batch=2 PRIVMSG #test :a",
        "@batch=2 PRIVMSG #test :b",
        "BATCH -2",
    )
    assert [line.split(" ", 1)[1] for line in carol.lines()] == [
        ":alice!~alice@127.0.0.1 PRIVMSG #test a",
        ":alice!~alice@127.0.0.1 PRIVMSG #test b",
    ]


def test_a_batch_held_back_by_flood_control_is_paid_for_once() -> None:
    # Five lines of budget, one back a second. The PINGs empty the bucket, so
    # the batch waits: its opening at +1 s, its lines free behind it (paid at
    # the close), the close at +2 s and the close's charge for five lines,
    # then the PING at +7 s. Paid as they were released too, the lines would
    # take +2..+6 s and the PING would wait until +12 s.
    server = CoreServer(name="test", limits={"floodBurst": 5, "floodRate": 1})
    (alice,) = server.room(("alice", MULTI), channel="#test")
    server.tick(10)  # a full bucket
    alice.send(*(f"PING :{n}" for n in range(5)))
    batch = [f"@batch=b1 PRIVMSG #test :line {n}" for n in range(5)]
    alice.send("BATCH +b1 draft/multiline #test", *batch, "BATCH -b1", "PING :waited")
    got = alice.lines()
    for _ in range(8):
        server.tick(1)
        got += alice.lines()
    assert sum(" PRIVMSG #test :line " in line for line in got) == 5, got
    assert got[-1] == ":test PONG test waited", got


def test_two_batches_held_back_by_flood_control_both_arrive_whole() -> None:
    # The first batch's close waits for a token; the second batch's lines must
    # wait behind it too, not run at once into the first (still open) batch.
    server = CoreServer(name="test", limits={"floodBurst": 5, "floodRate": 1})
    alice, bob = server.room(("alice", MULTI), ("bob", BASE), channel="#test")
    server.tick(10)  # a full bucket
    alice.send(
        "BATCH +b1 draft/multiline #test",
        *(f"PING :{n}" for n in range(4)),  # the bucket is empty
        "@batch=b1 PRIVMSG #test :one",
        "@batch=b1 PRIVMSG #test :two",
        "BATCH -b1",  # waits
        "BATCH +b2 draft/multiline #test",  # waits
        "@batch=b2 PRIVMSG #test :three",
        "@batch=b2 PRIVMSG #test :four",
        "BATCH -b2",
    )
    got = alice.lines()
    for _ in range(10):
        server.tick(1)
        got += alice.lines()
    assert not [line for line in got if " FAIL " in line], got
    seen = bob.lines()
    assert [line.rsplit(" ", 1)[1] for line in seen if " PRIVMSG " in line] == [
        "one",
        "two",
        "three",
        "four",
    ], seen
