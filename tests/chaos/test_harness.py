"""The chaos harness's own accounting, on made-up receptions (no network), and its
client reading past what a member ignores (over a real loopback socket)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from tests.chaos.harness import (
    IGNORED,
    Acked,
    Ledger,
    Member,
    Session,
    account,
    percentile,
)
from tests.irc.client import IrcClient
from tests.irc.lines import parse


async def _never() -> IrcClient:
    raise ConnectionError("not used")


def member(label: str, ledger: Ledger) -> Member:
    m = Member(label, _never, ledger)
    m.sessions.append(Session(number=1, opened=ledger.started, server="east", nick=label))
    return m


def receive(m: Member, raw: str) -> None:
    m._handle(parse(raw), m.sessions[-1])


def test_a_lost_and_a_duplicated_message_are_named_with_where_they_are_stored() -> None:
    ledger = Ledger()
    ledger.acked["id1"] = Acked("id1", "alice", 1, "east", ledger.started + 1)
    ledger.acked["id2"] = Acked("id2", "alice", 2, "east", ledger.started + 2)
    ledger.sent_by["alice"] = [1, 2, 3]
    bob, carol = member("bob", ledger), member("carol", ledger)
    line = "@msgid={};time=2026-11-28T12:00:0{}.000Z :alice!a@h PRIVMSG #chaos :alice {}"
    for n in (1, 2):
        receive(bob, line.format(f"id{n}", n, n))
    receive(carol, line.format("id1", 1, 1))
    receive(carol, line.format("id1", 1, 1))  # the same msgid twice on one connection
    report = account(ledger, [bob, carol], stored={"east": {"id1", "id2"}, "west": {"id1"}})
    assert not report.ok
    assert report.lost == {"carol": ["id2"]}
    assert report.duplicated == {"carol": [(1, "id1", 2)]}
    assert report.unacked == {"alice": [3]}
    assert "id2 'alice 2' acked by alice on east at +2.00s; in the history of: east" in report.text
    assert "id1 (from alice) 2x on connection 1" in report.text
    assert "never acknowledged to alice: lines 3 of alice" in report.text
    assert report.unacked_fate == {"nowhere": 1}


def test_what_became_of_a_line_never_acknowledged_is_found_by_its_text() -> None:
    ledger = Ledger()
    ledger.sent_by["alice"] = [1, 2, 3]
    bob, carol = member("bob", ledger), member("carol", ledger)
    line = "@msgid={} :alice!a@h PRIVMSG #chaos :alice {}"
    for m in (bob, carol):
        receive(m, line.format("id1", 1))  # arrived everywhere
    receive(bob, line.format("id2", 2))  # only bob has it
    receive(bob, line.format("id3a", 3))  # one line, two msgids
    receive(carol, line.format("id3b", 3))
    receive(bob, "@msgid=b1 :by1!b@h PRIVMSG #chaos :B 1")  # not a member's: the
    receive(carol, "@msgid=b2 :by1!b@h PRIVMSG #chaos :B 1")  # same text is no concern
    report = account(ledger, [bob, carol])
    assert report.unacked_fate == {"everywhere": 2, "partly": 1}
    assert "'alice 2' never acknowledged, arrived at 1 of 2 members (not carol)" in report.text
    assert "(arrived everywhere 2, nowhere 0, partly 1)" in report.summary()
    # Nothing was acknowledged, so nothing is lost; but one line under two msgids
    # is a line every member would be shown twice.
    assert not report.lost and not report.duplicated
    assert report.restamped == {"alice 3": ["id3a", "id3b"]} and not report.ok
    assert "'alice 3' arrived under 2 msgids: id3a, id3b" in report.text


def test_one_msgid_carrying_two_lines_fails_the_run() -> None:
    ledger = Ledger()
    ledger.sent_by["alice"] = [1, 2]
    bob, carol = member("bob", ledger), member("carol", ledger)
    receive(bob, "@msgid=id1 :alice!a@h PRIVMSG #chaos :alice 1")
    receive(carol, "@msgid=id1 :alice!a@h PRIVMSG #chaos :alice 2")
    report = account(ledger, [bob, carol])
    assert report.clashes == {"id1": {"alice 1", "alice 2"}} and not report.ok
    assert "id1 carried 2 lines: ['alice 1', 'alice 2']" in report.text


def test_history_and_live_merge_by_msgid_and_count_the_overlap() -> None:
    ledger = Ledger()
    ledger.acked["id1"] = Acked("id1", "alice", 1, "east", ledger.started)
    bob = member("bob", ledger)
    receive(bob, "@msgid=id1 :alice!a@h PRIVMSG #chaos :alice 1")
    receive(bob, ":east BATCH +h1 chathistory #chaos")
    receive(bob, "@batch=h1;msgid=id1 :alice!a@h PRIVMSG #chaos :alice 1")
    receive(bob, ":east BATCH -h1")
    report = account(ledger, [bob])
    assert report.ok, report.text
    assert report.overlaps == 1


def test_a_live_line_during_the_catch_up_moves_the_resume_point_only_once_caught_up() -> None:
    ledger = Ledger()
    bob = member("bob", ledger)
    line = "@msgid={};time=2026-11-28T12:00:{:02d}.000Z{} :alice!a@h PRIVMSG #chaos :alice {}"
    bob._caught_up(bob.sessions[-1])
    receive(bob, line.format("id1", 1, "", 1))
    assert bob.last_msgid == "id1"
    # Back after missing id2..id4; a live line (id9) comes before the first page.
    bob.sessions.append(Session(number=2, opened=ledger.started, server="west", nick="bob"))
    receive(bob, line.format("id9", 9, "", 9))
    assert bob.last_msgid == "id1"  # the gap is still to fetch
    receive(bob, ":west BATCH +h1 chathistory #chaos")
    receive(bob, line.format("id2", 2, ";batch=h1", 2))
    receive(bob, line.format("id3", 3, ";batch=h1", 3))
    receive(bob, ":west BATCH -h1")
    assert bob.last_msgid == "id3"  # lost here, the next catch-up resumes after the page
    bob._caught_up(bob.sessions[-1])
    assert bob.last_msgid == "id9"


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


@contextlib.asynccontextmanager
async def ignoring_client(data: bytes) -> AsyncIterator[IrcClient]:
    """A client that ignores what members ignore, on a real socket whose server
    sends ``data`` and closes."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        client = await IrcClient.tcp(server.sockets[0].getsockname()[1])
        try:
            client.ignore = IGNORED
            yield client
        finally:
            client.abort()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_member_reads_past_a_netsplit_storm_to_the_close_at_once() -> None:
    """Thousands of JOINs and QUITs (a server's split and rejoin), then a PRIVMSG, then
    the server goes: a client told to ignore them reads the PRIVMSG and the close
    without parsing or keeping them (the soak measured its own backlog otherwise)."""
    storm = b"".join(
        b"@time=2026-12-07T02:06:52.000Z :u%d!~u@cloak JOIN #chaos * :real name\r\n"
        b":u%d!~u@cloak QUIT :hub-0 hub-1\r\n" % (n, n)
        for n in range(3000)
    )

    still_here = b"@msgid=m1 :bob!~b@cloak PRIVMSG #chaos :still here\r\n"
    async with ignoring_client(storm + still_here) as client:
        line = await client.recv(timeout=5)
        assert (line.command, line.params) == ("PRIVMSG", ["#chaos", "still here"])
        started = time.monotonic()
        with pytest.raises(ConnectionError):
            await client.recv(timeout=5)
        assert time.monotonic() - started < 1.0
        assert not [m for m in client.inbox.seen if m.command in ("JOIN", "QUIT")]


async def test_an_ignored_line_without_parameters_hides_nothing_after_it() -> None:
    """Ignored commands are matched whole, to their own line end: an AWAY with no
    parameters, a lowercase QUIT and a command that only starts like an ignored
    one must not take the line after them along, nor be dropped themselves."""
    lines = (
        b"AWAY\r\nPING :one\r\n"
        b":a!b@c quit\r\n:a!b@c PRIVMSG #chaos :two\r\n"
        b"@t=1 :a!b@c QUITTING #chaos :three\r\n"
        b":a!b@c ACCOUNT\r\n"
    )

    async with ignoring_client(lines) as client:
        client.answer_pings = False
        got = [(await client.recv(timeout=5)).last for _ in range(3)]
        assert got == ["one", "two", "three"]
        with pytest.raises(ConnectionError):
            await client.recv(timeout=5)
