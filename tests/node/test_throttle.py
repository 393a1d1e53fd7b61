"""The connection throttle's and the cost budgets' pure cores, without sockets."""

from __future__ import annotations

import re
import time

import pytest

from chatnet_node.config import ConfigError, Limits, Throttle, parse_config
from chatnet_node.irc import costs
from chatnet_node.irc.model import NULL_SINK, Client
from chatnet_node.irc.throttle import MAX_SHARED, ConnectionThrottle
from tests.corekit import CoreNetwork


def make(**settings: object) -> ConnectionThrottle:
    return ConnectionThrottle(Throttle.model_validate({"exempt": [], **settings}))


@pytest.mark.parametrize(
    ("address", "block"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::99", "2001:db8:1:2::/64"),
        ("unknown", None),
    ],
)
def test_addresses_are_counted_by_block(address: str, block: str | None) -> None:
    assert make().block(address) == block


def test_block_widths_and_exemptions_are_configurable() -> None:
    wide = make(ipv4Prefix=24, ipv6Prefix=48)
    assert wide.block("203.0.113.7") == "203.0.113.0/24"
    assert wide.block("2001:db8:1:2::1") == "2001:db8:1::/48"
    default = ConnectionThrottle(Throttle())
    assert default.block("127.0.0.1") is None
    assert default.block("::1") is None
    assert ConnectionThrottle(Throttle(enabled=False)).block("203.0.113.7") is None


def test_a_wrong_exempt_block_is_named() -> None:
    with pytest.raises(ConfigError, match=re.escape("'10.0.0.0/33' is not an address block")):
        parse_config({"name": "a", "limits": {"throttle": {"exempt": ["10.0.0.0/33"]}}})


def test_open_connections_and_attempts_are_limited() -> None:
    throttle = make(maxConnections=2, maxAttempts=4, windowSeconds=10, maxUnregistered=5)
    block = throttle.block("198.51.100.1")
    for _ in range(2):
        assert throttle.admit(block, 0.0) is None
        throttle.opened(block)
    assert "too many connections from 198.51.100.1 (2 open" in str(throttle.admit(block, 1.0))
    throttle.closed(block, registered=False)
    assert throttle.admit(block, 2.0) is None  # the fourth attempt
    assert "try again in 8s" in str(throttle.admit(block, 2.0))  # the first expires at 10
    assert throttle.admit(block, 13.0) is None  # the window moved on


def test_unregistered_connections_are_bounded() -> None:
    throttle = make(maxUnregistered=2)
    block = throttle.block("198.51.100.1")
    for _ in range(2):
        throttle.opened(block)
    assert "too many unregistered connections" in str(throttle.admit(block, 0.0))
    throttle.registered(block)
    assert throttle.admit(block, 0.0) is None


def test_counts_shared_by_other_servers_are_added_then_forgotten() -> None:
    here, there = make(maxConnections=3), make(maxConnections=3)
    block = "198.51.100.1"
    for _ in range(2):
        there.opened(there.block(block))
    snapshot = there.snapshot(100.0)
    assert snapshot is not None
    seq, entries = snapshot
    assert entries == [(block, 2, 0)]
    assert here.learn("there", seq, entries, 100.0)
    assert not here.learn("there", seq, entries, 100.0)  # the same message by another path
    here.opened(block)
    assert "3 open across the network" in str(here.admit(block, 100.0))
    here.forget({"there"})
    assert here.admit(block, 100.0) is None


def test_silent_servers_expire_and_snapshots_stay_small() -> None:
    throttle = make(shareInterval=1.0)
    throttle.learn("gone", 1, [("198.51.100.1", 5, 0)], 0.0)
    assert throttle.snapshot(0.0) is None  # nothing to say, and nothing said before
    throttle.snapshot(10.0)
    assert "gone" not in throttle.remote
    for i in range(MAX_SHARED + 50):
        throttle.opened(f"10.0.{i // 256}.{i % 256}")
    snapshot = throttle.snapshot(11.0)
    assert snapshot is not None and len(snapshot[1]) == MAX_SHARED


def test_budgets_refuse_once_spent_and_refill() -> None:
    limits = Limits(history_rows_burst=10, history_rows_per_second=2.0)
    client = Client(sink=NULL_SINK, address="198.51.100.1", connected_at=0.0)
    assert costs.wait(client, limits, "history", 1, 0.0) == 0.0
    costs.charge(client, limits, "history", 30, 0.0)  # one big answer: 20 in debt
    assert costs.wait(client, limits, "history", 1, 0.0) == pytest.approx(10.5)
    assert costs.wait(client, limits, "history", 1, 10.5) == 0.0
    assert costs.refusal("history", 10.2) == (
        "Too many history rows (historyRowsBurst, historyRowsPerSecond): try again in 11s"
    )


def test_counts_travel_the_whole_network_and_leave_with_a_split() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("b", "c")
    block = "198.51.100.9"
    for _ in range(3):
        net.cores["a"].throttle.opened(block)
    now = time.time()
    net.managers["a"].share_counts(now)
    net.settle()
    assert net.cores["c"].throttle.remote["a"].counts == {block: (3, 0)}  # two hops away
    net.managers["a"].share_counts(now + 0.1)  # not due yet: nothing sent
    assert not net.wire
    net.cut("b", "c")
    assert "a" not in net.cores["c"].throttle.remote
