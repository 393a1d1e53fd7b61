"""SIGTERM drains a node over real sockets: clients are told, handed over in batches, lose nothing.

* every client gets a NOTICE, then ``ERROR :Closing Link: ... (Server
  restarting, please reconnect)``; a WebSocket client then gets close code
  1012 (Service Restart);
* the clients are closed in small batches spread over the handover window,
  not all in one instant (the servers they come back to are not stampeded);
* between two linked servers, a message acknowledged to a sender on the
  draining server (its echo-message echo) reaches the other server's members
  exactly once and is in its history; the sender comes back there under its
  own nick and fetches what it missed after its last msgid.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.irc.client import IrcClient
from tests.irc.lines import Msg
from tests.nodeproc import LOCAL_CLOAK, NodeProcess, make_node
from tests.waiting import Deadline

SECRET = "drain-test-secret"
CAPS = ["message-tags", "server-time", "echo-message", "batch", "chathistory"]


def readyz(node: NodeProcess) -> int:
    try:
        with urllib.request.urlopen(node.admin_url + "/readyz", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture
def draining_node(tmp_path: Path) -> Iterator[NodeProcess]:
    node = make_node(tmp_path, "solo", drainSeconds=2.0)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def linked_pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """Two linked servers: ``b`` dials ``a``."""
    a = make_node(tmp_path, "a", serverId=1, drainSeconds=2.0, links={"secret": SECRET})
    dial = {"name": "a", "serverId": 1, "host": "127.0.0.1", "port": a.ws_port}
    b = make_node(
        tmp_path, "b", serverId=2, drainSeconds=2.0, links={"secret": SECRET, "dial": [dial]}
    )
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


async def closing_lines(client: IrcClient) -> tuple[list[Msg], float]:
    """Every line until the server closes the connection (within 10 s), and when it closed."""
    lines = await client.wait_closed(timeout=10.0)
    return lines, time.monotonic()


async def test_sigterm_hands_clients_over_in_batches(draining_node: NodeProcess) -> None:
    node = draining_node
    tcp = [await IrcClient.tcp(node.irc_port) for _ in range(20)]
    ws = [await IrcClient.websocket(node.ws_url) for _ in range(5)]
    clients = tcp + ws
    try:
        for i, client in enumerate(clients):
            await client.register(f"user{i}")
        assert node.proc is not None
        started = time.monotonic()
        node.signal(signal.SIGTERM)
        results = await asyncio.gather(*(closing_lines(c) for c in clients))
        assert await asyncio.to_thread(node.proc.wait, 5) == 0
        took = time.monotonic() - started
    finally:
        for client in clients:
            await client.close()
    for client, (lines, _) in zip(clients, results, strict=True):
        texts = [m.raw for m in lines]
        notice = [t for t in texts if " NOTICE " in t and "reconnect" in t]
        assert notice, f"{client.nick}: no NOTICE asking to reconnect: {texts}"
        error = [m for m in lines if m.command == "ERROR"]
        assert error, f"{client.nick}: no ERROR before the close: {texts}"
        assert error[-1].last.startswith(f"Closing Link: {LOCAL_CLOAK} ("), error[-1].raw
        assert "Server restarting, please reconnect" in error[-1].last, error[-1].raw
    for client in ws:
        assert client.ws.close_code == 1012, f"{client.nick}: close code {client.ws.close_code}"
    closed_at = sorted(at for _, at in results)
    spread = closed_at[-1] - closed_at[0]
    # 25 clients over a 1 s handover window (half the 2 s grace), a batch every 0.1 s.
    assert spread >= 0.4, f"all {len(clients)} clients were closed within {spread:.2f}s"
    busiest = max(sum(1 for t in closed_at if s <= t < s + 0.05) for s in closed_at)
    assert busiest <= 10, f"{busiest} clients closed within 50 ms: not a gradual handover"
    assert took < 2.0 + 1.5, f"the drain took {took:.1f}s with a 2 s grace"


async def test_draining_server_refuses_newcomers_and_reports_not_ready(
    draining_node: NodeProcess,
) -> None:
    node = draining_node
    stay = await IrcClient.tcp(node.irc_port)
    try:
        await stay.register("stay")
        assert await asyncio.to_thread(readyz, node) == 200
        node.signal(signal.SIGTERM)
        await stay.expect("NOTICE", "stay")
        assert await asyncio.to_thread(readyz, node) == 503
        late = await IrcClient.tcp(node.irc_port)
        lines = await late.wait_closed()
        await late.close()
        assert any("shutting down" in m.last for m in lines if m.command == "ERROR"), lines
        await stay.wait_closed(timeout=10)
    finally:
        await stay.close()


async def test_drain_loses_no_acknowledged_message(
    linked_pair: tuple[NodeProcess, NodeProcess],
) -> None:
    """alice (on a) talks non-stop while a drains; bob (on b) gets every acked line once."""
    a, b = linked_pair
    alice = await IrcClient.tcp(a.irc_port)
    bob = await IrcClient.tcp(b.irc_port)
    back: IrcClient | None = None
    try:
        await alice.register("alice", caps=CAPS)
        await bob.register("bob", caps=CAPS)
        # Linked: each sees the other in LUSERS' server count.
        await bob.wait_linked(2, timeout=15)
        await alice.join("#room")
        await bob.join("#room")
        await alice.expect(lambda m: m.command == "JOIN" and m.nick == "bob")

        acked: dict[str, str] = {}
        sent = 0
        drained = False
        closed = False
        talking = Deadline(15)
        while not closed and not talking.passed:
            if sent == 10 and not drained:
                a.signal(signal.SIGTERM)
                drained = True
            sent += 1
            text = f"line {sent}"
            with contextlib.suppress(ConnectionError, OSError):
                await alice.send(f"PRIVMSG #room :{text}")
            try:
                async with asyncio.timeout(0.05):
                    while True:
                        msg = await alice.recv(timeout=0.05)
                        if msg.command == "PRIVMSG" and msg.nick == "alice":
                            acked[msg.tags["msgid"]] = msg.last
            except TimeoutError:
                pass
            except ConnectionError:
                closed = True
        assert drained and closed, "alice's server never closed her connection"
        assert len(acked) >= 10, f"only {len(acked)} acknowledged messages"

        # bob got every acknowledged message, once.
        got: dict[str, int] = {}
        with contextlib.suppress(TimeoutError, AssertionError):
            async with asyncio.timeout(3):
                while set(acked) - set(got):
                    msg = await bob.recv(timeout=3)
                    if msg.command == "PRIVMSG" and msg.nick == "alice":
                        got[msg.tags["msgid"]] = got.get(msg.tags["msgid"], 0) + 1
        for msg in await bob.sync():
            if msg.command == "PRIVMSG" and msg.nick == "alice":
                got[msg.tags["msgid"]] = got.get(msg.tags["msgid"], 0) + 1
        lost = sorted(set(acked) - set(got), key=list(acked).index)
        twice = sorted(m for m, n in got.items() if n > 1)
        assert not lost, f"acknowledged on a, never reached bob on b: {[acked[m] for m in lost]}"
        assert not twice, f"delivered to bob twice: {twice}"

        # alice comes back on b under her own nick and fetches what she missed.
        back = await IrcClient.tcp(b.irc_port)
        await back.register("alice", caps=CAPS)
        assert back.nick == "alice"
        await back.join("#room")
        first = next(iter(acked))
        await back.send(f"CHATHISTORY AFTER #room msgid={first} 100")
        lines = await back.batch("chathistory")
        history = [m.tags["msgid"] for m in lines if m.command == "PRIVMSG"]
        missing = [acked[m] for m in list(acked)[1:] if m not in history]
        assert not missing, f"b's history lacks acknowledged lines: {missing}"
        assert len(history) == len(set(history)), "the history repeats a message"
    finally:
        for client in (alice, bob, back):
            if client is not None:
                await client.close()
