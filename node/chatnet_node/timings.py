"""Latency histograms the core, the links and the history stores fill, with no I/O.

The node's parts only count (see ``irc.stats``); ``metrics`` turns what they
counted into Prometheus families on scrape. A ``Histogram`` here is that for
durations: fixed bucket bounds, a count per bucket, a sum and a count. It is
plain Python (no lock, no registry) so that the core can observe on its
command path for the price of one ``bisect`` and three additions; callers
observe once per event-loop turn or batch, never once per recipient.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

__all__ = ["ACK_BUCKETS", "LOOKBACK_BUCKETS", "WRITE_BUCKETS", "Histogram"]

#: Acknowledgement latency (seconds): a link round trip plus a peer's history
#: commit, from well under a millisecond on one host to seconds across regions.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: How far ``CHATHISTORY AFTER msgid`` looked back before its reference
#: (seconds): clock skew (under a second) up to a disruption's whole span,
#: at most the sync window and a minute's replay slack (16 minutes by
#: default; 960 s falls in the 1800 bucket).
LOOKBACK_BUCKETS = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)
#: History write latency (seconds): one SQLite transaction or PostgreSQL batch.
WRITE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class Histogram:
    """Observations of one duration, in buckets with the bounds given.

    Bucket ``i`` counts the observations ``<= bounds[i]`` that are above the
    previous bound (the last one, everything above the top bound), so
    ``cumulative`` gives Prometheus' ``le`` buckets.
    """

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        if not self.bounds:
            raise ValueError("a histogram needs at least one bucket bound")
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        """Count one duration."""
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= it)`` for every bound, then ``inf``."""
        result: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            result.append((bound, running))
        return result
