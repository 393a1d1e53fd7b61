"""Clients dropped for a full send queue ("SendQ exceeded"), a slice per turn.

A flood can overflow thousands of send queues in one turn. Each drop costs a
QUIT to the channels and a socket reset; done all at once, the server would
stop for that long and every other user would wait. So the connection stops
taking bytes at once (``Connection.sendq_exceeded``) and waits here; a
turn's flush drops what ``BUDGET`` allows, one reader between two looks at
the clock (a slice of ``LateWork.slices``: it goes first in its turn of the
rotation, else only while the turn's budget lasts, see ``irc.latework``).
Those still waiting get no QUIT of those ahead of them (they are leaving
too), so 500 readers of one channel dropped together cost 500 QUITs to the
others, not 250,000 among themselves.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from ..irc.core import ChatCore
from ..irc.model import Client
from ..irc.output import TURN_BUDGET

log = logging.getLogger("chatnet.transport")

REASON = "SendQ exceeded"
#: Clients dropped between two looks at the clock. One: a drop's QUIT to the
#: rest of a channel of 500 costs about 70 µs, and eight at once took half
#: the turn's budget or more before the clock was read.
BATCH = 1
#: The time a turn may spend dropping: at most half of its budget, the rest
#: is the big fan-outs'.
BUDGET = TURN_BUDGET / 2
#: What a reset costs after the flush, charged to the turn's budget: the
#: event loop closes the socket before it reads the others again, and the
#: kernel then frees a full send buffer (25-30 µs a socket, measured on
#: loopback with 128 KiB of unsent lines).
CLOSE_COST = 30e-6
#: Nicks named in the log line of a turn's drops.
LOGGED_NICKS = 20


class Drops:
    """One core's queue of connections to drop: their client, and how to close them."""

    def __init__(self, core: ChatCore) -> None:
        self.core = core
        self.queue: deque[tuple[Client | None, Callable[[], None]]] = deque()
        self.waiting: dict[Client, None] = {}  # the queued clients, excluded from QUITs

    def add(self, client: Client | None, close: Callable[[], None]) -> None:
        """Drop ``client`` (and then ``close`` its connection) in a coming turn."""
        if not self.queue:
            self.core.output.late.slices.append(self.run)
        self.queue.append((client, close))
        if client is not None:
            self.waiting[client] = None
        self.core.output.wake_soon()

    def run(self, deadline: float) -> bool:
        """Drop queued clients for ``BUDGET`` or until ``deadline``; whether some are left."""
        try:
            self._drop_until(min(deadline, time.monotonic() + BUDGET))
        finally:
            if not self.queue:  # done (else this is still a slice of the output's)
                self.core.output.late.slices.remove(self.run)
        return bool(self.queue)

    def _drop_until(self, deadline: float) -> None:
        queue, waiting, output = self.queue, self.waiting, self.core.output
        nicks: list[str] = []
        count = 0
        while queue:
            batch = [queue.popleft() for _ in range(min(BATCH, len(queue)))]
            clients = [client for client, _ in batch if client is not None]
            for client in clients:
                del waiting[client]
            self.core.drop(clients, REASON, waiting)
            for _, close in batch:
                close()
            # Counted as their QUITs go out, so the metric never runs ahead of them.
            self.core.stats.sendq_exceeded += len(batch)
            count += len(batch)
            output.late.charged += len(batch) * CLOSE_COST
            nicks.extend(client.nick for client in clients[: LOGGED_NICKS - len(nicks)])
            if time.monotonic() + output.late.charged >= deadline:
                break
        # One log line per turn, not per client: thousands can overflow together.
        more = f" and {count - len(nicks)} more" if count > len(nicks) else ""
        log.info("dropped %d connections (%s): %s%s", count, REASON, ", ".join(nicks), more)


def drop_soon(core: ChatCore, client: Client | None, close: Callable[[], None]) -> None:
    """Queue a connection whose send queue overflowed (see ``Drops``)."""
    # The core's Drops, while it has some queued, is one of its output's slices.
    for work in core.output.late.slices:
        drops = getattr(work, "__self__", None)
        if isinstance(drops, Drops):
            break
    else:
        drops = Drops(core)
    drops.add(client, close)
