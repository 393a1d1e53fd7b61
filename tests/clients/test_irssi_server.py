"""irssi (Debian) in tmux against a node named ``irc.example.org``.

irssi is typed into and its screen read (``tests.clients.irssi``); a plain
TCP client of the tests is the other user. Checked as an irssi user reads
them: the server's name in the welcome and the MOTD and as irssi records it
(``$S``), the exact LUSERS counts (irssi makes itself invisible, +i), WHOIS
of another user, and ``/notify`` (irssi 1.4 polls with ISON, here every
second) announcing the watched nick's arrival and departure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatnet_node import __version__
from tests.clients.conftest import DESCRIPTION, NETWORK, SERVER_NAME
from tests.clients.irssi import NEEDS_IRSSI, Irssi, running_irssi
from tests.irc.blocking import LineClient
from tests.nodeproc import LOCAL_CLOAK, NodeProcess
from tests.waiting import wait_until

NICK = "irsuser"
_TIMESTAMP = re.compile(r"^\d\d:\d\d (?:-!- )?(.*?)\s*$")

pytestmark = NEEDS_IRSSI


@pytest.fixture
def irssi(tmp_path: Path) -> Iterator[Irssi]:
    with running_irssi(tmp_path / "irssi-home", NICK, realname="irssi user") as client:
        yield client


def shown(screen: str) -> list[str]:
    """The window's messages, without time stamps and ``-!-`` (and without the status bars)."""
    return [m[1] for line in screen.splitlines() if (m := _TIMESTAMP.match(line))]


def section(irssi: Irssi, command: str, last: str) -> list[str]:
    """Type ``command``; the lines it adds, once ``last`` is among them.

    An ``/echo`` of a marker before the command tells its output from what
    the window showed before.
    """
    marker = f"== {command} =="
    irssi.type(f"/echo {marker}")
    irssi.type(command)

    def output() -> list[str] | None:
        lines = shown(irssi.screen())
        if marker not in lines:
            return None
        after = lines[len(lines) - lines[::-1].index(marker) :]
        return after if last in after else None

    lines = wait_until(output, 10, f"irssi shows {last!r} after {command}", 0.1, irssi.screen)
    assert lines is not None
    return lines


def test_irssi_server_name_lusers_whois_and_notify(named_node: NodeProcess, irssi: Irssi) -> None:
    irssi.type("/set notify_check_time 1s")
    irssi.type(f"/connect 127.0.0.1 {named_node.irc_port}")
    # irssi's last step of connecting is making itself invisible.
    screen = irssi.wait_screen(lambda s: f"Mode change [+i] for user {NICK}" in s)
    welcome = shown(screen)
    assert f"Welcome to the {NETWORK} IRC Network {NICK}!~irssitest@{LOCAL_CLOAK}" in welcome
    assert f"Your host is {SERVER_NAME}, running version chatnet-{__version__}" in welcome
    assert any(ln.startswith(f"{SERVER_NAME} chatnet-{__version__} ") for ln in welcome)
    assert f"- {SERVER_NAME} Message of the day -" in welcome
    # The server name irssi took from the welcome (its real_address, ``$S``).
    assert section(irssi, "/eval echo server=$S", "server=irc.example.org")

    with LineClient.tcp(named_node.irc_port) as peer:
        peer.register("irpeer")
        peer.join("#lobby")
        peer.send("AWAY :out for lunch")
        peer.expect("306")

        lusers = section(irssi, "/lusers", "2 2 Current global users 2, max 2")
        assert lusers == [
            "There are 1 users and 1 invisible on 1 servers",
            "1 channels formed",
            "I have 2 clients and 0 servers",
            "2 2 Current local users 2, max 2",
            "2 2 Current global users 2, max 2",
        ]

        whois = section(irssi, "/whois irpeer", "End of WHOIS")
        assert whois[:5] == [
            f"irpeer [~irpeer@{LOCAL_CLOAK}]",
            " ircname  : Test irpeer",
            " channels : @#lobby",
            f" server   : {SERVER_NAME} [{DESCRIPTION}]",
            " away     : out for lunch",
        ]
        assert re.fullmatch(r" idle     : 0 days 0 hours 0 mins \d+ secs \[signon: .*\]", whois[5])
        assert whois[6:] == ["End of WHOIS"]

    # irssi announces a watched nick at the first ISON that finds it, even the first one.
    irssi.type("/notify irfriend")
    with LineClient.tcp(named_node.irc_port) as friend:
        friend.register("irfriend")
        joined = f"Irssi: irfriend [~irfriend@{LOCAL_CLOAK}] [Test irfriend] has joined to IRC"
        irssi.wait_screen(lambda s: joined in shown(s))
        friend.send("QUIT :bye")
        friend.wait_closed()
    left = "Irssi: irfriend has left IRC"
    lines = shown(irssi.wait_screen(lambda s: left in shown(s)))
    assert lines[lines.index(joined) :] == [joined, left]
