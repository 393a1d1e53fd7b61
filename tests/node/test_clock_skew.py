"""Two real linked servers whose clocks differ: history keeps causal order.

Server ``b`` runs under libfaketime, 5 seconds behind ``a``. Bob, on ``b``,
answers a line of Alice's (stamped on ``a``) after he has seen it. His
answer must sort after her line in every server's history, so a client
whose last message was Alice's finds Bob's with ``CHATHISTORY AFTER
msgid=<hers>``, on either server, with no lookback. (Before the stamps
became a hybrid logical clock, Bob's answer was stamped 5 seconds before
the line it answers, and ``AFTER`` never returned it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatnet_node.irc.servertime import parse_time
from tests.irc.client import IrcClient, in_one_room
from tests.irc.lines import Msg
from tests.nodeproc import NodeProcess, make_node

SECRET = "skew-test-secret"
CAPS = ["message-tags", "server-time", "echo-message", "batch", "chathistory"]
SKEW = 5.0  # seconds b's clock runs behind a's
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")

pytestmark = pytest.mark.skipif(
    not FAKETIME.exists(), reason="needs libfaketime (apt-get install libfaketime)"
)


@pytest.fixture
def skewed_pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """``a`` on the real clock; ``b``, 5 s behind, dials it."""
    a = make_node(tmp_path, "a", serverId=1, links={"secret": SECRET})
    dial = {"name": "a", "serverId": 1, "host": "127.0.0.1", "port": a.ws_port}
    b = make_node(tmp_path, "b", serverId=2, links={"secret": SECRET, "dial": [dial]})
    # Only the wall clock is moved: asyncio's monotonic timers stay true.
    b.env = {"LD_PRELOAD": str(FAKETIME), "FAKETIME": f"-{SKEW:g}", "DONT_FAKE_MONOTONIC": "1"}
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


async def history_after(node: NodeProcess, msgid: str) -> list[Msg]:
    """What a fresh client on ``node`` gets for ``CHATHISTORY AFTER #room msgid=...``."""
    reader = await IrcClient.tcp(node.irc_port)
    try:
        await reader.register(f"reader-{node.name}", caps=CAPS)
        await reader.send(f"CHATHISTORY AFTER #room msgid={msgid} 100")
        lines = await reader.batch("chathistory")
    finally:
        await reader.close()
    return [m for m in lines if m.command == "PRIVMSG"]


async def test_a_reply_from_a_server_whose_clock_is_behind_sorts_after_what_it_answers(
    skewed_pair: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = skewed_pair
    alice = await IrcClient.tcp(a.irc_port)
    bob = await IrcClient.tcp(b.irc_port)
    try:
        await in_one_room(alice, bob, ("alice", "bob"), CAPS)

        question = await alice.privmsg("#room", "anyone there?")
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "anyone there?")
        answer = await bob.privmsg("#room", "yes, me")
        await alice.expect(lambda m: m.command == "PRIVMSG" and m.last == "yes, me")
    finally:
        await alice.close()
        await bob.close()

    asked, answered = parse_time(question.tags["time"]), parse_time(answer.tags["time"])
    assert asked is not None and answered is not None
    assert answered > asked, (
        f"bob's answer is stamped {answer.tags['time']}, before the question it answers "
        f"({question.tags['time']}): b's clock is {SKEW:g} s behind"
    )
    for node in (a, b):
        after = await history_after(node, question.tags["msgid"])
        assert [m.tags["msgid"] for m in after] == [answer.tags["msgid"]], (
            f"CHATHISTORY AFTER the question on {node.name} returned "
            f"{[m.raw for m in after]}, not bob's answer"
        )
