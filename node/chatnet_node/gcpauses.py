"""How long CPython's garbage collector stopped this process, by generation.

A collection runs on the event loop's thread, between two bytecodes of
whatever was running: every client waits while it scans. With 10,000
clients a full collection takes tens of milliseconds, and that is a
latency an operator should see next to the server's own, not guess at.
``GcPauses`` times each collection from ``gc.callbacks`` into a
``timings.Histogram`` per generation, which ``metrics`` exports as
``chatnet_gc_pause_seconds``.

The collector is the process's, so the timer is too: ``process_pauses``
installs one the first time it is asked and hands the same one to every
node of the process (tests run several).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from .timings import Histogram

__all__ = ["GC_BUCKETS", "GcPauses", "process_pauses"]

#: Collection pauses (seconds): a young generation's tens of microseconds
#: up to a full collection of a large heap.
GC_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class GcPauses:
    """Each collection's duration, by generation (0, 1, 2)."""

    __slots__ = ("_started", "by_generation")

    def __init__(self) -> None:
        self.by_generation = tuple(Histogram(GC_BUCKETS) for _ in range(3))
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        """The ``gc.callbacks`` hook: ``start`` and ``stop`` of each collection."""
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self.by_generation[info["generation"]].observe(time.perf_counter() - self._started)
            self._started = 0.0


_PROCESS: GcPauses | None = None


def process_pauses() -> GcPauses:
    """The process's collection timer, installed in ``gc.callbacks`` once."""
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = GcPauses()
        gc.callbacks.append(_PROCESS)
    return _PROCESS
