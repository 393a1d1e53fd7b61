"""What a turn does after its small chats, within its budget: slices, what they sent, big fan-outs.

``Output.flush`` writes the turn's small chats (``dirty``) at once. The
rest shares the turn's budget (``TURN_BUDGET``), then asks for another
turn, after the sockets have been read again:

* ``slices``: work done a slice at a time (the transport's drops, the lines
  to crowds of ``crowd``), each handed the turn's deadline;
* ``soon``: what the slices' work sent (a drop's QUITs), and a medium
  channel's fan-out in a turn whose direct path is full;
* the big fan-outs (``bulk``), written a pass at a time: those marked while
  a pass is written wait for the next, so none waits forever.

The slices take turns to go first, and only the one that goes first is sure
of a step: the others run while the budget lasts. Then ``soon`` and the
pass write at least two clients each (a few microseconds to a reader whose
socket is full, up to 100 µs to one the kernel is still filling), the rest
while the budget lasts. When every slice took a step a turn whatever the time (a
drop's batch, a crowd line: a few hundred microseconds each), a turn took
2-6 ms against its 1 ms budget while 10,000 flooded readers were dropped,
and a small chat's line read meanwhile waited that long.

``soon`` and the pass are each a ``WriteRound``: what is being written is a
list and a position, not a dict of those left (rebuilt each turn, that dict
cost 0.3 ms with 10,000 readers). Those marked meanwhile wait in a dict,
each once, for the next round: a client in both costs a look at an empty
outbox the second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from itertools import islice

from .model import Client

log = logging.getLogger("chatnet.output")

#: Work done in slices: handed the turn's deadline (``time.monotonic``), it
#: does at least one step and returns whether it has more. One that has
#: nothing left takes itself off ``LateWork.slices``.
Slice = Callable[[float], bool]

#: A pass over the big fan-outs still unwritten after this long gets twice
#: the budget a turn: a client's bytes wait in its outbox, not yet counted
#: against its ``sendqBytes``, so a pass must not fall behind for good. (The
#: longer a client waits the more lines one write carries, so the slices
#: catch up.) Finishing it in one go instead, reading paused, held turns for
#: 3-5 ms while 10,000 flooded readers' first writes filled their sockets.
SLOW_PASS = 5.0
#: After this long, the pass is finished in one go, reading paused until it
#: is out (as without slices): what waits is bounded in time whatever the load.
MAX_BULK_LAG = 10.0
#: Writes between two looks at the clock. Two: a write that fills a socket
#: takes 20-100 µs (the kernel allocates its buffer), so eight of them
#: overshot the budget by up to a millisecond; a look costs 60 ns.
CHECK_EVERY = 2


class WriteRound:
    """Clients written a few a turn from a list, in rounds: those marked
    meanwhile wait in ``marked``, each once, for the next round."""

    def __init__(self) -> None:
        self.marked: dict[Client, None] = {}
        self._listed: list[Client] = []
        self._at = 0
        #: When the round under way began (``time.monotonic``).
        self.started = 0.0

    def __bool__(self) -> bool:
        """Is anyone left to write?"""
        return bool(self.marked or self._listed)

    @property
    def under_way(self) -> bool:
        return bool(self._listed)

    def held(self) -> int:
        """Entries kept: the round's list, written or not, and those marked."""
        return len(self._listed) + len(self.marked)

    def write(self, deadline: float) -> None:
        """Write until ``deadline`` (at least two clients), a new round if none is under way."""
        if not self._listed:
            if not self.marked:
                return
            self._listed, self._at, self.marked = list(self.marked), 0, {}
            self.started = time.monotonic()
        self._at = write_from(self._listed, self._at, deadline)
        if self._at == len(self._listed):
            self._listed, self._at = [], 0

    def write_all(self) -> None:
        """Write everyone left, now."""
        write(islice(self._listed, self._at, None))
        write(self.marked)
        self.marked, self._listed, self._at = {}, [], 0


class LateWork:
    """One server's work left for the budget of its turns."""

    def __init__(self, after_slice: Callable[[], None]) -> None:
        self.slices: list[Slice] = []
        #: Clients a slice's work sent to, or a busy turn's medium fan-outs.
        self._soon = WriteRound()
        #: Clients with bytes from big fan-outs, a pass (a round) at a time.
        self._pass = WriteRound()
        #: Seconds the slices' work will cost outside them, before the
        #: sockets are read again (the event loop closes the sockets they
        #: reset): taken off the rest of the turn, so that reads wait no
        #: longer than the budget.
        self.charged = 0.0
        #: A slice's work is running: what it delivers waits in ``soon``.
        self.in_slice = False
        self._after_slice = after_slice  # the output's: a slice's marks are not kept
        self._turns = 0

    @property
    def soon(self) -> dict[Client, None]:
        """Where a slice's work, or a busy turn's medium fan-out, marks its recipients."""
        return self._soon.marked

    @property
    def bulk(self) -> dict[Client, None]:
        """Where a big fan-out marks its recipients, for the next pass."""
        return self._pass.marked

    def __bool__(self) -> bool:
        """Is anything left?"""
        return bool(self.slices or self._soon or self._pass)

    @property
    def passing(self) -> bool:
        """Is a pass over the big fan-outs under way?"""
        return self._pass.under_way

    def write_all(self) -> None:
        """Write everything waiting now (a flush without a budget); the slices wait."""
        self._soon.write_all()
        self._pass.write_all()

    def run(self, budget: float) -> bool:
        """Work for ``budget`` seconds: a step of this turn's first slice, a batch
        of ``soon`` and of the pass at least; True if some is left (the caller
        asks for another turn)."""
        deadline = time.monotonic() + budget
        self.charged = 0.0
        more = False
        slices = list(self.slices)  # (a slice that is done leaves the list)
        if slices:
            first = self._turns % len(slices)
            self._turns += 1
            for n, work in enumerate(slices[first:] + slices[:first]):
                limit = deadline - self.charged
                if n and time.monotonic() >= limit:
                    more = True  # the others wait: the turn's time is spent
                    break
                more = self._run_slice(work, limit) or more
        self._soon.write(deadline - self.charged)
        self._write_pass(deadline - self.charged, budget)
        return more or bool(self._soon or self._pass)

    def _run_slice(self, work: Slice, deadline: float) -> bool:
        self.in_slice = True
        try:
            return work(deadline)
        except Exception:  # a bug there must not stop the output (it runs again)
            log.exception("work in a slice failed")
            return True
        finally:
            self.in_slice = False
            self._after_slice()

    def _write_pass(self, deadline: float, budget: float) -> None:
        if self._pass.under_way:
            lag = time.monotonic() - self._pass.started
            if lag > MAX_BULK_LAG:
                deadline = float("inf")  # not keeping up: this pass in full, before reading more
            elif lag > SLOW_PASS:
                deadline += budget
        self._pass.write(deadline)


def write(clients: Iterable[Client]) -> None:
    """Each client's queued bytes in one ``sink.write``; the hang-ups asked for."""
    for client in clients:
        outbox = client.outbox
        if outbox:
            data = b"".join(outbox)  # one item: CPython returns it as is
            outbox.clear()
            client.sink.write(data)
        if client.hangup:
            client.hangup = False
            client.sink.close()


def write_from(clients: list[Client], at: int, deadline: float) -> int:
    """``write`` from ``clients[at]`` until ``deadline`` (``time.monotonic``); where
    it stopped. At least one batch is written, so every call makes progress."""
    end = len(clients)
    while at < end:
        stop = min(at + CHECK_EVERY, end)
        write(clients[at:stop])
        at = stop
        if time.monotonic() >= deadline:
            break
    return at
