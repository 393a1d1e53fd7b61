"""irssi (Debian) connects to a real node over TCP, joins and talks, driven through tmux.

irssi runs in a detached tmux session on a private tmux server with a
throwaway home and a config that has no servers; the test types ``/connect``,
``/join`` and messages into it with ``send-keys`` and reads the screen with
``capture-pane``. A plain TCP client in the test is the other side.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.irc.blocking import LineClient
from tests.irc.lines import Msg
from tests.nodeproc import NodeProcess
from tests.waiting import wait_until
from tests.web import irc_peer

IRSSI = shutil.which("irssi")
TMUX = shutil.which("tmux")
NICK = "irssiuser"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(IRSSI is None, reason="needs irssi (Debian package irssi)"),
    pytest.mark.skipif(TMUX is None, reason="needs tmux (Debian package tmux)"),
]

CONFIG = """\
servers = ( );
chatnets = { };
channels = ( );
settings = {
  core = {
    real_name = "chatnet irssi test";
    user_name = "irssitest";
    nick = "%(nick)s";
    quit_message = "irssi says bye";
  };
  "fe-common/core" = { autolog = "no"; beep_msg_level = ""; };
  "irc/core" = { cmd_queue_speed = "50msec"; cmds_max_at_once = "20"; };
};
"""


@dataclass
class Irssi:
    """One irssi in its own tmux server (``tmux -S socket``)."""

    socket: Path
    home: Path
    session: str = field(default_factory=lambda: f"irssi-{uuid.uuid4().hex[:10]}")

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        result = subprocess.run(
            [TMUX, "-S", str(self.socket), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return result.stdout

    def start(self, nick: str) -> None:
        assert IRSSI is not None
        self.home.mkdir(parents=True)
        (self.home / "config").write_text(CONFIG % {"nick": nick})
        command = f"{IRSSI} --home={self.home} -n {nick} --noconnect"
        self.tmux(
            "-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", "160", "-y", "40",
            "-e", "TERM=xterm-256color", command,
        )  # fmt: skip

    def type(self, text: str) -> None:
        """Type a line into irssi's input and press Enter."""
        self.tmux("send-keys", "-t", self.session, "-l", text)
        self.tmux("send-keys", "-t", self.session, "Enter")

    def screen(self) -> str:
        """The visible screen plus scrollback of the current tmux pane."""
        return self.tmux("capture-pane", "-p", "-J", "-t", self.session, "-S", "-200")

    def wait_screen(self, pred: Callable[[str], bool], timeout: float = 10.0) -> str:
        def matched() -> str | None:
            text = self.screen()
            return text if pred(text) else None

        return wait_until(matched, timeout, "irssi's screen matches", 0.1, self.screen)

    def stop(self) -> None:
        subprocess.run(
            [str(TMUX), "-S", str(self.socket), "kill-server"],
            capture_output=True,
            timeout=10,
            check=False,
        )


@pytest.fixture
def irssi(tmp_path: Path) -> Iterator[Irssi]:
    # A private tmux server; its socket lives in a short temporary directory
    # (unix socket paths are limited to about 100 bytes).
    sockdir = Path(tempfile.mkdtemp(prefix="chatnet-tmux-"))
    client = Irssi(socket=sockdir / "tmux", home=tmp_path / "irssi-home")
    try:
        client.start(NICK)
        client.wait_screen(lambda screen: "Irssi" in screen)
        yield client
    finally:
        client.stop()
        shutil.rmtree(sockdir, ignore_errors=True)


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
