"""WeeChat (Debian ``weechat-headless``) driven through its FIFO, read through its logs.

``weechat-headless`` has no screen: commands go in through the fifo plugin's
pipe (``<buffer> */command``, one per line) and what WeeChat shows in the
server buffer comes out of the logger plugin's file for that buffer, written
at once (``logger.file.flush_delay 0``). WeeChat's own anti-flood delay is
off so commands are sent when typed. ``running_weechat`` gives one connected
to a server, quit (or killed) afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.waiting import wait_until

WEECHAT = shutil.which("weechat-headless")
FIFO_PLUGIN = bool(glob.glob("/usr/lib/*/weechat/plugins/fifo.so"))
#: The marks of a test that drives WeeChat: slow, and skipped (saying why) without it.
NEEDS_WEECHAT = [
    pytest.mark.slow,
    pytest.mark.skipif(WEECHAT is None, reason="needs WeeChat (Debian package weechat-headless)"),
    pytest.mark.skipif(
        not FIFO_PLUGIN, reason="needs WeeChat's fifo plugin (Debian package weechat-plugins)"
    ),
]
#: The server's name inside WeeChat (its buffer is ``irc.server.chatnet``).
SERVER = "chatnet"
BUFFER = f"irc.server.{SERVER}"


@dataclass
class WeeChat:
    """One weechat-headless process with its own home directory."""

    home: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int, nick: str, realname: str, settings: Sequence[str] = ()) -> None:
        """Start WeeChat, add the server at ``127.0.0.1:port`` and connect to it.

        ``settings``: more commands run before connecting (``/set ...``).
        """
        assert WEECHAT is not None
        self.home.mkdir(parents=True)
        option = f"irc.server.{SERVER}"
        commands = [
            "/set logger.file.flush_delay 0",
            f"/server add {SERVER} 127.0.0.1/{port} -notls",
            f"/set {option}.nicks {nick}",
            f"/set {option}.username {nick}",
            f'/set {option}.realname "{realname}"',
            f"/set {option}.anti_flood_prio_high 0",
            f"/set {option}.anti_flood_prio_low 0",
            *settings,
            f"/connect {SERVER}",
        ]
        run = ";".join(commands)
        argv = [WEECHAT, "--dir", str(self.home), "--no-script", "--run-command", run]
        with (self.home / "stdout.log").open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def fifo(self) -> Path:
        assert self.proc is not None
        return self.home / f"weechat_fifo_{self.proc.pid}"

    def command(self, text: str, buffer: str = BUFFER) -> None:
        """Run ``/text`` in ``buffer`` (the server buffer by default), as if typed there."""
        wait_until(self.fifo.exists, 10, "WeeChat's FIFO pipe", 0.05, self.weechat_log)
        # Non-blocking: with no reader the open fails at once instead of hanging.
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, f"{buffer} */{text}\n".encode())
        finally:
            os.close(fd)

    def lines(self, buffer: str = BUFFER) -> list[str]:
        """The messages of ``buffer`` as logged: each line without its date and prefix."""
        path = self.home / "logs" / f"{buffer}.weechatlog"
        if not path.exists():
            return []
        text = path.read_text(errors="replace")
        return [line.split("\t", 2)[-1] for line in text.splitlines() if line.count("\t") >= 2]

    def wait_lines(self, check: Callable[[list[str]], bool], start: int = 0) -> list[str]:
        """The server buffer's lines from ``start`` on, once ``check`` holds for them."""

        def matched() -> list[str] | None:
            lines = self.lines()[start:]
            return lines if check(lines) else None

        lines = wait_until(matched, 10, "WeeChat's server buffer log matches", 0.05, self.context)
        assert lines is not None
        return lines

    def weechat_log(self) -> str:
        path = self.home / "weechat.log"
        return path.read_text(errors="replace") if path.exists() else "(no weechat.log)"

    def context(self) -> str:
        """For failures: the server buffer as logged and WeeChat's own log."""
        shown = "\n".join(self.lines()[-40:])
        return f"server buffer:\n{shown}\nweechat.log:\n{self.weechat_log()[-2000:]}"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.command("quit", buffer="core.weechat")
            self.proc.wait(timeout=5)
        except (OSError, AssertionError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


@contextmanager
def running_weechat(
    home: Path, port: int, nick: str, realname: str, settings: Sequence[str] = ()
) -> Iterator[WeeChat]:
    """A WeeChat connecting to ``127.0.0.1:port`` as ``nick``; quit afterwards."""
    client = WeeChat(home)
    try:
        client.start(port, nick, realname, settings)
        yield client
    finally:
        client.stop()
