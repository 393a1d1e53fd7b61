"""Clients dropped for a full send queue ("SendQ exceeded"), a slice per turn.

A flood can overflow thousands of send queues in one turn. Each drop costs a
QUIT to the channels and a socket reset; done all at once, the server would
stop for that long and every other user would wait. So the connection stops
taking bytes at once (``Connection.sendq_exceeded``) and waits here; each
turn drops what ``BUDGET`` allows, in batches: those still waiting get
no QUIT of those ahead of them (they are leaving too), so 500 readers of one
channel dropped together cost 500 QUITs to the others, not 250,000 among
themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from ..irc.core import ChatCore
from ..irc.model import Client
from ..irc.output import TURN_BUDGET

log = logging.getLogger("chatnet.transport")

REASON = "SendQ exceeded"
#: Clients dropped between two looks at the clock.
BATCH = 8
#: The time a turn may spend dropping: half a turn's budget, since their
#: sockets' close (asyncio's ``connection_lost`` callbacks, in the next turn:
#: the kernel frees a full send buffer and resets the connection) costs as
#: much again.
BUDGET = TURN_BUDGET / 2
#: Nicks named in the log line of a turn's drops.
LOGGED_NICKS = 20


class Drops:
    """One core's queue of connections to drop: their client, and how to close them."""

    def __init__(self, core: ChatCore) -> None:
        self.core = core
        self.queue: deque[tuple[Client | None, Callable[[], None]]] = deque()
        self.waiting: dict[Client, None] = {}  # the queued clients, excluded from QUITs
        self.scheduled = False

    def add(self, client: Client | None, close: Callable[[], None]) -> None:
        """Drop ``client`` (and then ``close`` its connection) in a coming turn."""
        self.queue.append((client, close))
        if client is not None:
            self.waiting[client] = None
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.run)

    def run(self) -> None:
        """Drop the queued clients for ``BUDGET``; the rest in the next turn."""
        self.scheduled = False
        queue, waiting = self.queue, self.waiting
        deadline = time.monotonic() + BUDGET
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
            nicks.extend(client.nick for client in clients[: LOGGED_NICKS - len(nicks)])
            if time.monotonic() >= deadline:
                break
        # One log line per turn, not per client: thousands can overflow together.
        more = f" and {count - len(nicks)} more" if count > len(nicks) else ""
        log.info("dropped %d connections (%s): %s%s", count, REASON, ", ".join(nicks), more)
        if queue:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.run)
        else:
            _drops.pop(self.core, None)


_drops: dict[ChatCore, Drops] = {}


def drop_soon(core: ChatCore, client: Client | None, close: Callable[[], None]) -> None:
    """Queue a connection whose send queue overflowed (see ``Drops``)."""
    drops = _drops.get(core)
    if drops is None:
        drops = _drops[core] = Drops(core)
    drops.add(client, close)
