"""The plain counters behind the latency metrics: histogram buckets and link drop kinds."""

from __future__ import annotations

import math

import pytest

from chatnet_node.history.contract import HistoryStats
from chatnet_node.irc.acks import AckBook, Held
from chatnet_node.links.drops import DROP_REASONS, drop_reason
from chatnet_node.timings import ACK_BUCKETS, Histogram
from tests.corekit import CoreServer


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    histogram = Histogram([0.1, 0.01, 1.0])
    for seconds in (0.01, 0.05, 0.1, 0.5, 7.0):
        histogram.observe(seconds)
    # A value on a bound counts in that bound's bucket (Prometheus' "le").
    assert histogram.cumulative() == [(0.01, 1), (0.1, 3), (1.0, 4), (math.inf, 5)]
    assert histogram.count == 5 and histogram.sum == pytest.approx(7.66)


def test_a_histogram_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="at least one bucket bound"):
        Histogram([])


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Ping timeout: 121 seconds", "ping_timeout"),
        ("peer: server shutting down", "peer_closed"),
        ("SQUIT: maintenance", "squit"),
        ("server shutting down", "shutdown"),
        ("portal removed from the configuration", "config"),
        ("connection lost: no close frame received or sent", "connection"),
        ("Connection closed", "connection"),
        ("Read error: [Errno 104] Connection reset by peer", "connection"),
        ("something new", "other"),
    ],
)
def test_link_drop_reasons_fall_into_few_kinds(reason: str, kind: str) -> None:
    assert drop_reason(reason) == kind
    assert kind in DROP_REASONS


def test_ack_latency_is_the_time_a_hold_waited() -> None:
    now = [100.0]
    book = AckBook(lambda: now[0])
    client = CoreServer("s").connection().client
    book.hold(Held(client, {"m1", "m2"}))
    book.hold(Held(client, {"m3"}))
    now[0] = 100.25
    assert len(book.confirm(["m1", "m3"])) == 1  # m3's hold is complete, m1's waits for m2
    now[0] = 101.0
    assert len(book.confirm(["m2"])) == 1
    assert book.latency.count == 2 and book.latency.sum == pytest.approx(1.25)
    assert dict(book.latency.cumulative())[0.25] == 1 and ACK_BUCKETS[-1] >= 30


def test_history_stats_start_every_kind_at_zero() -> None:
    stats = HistoryStats("sqlite", ("write", "prune"))
    stats.error("write")
    stats.error("read")
    assert stats.errors == {"write": 1, "prune": 0, "read": 1}
