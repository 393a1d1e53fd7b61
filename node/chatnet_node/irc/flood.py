"""Flood control: a token bucket per client; lines over the rate wait their turn.

A client may send ``floodBurst`` lines at once, then ``floodRate`` lines a
second. Lines beyond that are not refused: they wait in the client's queue
and run as tokens come back (``release``, from the core's clock). A client
whose queue grows past ``floodMaxQueued`` is flooding: the caller drops it
("Excess Flood").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ..config import Limits
from .model import Client


class FloodControl:
    """The token buckets of one server's clients and the lines they hold back."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits  # replaced on a configuration reload
        self.throttled: set[Client] = set()  # clients with lines waiting

    def admit(self, client: Client, now: float) -> bool:
        """May ``client`` run a line now? False: the line must wait (``hold``)."""
        return not client.delayed and self._take_token(client, now)

    def hold(self, client: Client, line: str) -> bool:
        """Queue a line for later; False when the queue is over its limit (a flood)."""
        if client.delayed is None:
            client.delayed = deque()
        client.delayed.append(line)
        self.throttled.add(client)
        return len(client.delayed) <= self.limits.flood_max_queued

    def release(
        self,
        now: float,
        run: Callable[[Client, str], None],
        free: Callable[[Client, str], bool],
    ) -> None:
        """Run the waiting lines that have tokens again, in order, per client.

        A line ``free`` says is paid for otherwise (a multiline batch's line,
        paid when the batch closes) runs without a token.
        """
        for client in list(self.throttled):
            delayed = client.delayed
            while delayed and not client.closed:
                if not free(client, delayed[0]) and not self._take_token(client, now):
                    break
                run(client, delayed.popleft())
            if not delayed or client.closed:
                client.delayed = None
                self.throttled.discard(client)

    def charge(self, client: Client, lines: int, now: float) -> None:
        """Take tokens for lines that came in together (a multiline batch) after the fact.

        The balance may go below zero: the client's next lines wait until it
        is paid back, so a batch costs what its lines would have.
        """
        self._take_token(client, now)
        client.tokens -= max(0, lines - 1)

    def forget(self, client: Client) -> None:
        """A client left: nothing of it waits any more."""
        self.throttled.discard(client)

    def _take_token(self, client: Client, now: float) -> bool:
        limits = self.limits
        tokens = client.tokens + (now - client.tokens_at) * limits.flood_rate
        client.tokens = min(float(limits.flood_burst), tokens)
        client.tokens_at = now
        if client.tokens >= 1.0:
            client.tokens -= 1.0
            return True
        return False
