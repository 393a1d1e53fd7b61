"""The front door: balancing a burst (pure), handing sockets off, and a real burst."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from chatnet_node.transport.handoff import HandoffServer
from chatnet_operator.local.balance import (
    PROBE_GRACE,
    ServerLoad,
    least_loaded,
    trust_last_good,
)
from chatnet_operator.local.frontdoor import Listener
from tests.operator.test_up import up_factory  # noqa: F401 (the fixture)


def test_a_burst_the_probes_have_not_seen_spreads_by_live_handoffs() -> None:
    """Probes say 0 everywhere (clients still registering): live reservations decide."""
    live = {"a": 0, "b": 0, "c": 0}
    for _ in range(300):
        loads = [ServerLoad(n, True, 0, 4000, 0, live[n]) for n in live]
        choice = least_loaded(loads)
        assert choice is not None
        live[choice] += 1
    assert live == {"a": 100, "b": 100, "c": 100}


def test_load_is_the_larger_of_reported_plus_sent_and_live() -> None:
    assert ServerLoad("a", True, 10, 100, pending=5, live=3).load == 15
    assert ServerLoad("a", True, 10, 100, pending=0, live=40).load == 40
    assert not ServerLoad("a", True, 0, 100, live=100).has_room, "live connections fill it"


def test_a_server_too_busy_to_answer_keeps_its_last_good_view_for_a_while() -> None:
    assert trust_last_good(False, last_good_at=10.0, now=10.0 + PROBE_GRACE)
    assert not trust_last_good(False, last_good_at=10.0, now=10.1 + PROBE_GRACE)
    assert not trust_last_good(False, last_good_at=None, now=1.0), "never answered: not ready"
    assert not trust_last_good(True, last_good_at=1.0, now=1.5)


class Echo(asyncio.Protocol):
    """Says where the connection came from, then echoes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"hello from the node\r\n")

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def test_accepted_sockets_are_handed_to_the_node_not_relayed() -> None:
    async def scenario() -> tuple[int, int, list[bytes]]:
        node = HandoffServer("chatnet-test-handoff-" + str(id(object())), {b"i": Echo})
        node.start()
        target = ("127.0.0.1", 1)  # never dialled: the socket goes over the handoff
        door = Listener("127.0.0.1", 0, lambda _tried: target, "irc", lambda _a: node.name)
        port = await door.start()
        heard = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            heard.append(await reader.readline())
            writer.write(b"ping\r\n")
            heard.append(await reader.readline())
            writer.close()
        handed, relays = door.handed_off, len(door.relays)
        await door.close()
        node.close()
        return handed, relays, heard

    handed, relays, heard = asyncio.run(scenario())
    assert handed == 20 and relays == 0
    assert heard == [b"hello from the node\r\n", b"ping\r\n"] * 20


def test_without_a_handoff_socket_the_door_relays() -> None:
    async def scenario() -> tuple[int, bytes]:
        upstream = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
        target = ("127.0.0.1", int(upstream.sockets[0].getsockname()[1]))
        door = Listener("127.0.0.1", 0, lambda _t: target, "irc", lambda _a: "chatnet-nobody-here")
        reader, writer = await asyncio.open_connection("127.0.0.1", await door.start())
        line = await reader.readline()
        writer.close()
        await door.close()
        upstream.close()
        return door.handed_off, line

    assert asyncio.run(scenario()) == (0, b"hello from the node\r\n")


MANIFEST = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: burst}
spec:
  limits: {maxClients: 70, floodBurst: 100, floodRate: 100}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub}
spec: {network: burst, role: hub, serverId: 1, replicas: 3}
"""


async def register_all(port: int, count: int) -> list[str]:
    """Register ``count`` clients at once; the server that welcomed each (or the error)."""

    writers: list[asyncio.StreamWriter] = []

    async def one(i: int) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)  # held open until every client has an answer
        writer.write(f"NICK b{i}\r\nUSER b 0 * :b\r\n".encode())
        async with asyncio.timeout(60):
            while line := await reader.readline():
                words = line.decode().split()
                if len(words) > 1 and words[1] == "001":
                    return words[0].lstrip(":")
                if words and words[0] == "ERROR":
                    return line.decode().strip()
        return "closed"

    try:
        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        for writer in writers:
            writer.close()


def test_a_burst_of_registrations_fills_every_server_evenly(
    tmp_path: Path,
    up_factory: Any,  # noqa: F811
) -> None:
    """180 clients at once onto 3 servers of 70: everyone gets in, none piles up."""
    manifest = tmp_path / "net.yaml"
    manifest.write_text(MANIFEST)
    up = up_factory(manifest)
    doc = up.endpoints()
    port = int(doc["network"]["irc"].rsplit(":", 1)[1])
    welcomed = asyncio.run(register_all(port, 180))
    refused = [w for w in welcomed if not w.startswith("hub-")]
    assert not refused, f"{len(refused)} refused, e.g. {refused[:3]}"
    per_server = {name: welcomed.count(name) for name in set(welcomed)}
    assert len(per_server) == 3 and max(per_server.values()) <= 70, json.dumps(per_server)
