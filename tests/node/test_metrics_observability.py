"""What a node's /metrics shows an operator, over real processes and sockets.

* two linked servers: each measures its link's round trip; a channel
  message's acknowledgement (its echo, held until the other server stored
  it) is timed in ``chatnet_ack_latency_seconds``; both servers time their
  history writes; registrations count first connections and reconnects; a
  server that goes away is counted as a link drop, by kind of reason;
* a history write that fails (the node's files may not grow: a full disk)
  is counted in ``chatnet_history_errors_total``, chat goes on, and history
  resumes once the disk has room again;
* the garbage collector's pauses, by generation, once clients have chatted
  (``chatnet_gc_pause_seconds``).
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.irc.client import IrcClient
from tests.metricscrape import Scrape, scrape
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import eventually

SECRET = "metrics-test-secret"
CAPS = ["message-tags", "server-time", "echo-message", "batch", "chathistory"]


@pytest.fixture
def linked_pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """Two linked servers: ``b`` dials ``a``."""
    a = make_node(tmp_path, "a", serverId=1, links={"secret": SECRET, "accept": ["b"]})
    dial = {"name": "a", "serverId": 1, "host": "127.0.0.1", "port": a.ws_port}
    b = make_node(tmp_path, "b", serverId=2, links={"secret": SECRET, "dial": [dial]})
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()
    for node in (a, b):
        assert "Traceback" not in node.log(), node.log()


async def scraped(node: NodeProcess, holds: str, check: Callable[[Scrape], bool]) -> Scrape:
    """Scrape ``node`` until ``check(scrape)`` is true (within 10 s)."""

    async def ok() -> Scrape | None:
        result = await asyncio.to_thread(scrape, node)
        return result if check(result) else None

    found: Scrape = await eventually(ok, 10, holds, poll=0.1)
    return found


async def test_linked_servers_export_rtt_ack_latency_history_writes_and_drops(
    linked_pair: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = linked_pair
    alice = await IrcClient.tcp(a.irc_port)
    bob = await IrcClient.tcp(b.irc_port)
    try:
        await alice.register("alice", caps=CAPS)
        await bob.register("bob", caps=CAPS)
        await bob.wait_linked(2, timeout=15)

        # Each end measures the round trip of its link (a ping right after it came up).
        for node, peer in ((a, "b"), (b, "a")):
            got = await scraped(
                node,
                f"{node.name} measured its link to {peer}",
                lambda s, peer=peer: s.has("chatnet_link_rtt_seconds", peer=peer),
            )
            rtt = got.value("chatnet_link_rtt_seconds", peer=peer)
            assert 0 < rtt < 1.0, f"{node.name} -> {peer}: round trip {rtt}s on loopback"

        await alice.join("#room")
        await bob.join("#room")
        await alice.expect(lambda m: m.command == "JOIN" and m.nick == "bob")
        before_a, before_b = scrape(a), scrape(b)
        for i in range(5):
            # The echo is the acknowledgement: it waits until b stored the message.
            await alice.privmsg("#room", f"line {i}")
        after_a = scrape(a)

        acks = "chatnet_ack_latency_seconds"
        assert after_a.value(f"{acks}_count") - before_a.value(f"{acks}_count") == 5
        assert after_a.value(f"{acks}_sum") > before_a.value(f"{acks}_sum")
        assert after_a.value(f"{acks}_bucket", le="+Inf") == after_a.value(f"{acks}_count")
        # Exported from the start, before any catch-up asked for them.
        assert after_a.has("chatnet_history_lookback_seconds_bucket", server="a", le="0.5")
        assert after_a.has("chatnet_history_lookback_disrupted_total", server="a")
        writes = "chatnet_history_write_seconds_count"
        # One SQLite transaction per event-loop turn: 1 to 5 for 5 messages.
        assert 1 <= after_a.value(writes, store="sqlite") - before_a.value(writes) <= 5
        await scraped(
            b,
            "b wrote alice's messages to its history",
            lambda s: s.value(writes, store="sqlite") > before_b.value(writes),
        )
        assert after_a.value("chatnet_history_errors_total") == 0

        # Registrations count reconnects: bob comes back to b.
        assert after_a.value("chatnet_registrations_total") == 1
        await bob.quit()
        await bob.close()
        bob = await IrcClient.tcp(b.irc_port)
        await bob.register("bob", caps=CAPS)
        assert scrape(b).value("chatnet_registrations_total") == 2

        # b goes away: a counts one drop of its link to b. b says why in an error
        # frame as it closes; whether a reads it before the socket's end decides
        # between the two kinds.
        assert after_a.value("chatnet_link_drops_total", peer="b") == 0
        b.stop()
        gone = await scraped(
            a,
            "a counted the drop of its link to b",
            lambda s: s.value("chatnet_link_drops_total", peer="b") == 1,
        )
        (drop,) = [s for s in gone.samples if s.name == "chatnet_link_drops_total" and s.value]
        assert drop.labels["reason"] in ("peer_closed", "connection"), drop
        assert gone.value("chatnet_links_up") == 0
        assert not gone.has("chatnet_link_rtt_seconds", peer="b")
    finally:
        await alice.close()
        await bob.close()


async def test_a_failing_history_write_is_counted_and_history_resumes(tmp_path: Path) -> None:
    node = make_node(tmp_path, "solo")
    node.start()
    alice = await IrcClient.tcp(node.irc_port)
    try:
        await alice.register("alice", caps=CAPS)
        await alice.join("#room")
        await alice.privmsg("#room", "before")
        errors = {"name": "chatnet_history_errors_total", "store": "sqlite", "op": "write"}
        first = scrape(node)
        assert first.has(**errors) and first.value(**errors) == 0
        writes = first.value("chatnet_history_write_seconds_count")
        assert writes >= 1

        # The node's files may not grow by a byte: its next history commit fails
        # as on a full disk (Python ignores SIGXFSZ, so the write gets EFBIG).
        assert node.proc is not None
        pid = node.proc.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            echo = await alice.privmsg("#room", "lost")  # chat goes on without history
            assert echo.last == "lost"
            failed = scrape(node)
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
        assert failed.value(**errors) == 1
        assert failed.value("chatnet_history_write_seconds_count") == writes

        await alice.privmsg("#room", "after")
        resumed = scrape(node)
        assert resumed.value(**errors) == 1
        assert resumed.value("chatnet_history_write_seconds_count") == writes + 1
        await alice.send("CHATHISTORY LATEST #room * 10")
        lines = await alice.batch("chathistory")
        texts = [m.last for m in lines if m.command == "PRIVMSG"]
        assert texts == ["before", "after"], texts
    finally:
        await alice.close()
        node.stop()


async def test_the_collectors_pauses_are_timed_by_generation(tmp_path: Path) -> None:
    """Chat allocates, so the young generation is collected (every 700 objects
    kept); each collection is timed: a count and a total time, per generation."""
    node = make_node(tmp_path, "a", limits={"floodBurst": 1000, "floodRate": 1000})
    node.start()
    try:
        alice = await IrcClient.tcp(node.irc_port)
        bob = await IrcClient.tcp(node.irc_port)
        await alice.register("alice", caps=CAPS)
        await bob.register("bob", caps=CAPS)
        await alice.join("#gc")
        await bob.join("#gc")
        for n in range(300):
            await alice.privmsg("#gc", f"line {n}")
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "line 299")
        seen = await scraped(
            node,
            "young collections timed",
            lambda s: s.value("chatnet_gc_pause_seconds_count", generation="0") > 0,
        )
        young = seen.value("chatnet_gc_pause_seconds_count", generation="0")
        assert 0 < seen.value("chatnet_gc_pause_seconds_sum", generation="0") < young * 0.1, (
            "a young collection takes well under 100 ms"
        )
        assert seen.has("chatnet_gc_pause_seconds_bucket", generation="2", le="+Inf")
        await alice.close()
        await bob.close()
    finally:
        node.stop()
