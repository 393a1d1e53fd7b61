"""irssi (Debian) in tmux: the terminal client the tests type into and read the screen of.

irssi runs in a detached tmux session on a private tmux server with a
throwaway home and a config that has no servers; a test types ``/connect``,
``/join`` and messages into it with ``send-keys`` and reads the screen with
``capture-pane``. ``running_irssi`` gives one, stopped (its tmux server
killed) afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.waiting import wait_until

IRSSI = shutil.which("irssi")
TMUX = shutil.which("tmux")
#: The marks of a test that drives irssi: slow, and skipped (saying why) without it.
NEEDS_IRSSI = [
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
    real_name = "%(realname)s";
    user_name = "irssitest";
    nick = "%(nick)s";
    quit_message = "irssi says bye";
  };
  "fe-common/core" = { autolog = "no"; beep_msg_level = ""; };
  "irc/core" = { cmd_queue_speed = "50msec"; cmds_max_at_once = "20"; };
  %(settings)s
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

    def start(self, nick: str, realname: str, settings: str = "") -> None:
        """Start irssi as ``nick``; ``settings``: more sections (``misc = { key = "v"; };``)."""
        assert IRSSI is not None
        self.home.mkdir(parents=True)
        config = CONFIG % {"nick": nick, "realname": realname, "settings": settings}
        (self.home / "config").write_text(config)
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

        screen = wait_until(matched, timeout, "irssi's screen matches", 0.1, self.screen)
        assert screen is not None
        return screen

    def stop(self) -> None:
        subprocess.run(
            [str(TMUX), "-S", str(self.socket), "kill-server"],
            capture_output=True,
            timeout=10,
            check=False,
        )


@contextmanager
def running_irssi(
    home: Path, nick: str, realname: str = "chatnet irssi test", settings: str = ""
) -> Iterator[Irssi]:
    """A started irssi showing its first screen; its tmux server is killed afterwards."""
    # A private tmux server; its socket lives in a short temporary directory
    # (unix socket paths are limited to about 100 bytes).
    sockdir = Path(tempfile.mkdtemp(prefix="chatnet-tmux-"))
    client = Irssi(socket=sockdir / "tmux", home=home)
    try:
        client.start(nick, realname, settings)
        client.wait_screen(lambda screen: "Irssi" in screen)
        yield client
    finally:
        client.stop()
        shutil.rmtree(sockdir, ignore_errors=True)
