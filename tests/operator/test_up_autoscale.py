"""`chatnet up` autoscaling a fan-out set with real nodes: up under load, down with a drain."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.irc.blocking import LineClient
from tests.irc.lines import contains
from tests.operator.test_up import server_of, up_factory  # noqa: F401 (the fixture)

CAPS = ["message-tags", "server-time", "echo-message", "batch", "chathistory"]

MANIFEST = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: auto}
spec:
  history: {store: sqlite, retention: 1h}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: ctl}
spec: {network: auto, role: control, serverId: 1}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: fan}
spec:
  network: auto
  role: leaf
  serverId: 10
  replicas: 1
  maxClients: 4
  uplinks: [ctl]
  autoscale: {minReplicas: 1, maxReplicas: 3, targetClientsPercent: 50, stabilizationWindow: 2s}
"""


def connect(doc: dict[str, Any], nick: str, caps: list[str] | None = None) -> LineClient:
    host, port = doc["network"]["irc"].rsplit(":", 1)
    return LineClient.tcp(int(port), host).register(nick, caps or [])


def resizes(log: str) -> list[str]:
    return [line for line in log.splitlines() if "autoscale fan:" in line and "->" in line]


def test_fanout_set_scales_up_under_load_and_down_with_a_drain(
    tmp_path: Path,
    up_factory: Any,  # noqa: F811
) -> None:
    manifest = tmp_path / "net.yaml"
    manifest.write_text(MANIFEST)
    up = up_factory(manifest)
    doc = up.endpoints(servers={"ctl", "fan-0"})
    alice = connect(doc, "alice", CAPS)
    up.clients.append(alice)
    alice.join("#room")
    crowd = [connect(doc, f"crowd{i}") for i in range(2)]
    up.clients.extend(crowd)
    # 3 of 4 places taken (75% > 50%) for the 2 s window: a second replica comes.
    doc = up.endpoints(servers={"ctl", "fan-0", "fan-1"}, timeout=30)
    assert "stayed above the 50% target for 2s: 1 -> 2 replicas" in up.log()

    dave = connect(doc, "dave", CAPS)
    up.clients.append(dave)
    assert server_of(dave).startswith("fan-1"), "the new replica is the least loaded"
    dave.join("#room")
    acked = [dave.privmsg("#room", f"line {i}").tags["msgid"] for i in range(5)]

    for client in crowd:
        client.send("QUIT :done")
    # 2 clients of 8 places (25%) for the window: back to one replica; fan-1 drains.
    dave.expect(contains("shutting down"), timeout=30)
    assert "ERROR" in dave.expect("ERROR", timeout=10).command
    doc = up.endpoints(servers={"ctl", "fan-0"}, timeout=30)
    assert "stayed below the 50% target for 2s: 2 -> 1 replicas" in up.log()
    assert alice.ping(), "alice, on the replica that stays, kept her connection"

    # dave comes back through the front door and finds every acknowledged line.
    back = connect(doc, "dave", CAPS)
    up.clients.append(back)
    assert server_of(back).startswith("fan-0")
    back.join("#room")
    back.send("CHATHISTORY LATEST #room * 50")
    lines = back.sync()  # the history batch comes before the PONG
    history = {m.tags.get("msgid") for m in lines if m.command == "PRIVMSG"}
    assert set(acked) <= history, f"lost acknowledged lines: {set(acked) - history}"

    # Load now steady at 2/4: no further resize however long we look.
    before = resizes(up.log())
    time.sleep(5)
    assert resizes(up.log()) == before and len(before) == 2, before
