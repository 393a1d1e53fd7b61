"""The ids a server hands out (``irc.ids.Ids``): the hybrid logical clock behind every
``time`` tag, on a fake clock, and uids unique across restarts."""

from __future__ import annotations

import logging

import pytest

from chatnet_node.irc.ids import MAX_AHEAD, Ids, horizon_in, horizon_of
from chatnet_node.irc.servertime import format_time, parse_time


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stamped(ids: Ids) -> float:
    ts = parse_time(ids.stamp()["time"])
    assert ts is not None
    return ts


def test_stamps_follow_the_wall_clock_when_nothing_later_was_seen() -> None:
    clock = Clock(1000.0)
    ids = Ids(1, clock)
    assert stamped(ids) == 1000.0
    clock.now = 1000.25
    assert stamped(ids) == 1000.25


def test_a_message_seen_from_a_clock_ahead_pulls_later_stamps_past_it() -> None:
    clock = Clock(1000.0)
    ids = Ids(1, clock)
    ids.time_of({"time": format_time(1005.0), "msgid": "2abcdef1"})
    first, second = stamped(ids), stamped(ids)
    assert first == second == 1005.001  # strictly after what was seen
    clock.now = 1010.0  # the wall clock overtakes it: back to the wall clock
    assert stamped(ids) == 1010.0


def test_the_clock_never_goes_back_when_the_wall_clock_does() -> None:
    clock = Clock(1000.0)
    ids = Ids(1, clock)
    stamped(ids)
    clock.now = 990.0  # NTP stepped the clock back
    assert stamped(ids) == 1000.0


def test_a_stamp_far_in_the_future_is_followed_only_up_to_max_ahead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(1000.0)
    ids = Ids(1, clock)
    with caplog.at_level(logging.WARNING, logger="chatnet.ids"):
        ids.time_of({"time": format_time(1000.0 + 86400), "msgid": "2abcdef1"})
    assert stamped(ids) == 1000.0 + MAX_AHEAD
    assert "ahead of this server's clock" in caplog.text


def test_the_time_of_a_message_stamped_here_is_not_parsed_again() -> None:
    ids = Ids(1, Clock(1000.0))
    tags = ids.stamp()
    assert ids.time_of(tags) == 1000.0
    assert stamped(ids) == 1000.0  # its own stamp does not push the clock


def test_a_msgid_carries_the_horizon_the_servers_heard_up_to() -> None:
    clock = Clock(1000.0)
    ids = Ids(1, clock)
    alone = ids.stamp()
    assert horizon_of(alone["msgid"], 1000.0) == 1000.0  # nobody else: nothing to look back to
    ids.hear("b", 999.2)
    ids.hear("c", 999.75)
    ids.hear("b", 998.0)  # older than what b said already: no change
    clock.now = 1000.5
    tags = ids.stamp()
    assert tags["msgid"].endswith(f"-{999200:011x}")  # the horizon itself, in ms
    assert horizon_of(tags["msgid"], 1000.5) == 999.2
    assert horizon_in(tags["msgid"]) == 999.2  # without the stamp too
    ids.forget({"b"})  # b split off: c alone holds the horizon back
    assert horizon_of(ids.stamp()["msgid"], 1000.5) == 999.75
    # The suffix has a fixed width: msgids of one server still sort by counter.
    ordered = [ids.stamp()["msgid"] for _ in range(40)]
    assert sorted(ordered, key=lambda m: (len(m), m)) == ordered
    assert horizon_of("someone-elses-id", 5.0) == 5.0
    assert horizon_in("someone-elses-id") is None
    # An earlier release's msgid: the horizon as milliseconds before its stamp.
    assert horizon_of("1abcdef12-0000514", 1000.5) == 999.2
    assert horizon_in("1abcdef12-0000514") is None


def test_a_restarted_server_never_hands_out_a_uid_of_its_previous_start() -> None:
    before, after = Ids(12, Clock(1000.0)), Ids(12, Clock(1001.0))
    first = {before.uid() for _ in range(100)}
    again = {after.uid() for _ in range(100)}
    assert not first & again, "the network may still hold the old start's users"
    assert all(uid.startswith("12u") for uid in first | again)  # whose it is, as before
