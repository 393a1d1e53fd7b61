"""The share of the log one link peer's refused messages may take (``links.loglimit``)."""

from __future__ import annotations

from chatnet_node.links.loglimit import LogLimit


def test_a_few_warnings_a_window_are_written_and_the_rest_counted() -> None:
    limit = LogLimit(per_window=3, window=10.0)
    written = [limit.admit("evil", 100.0 + n * 0.01) for n in range(8)]
    assert written == [(True, 0)] * 3 + [(False, 0)] * 5
    assert limit.admit("good", 100.1) == (True, 0), "each peer has its own share"
    # The next window: written again, and the five held back are said first.
    assert limit.admit("evil", 110.0) == (True, 5)
    assert limit.admit("evil", 110.1) == (True, 0)


def test_what_was_held_back_is_said_when_the_link_goes() -> None:
    limit = LogLimit(per_window=1, window=10.0)
    limit.admit("evil", 0.0)
    limit.admit("evil", 1.0)
    limit.admit("evil", 2.0)
    assert limit.forget("evil") == 2
    assert limit.forget("evil") == 0
    assert limit.admit("evil", 3.0) == (True, 0), "a new link starts a new window"
