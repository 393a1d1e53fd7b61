"""Lines to a crowd wait for the turn's budget, behind the turn's small chats.

Running a line to a channel of more than ``BULK_FANOUT`` members queues it
in every member's outbox. With thousands of clients those outboxes are
cold in the cache: 0.25-0.35 ms a line to 500 members (25 µs in a warm
core), and ten flooders sending together held every other line read in
that turn for about 3 ms (docs/benchmarks.md, *What a line waited for*).
So such a line is not run as it is read: it waits here and runs in a slice
of the turn's flush (``LateWork.slices``), after the turn's other lines were
run and written, within the flush's budget; what is left runs the next
turn. A client's later lines wait behind its first, so they still run in
order, and each is admitted (flood control) as it runs, as if it came in
then. Its fan-outs go where a line read then would send them (``bulk``).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from .model import Channel, Client
from .names import CHANTYPES, casefold
from .output import BULK_FANOUT, Output
from .serverinfo import STATUSMSG

__all__ = ["CROWD_COMMANDS", "CrowdLines", "crowd_target"]

log = logging.getLogger("chatnet.core")

#: Commands whose line fans out to its targets' members.
CROWD_COMMANDS = frozenset({"PRIVMSG", "NOTICE", "TAGMSG"})
_TAGS_OR_SOURCE = ("@", ":")


def crowd_target(line: str, channels: dict[str, Channel]) -> bool:
    """Is ``line`` a message to a channel of more than ``BULK_FANOUT`` members?

    A look at the raw line, without parsing it all (it runs for every
    line): the command and the first parameter, after any tags and source.
    """
    if line[:1] in _TAGS_OR_SOURCE:
        for _ in range(2):  # tags, then a source: dropped with the spaces after them
            if line[:1] in _TAGS_OR_SOURCE:
                line = line.partition(" ")[2].lstrip(" ")
    end = line.find(" ")
    if end < 0:
        return False
    command = line[:end]
    if command not in CROWD_COMMANDS and command.upper() not in CROWD_COMMANDS:
        return False
    stop = line.find(" ", end + 1)
    targets = line[end + 1 : stop] if stop > 0 else line[end + 1 :]
    for target in targets.split(",") if "," in targets else (targets,):
        name = target.lstrip(STATUSMSG)  # ``PRIVMSG @#chan``: to its operators
        if name[:1] not in CHANTYPES:
            continue  # a nick: a private message
        # Names are kept folded: most are typed so, and need no fold (a third of the cost).
        channel = channels.get(name) or channels.get(casefold(name))
        if channel is not None and len(channel.members) > BULK_FANOUT:
            return True
    return False


class CrowdLines:
    """The lines to crowds waiting for a slice of the flush, in the order they came.

    Off until the runtime, which flushes with a budget every turn, turns it
    on (``on``); off again while the server drains, when lines run as read.
    A flush without a budget runs every waiting line first (``run_all``).
    """

    def __init__(
        self,
        output: Output,
        channels: dict[str, Channel],
        run: Callable[[Client, str], None],
        fail: Callable[[Client], None],
    ) -> None:
        self.output = output
        self.channels = channels
        self.run_line = run  # the core's: flood control, then the command
        self.fail = fail  # the core's: quit a client whose line raised
        self.waiting: deque[tuple[Client, str]] = deque()
        self.on = False
        output.run_late = self.run_all

    def take(self, client: Client, line: str) -> bool:
        """Keep ``line`` for a slice if it goes to a crowd, or waits behind one; True if kept."""
        if not client.crowd_lines and (not self.on or not crowd_target(line, self.channels)):
            return False
        self.waiting.append((client, line))
        client.crowd_lines += 1
        if len(self.waiting) == 1:
            self.output.late.slices.append(self.run)
            self.output.wake_soon()
        return True

    def run(self, deadline: float) -> bool:
        """Run waiting lines until ``deadline``, at least one; True if some are left."""
        waiting = self.waiting
        with self.output.as_read():
            while waiting:
                client, line = waiting.popleft()
                client.crowd_lines -= 1
                if not client.closed:
                    self._run(client, line)
                if time.monotonic() >= deadline:
                    break
        # As at the start of a flush: the lines' history is committed (and the
        # neighbours told) before any of their echoes is written, in this flush.
        self.output.commit()
        if waiting:
            return True
        self.output.late.slices.remove(self.run)
        return False

    def _run(self, client: Client, line: str) -> None:
        try:
            self.run_line(client, line)
        except Exception:  # a bug in a command: that client goes, the others' lines run
            log.exception("a line to a crowd failed: %r", line[:80])
            self.fail(client)

    def run_client(self, client: Client) -> None:
        """Run ``client``'s waiting lines now, in order: it is about to go.

        A bot that sends its line and closes the socket at once would
        otherwise lose it; the line runs as it would have run when read.
        """
        if not client.crowd_lines:
            return
        mine = [line for who, line in self.waiting if who is client]
        self.waiting = deque(entry for entry in self.waiting if entry[0] is not client)
        client.crowd_lines = 0
        with self.output.as_read():
            for line in mine:
                if client.closed:
                    break
                self._run(client, line)
        if not self.waiting and self.run in self.output.late.slices:
            self.output.late.slices.remove(self.run)

    def run_all(self) -> None:
        """Run every waiting line now (a flush without a budget: a drain, a test)."""
        if self.waiting:
            self.run(float("inf"))
