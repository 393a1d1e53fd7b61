"""Figures over time: call a function every interval in a thread and keep what it returns.

The benchmarks that plot a run (``clients10k.py --plot``, ``autoscale.py``)
need the state of a ``chatnet up`` network sampled while the load generator
drives it: each sample is the seconds since the sampler started (when its
measurement finished) and a flat ``{series: value}`` dict. ``status_of``
reads a node's ``/status`` (None when it does not answer in time: a busy
node, or one being replaced).
``Sampler.marks`` are named instants (a phase starting) drawn on the plots.
A ``measure`` that raises costs that sample only: the error is kept in
``Sampler.errors`` and sampling goes on (a run must not lose its figures to
one replica dying mid-answer).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["Sample", "Sampler", "status_of"]

#: (seconds since start, {series: value}).
Sample = tuple[float, dict[str, float]]


def status_of(admin_url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """A node's ``/status`` JSON, or None when it does not answer within ``timeout``."""
    with (
        contextlib.suppress(OSError, ValueError, http.client.HTTPException),
        urllib.request.urlopen(admin_url.rstrip("/") + "/status", timeout=timeout) as resp,
    ):
        document: dict[str, Any] = json.loads(resp.read())
        return document
    return None


class Sampler:
    """Calls ``measure`` every ``interval`` seconds until ``stop`` (a daemon thread)."""

    def __init__(self, measure: Callable[[], dict[str, float]], interval: float = 0.5) -> None:
        self.measure = measure
        self.interval = interval
        self.samples: list[Sample] = []
        self.marks: list[tuple[float, str]] = []
        self.errors: list[str] = []  # what ``measure`` raised, one entry per lost sample
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def now(self) -> float:
        return time.monotonic() - self.started

    def mark(self, label: str) -> None:
        """Remember that ``label`` happened now (a vertical line on the plots)."""
        self.marks.append((self.now(), label))

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                values = self.measure()
            except Exception as exc:  # one lost sample, not the run
                self.errors.append(f"{began - self.started:.1f}s: {exc!r}")
            else:
                # Stamped when the measurement is done: a sample before a mark was
                # taken wholly before it (a slow one may straddle the mark otherwise,
                # its first figures from before and its last from after).
                self.samples.append((time.monotonic() - self.started, values))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples

    def series(self, name: str) -> tuple[list[float], list[float]]:
        """The times and values of one series (samples without it left out)."""
        points = [(t, v[name]) for t, v in self.samples if name in v]
        return [t for t, _ in points], [v for _, v in points]
