"""irssi (Debian) connects to a real node over TCP, joins and talks, driven through tmux.

irssi runs in tmux (``tests.clients.irssi``): the test types ``/connect``,
``/join`` and messages into it and reads the screen. A plain TCP client in
the test is the other side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.clients.irssi import NEEDS_IRSSI, Irssi, running_irssi
from tests.irc.blocking import LineClient
from tests.irc.lines import Msg
from tests.nodeproc import NodeProcess
from tests.waiting import wait_until
from tests.web import irc_peer

NICK = "irssiuser"

pytestmark = NEEDS_IRSSI


@pytest.fixture
def irssi(tmp_path: Path) -> Iterator[Irssi]:
    with running_irssi(tmp_path / "irssi-home", NICK) as client:
        yield client


@pytest.fixture
def tcp(node: NodeProcess) -> Iterator[LineClient]:
    with irc_peer(node.irc_port, "tcpalice") as client:
        yield client


def from_irssi(command: str, *params: str) -> Callable[[Msg], bool]:
    return lambda ln: (
        ln.nick == NICK and ln.command == command and ln.params[: len(params)] == [*params]
    )


def test_irssi_connects_joins_and_talks(node: NodeProcess, irssi: Irssi, tcp: LineClient) -> None:
    tcp.join("#lobby")
    irssi.type(f"/connect 127.0.0.1 {node.irc_port}")

    # irssi refuses /join until it is registered; retry until the join shows up.
    def joined() -> bool:
        irssi.type("/join #lobby")
        tcp.drain(2)
        return tcp.has(from_irssi("JOIN", "#lobby"))

    wait_until(joined, 20, "irssi joins #lobby", poll=0, context=irssi.screen)

    # irssi's channel window lists who is there (the NAMES reply).
    irssi.wait_screen(lambda s: "tcpalice" in s and NICK in s)

    irssi.type("hello from irssi")
    tcp.expect(from_irssi("PRIVMSG", "#lobby", "hello from irssi"))

    tcp.privmsg("#lobby", "hi irssi, this is a plain TCP client")
    irssi.wait_screen(lambda s: "hi irssi, this is a plain TCP client" in s and "tcpalice" in s)

    tcp.privmsg(NICK, "a private word")
    irssi.type("/query tcpalice")  # irssi opens query windows in the background
    irssi.wait_screen(lambda s: "a private word" in s)
    irssi.type("/window goto #lobby")

    # tcpalice joined first, so she is the channel operator and may set the topic.
    tcp.send("TOPIC #lobby :a topic from the TCP side")
    irssi.wait_screen(lambda s: "changed the topic of #lobby to: a topic from the TCP side" in s)
    irssi.type("/me waves")
    tcp.expect(from_irssi("PRIVMSG", "#lobby", "\x01ACTION waves\x01"))

    irssi.type("/quit")
    tcp.expect(lambda ln: ln.nick == NICK and ln.command == "QUIT")
