"""Modern IRC across real processes: leaf.acme.chat - hub1.acme.chat - hub2.acme.chat.

A user on the leaf monitors a nick that connects on the far hub, takes a
message back (REDACT) that a reader two hops away saw, and finds its read
marker again after reconnecting to the far hub (a failover, as a client
lives it). Server names are host names with dots.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.irc.blocking import LineClient
from tests.irc.lines import Msg
from tests.nodeproc import LOCAL_CLOAK, NodeProcess, make_node
from tests.portals.test_portals import peer

SECRET = "modern-network-secret"
CAPS = (
    "message-tags",
    "echo-message",
    "batch",
    "extended-monitor",
    "draft/message-redaction",
    "draft/read-marker",
    "draft/chathistory",
)
MARK = "timestamp=2020-01-01T00:00:00.000Z"


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, NodeProcess]]:
    """leaf dials hub1, hub2 dials hub1: the leaf and hub2 are two hops apart."""
    names = {"leaf": "leaf.acme.chat", "hub1": "hub1.acme.chat", "hub2": "hub2.acme.chat"}

    def node(role: str, sid: int, **links: Any) -> NodeProcess:
        return make_node(tmp_path, names[role], serverId=sid, links={"secret": SECRET, **links})

    hub1 = node("hub1", 10, accept=[names["leaf"], names["hub2"]])
    leaf = node("leaf", 11, dial=[peer(hub1, 10)])
    hub2 = node("hub2", 12, dial=[peer(hub1, 10)])
    nodes = {"leaf": leaf, "hub1": hub1, "hub2": hub2}
    for each in nodes.values():
        each.start()
    try:
        yield nodes
    finally:
        for each in nodes.values():
            each.stop()


def user(node: NodeProcess, nick: str) -> LineClient:
    return LineClient.tcp(node.irc_port).register(nick, CAPS)


def is_(command: str, *params: str) -> Any:
    return lambda m: m.command == command and m.params[: len(params)] == list(params)


def test_monitor_redaction_and_read_marker_across_two_hops(
    chain: dict[str, NodeProcess],
) -> None:
    alice = user(chain["leaf"], "alice")
    alice.wait_linked(3)
    alice.send("MONITOR + bob")
    assert alice.expect("731").last == "bob"

    bob = user(chain["hub2"], "bob")
    online: Msg = alice.expect("730")
    assert online.last == f"bob!~bob@{LOCAL_CLOAK}"
    bob.send("WHOIS alice")
    assert bob.expect("312").params[2] == "leaf.acme.chat"

    for each in (alice, bob):
        each.join("#room")
    echo = alice.privmsg("#room", "this crosses two hops")
    msgid = echo.tags["msgid"]
    assert bob.expect(is_("PRIVMSG", "#room")).tags["msgid"] == msgid

    alice.send(f"REDACT #room {msgid} :wrong room")
    assert alice.expect(is_("REDACT", "#room", msgid)).last == "wrong room"
    redacted = bob.expect(is_("REDACT", "#room", msgid))
    assert redacted.nick == "alice" and redacted.last == "wrong room"
    bob.send("CHATHISTORY LATEST #room * 10")
    replayed = []
    for line in bob.incoming(10):
        replayed.append(line)
        if line.command == "BATCH" and line.params[0].startswith("-"):
            break
    assert replayed[0].command == "BATCH", "the far hub answered CHATHISTORY"
    assert not [m for m in replayed if m.tags.get("msgid") == msgid], "it forgot the message"
    alice.send(f"MARKREAD #room {MARK}")
    assert alice.expect("MARKREAD").params == ["#room", MARK]

    alice.send("QUIT :moving to the other hub")
    alice.close()
    bob.expect(is_("QUIT"))  # the network knows alice is gone: her nick is free
    again = user(chain["hub2"], "alice")
    again.send("JOIN #room")
    marker = again.expect("MARKREAD")
    assert marker.source == "hub2.acme.chat" and marker.params == ["#room", MARK]

    watcher = user(chain["leaf"], "carol")
    watcher.send("MONITOR + bob")
    watcher.expect("730")
    bob.send("QUIT :bye")
    assert watcher.expect("731").last == "bob"
    for each in (bob, again, watcher):
        each.close()
