"""The link guard's decisions (``links.guard``), with no sockets: rates and replays."""

from __future__ import annotations

from chatnet_node.links.guard import REPLAY_WINDOW, PeerRate, Replays, counter_of


def test_a_link_may_send_its_burst_then_its_rate_and_no_more() -> None:
    rate = PeerRate(rate=10, burst=5)
    assert all(rate.admit(1, "evil", 100.0) for _ in range(5))
    assert not rate.admit(1, "evil", 100.0)
    assert rate.admit(2, "evil", 100.0)  # another link has its own bucket
    assert rate.admit(1, "other", 100.0)  # and so has another origin on the same link
    assert rate.admit(1, "evil", 100.25)  # 0.25 s at 10 a second: two more
    assert rate.admit(1, "evil", 100.25)
    assert not rate.admit(1, "evil", 100.25)
    # Forwarded for a server behind the peer: twice the allowance.
    assert sum(rate.admit(3, "far", 50.0, forwarded=True) for _ in range(20)) == 10
    rate.forget(1)
    assert all(rate.admit(1, "evil", 100.25) for _ in range(5))
    assert all(PeerRate(rate=0, burst=1).admit(1, "x", 0.0) for _ in range(100))  # 0: no limit


def test_ids_are_read_as_prefix_and_counter_only_in_their_servers_shape() -> None:
    assert counter_of("2aabcdefe1f", 42, "e") == ("2aabcdef", 0x1F)
    assert counter_of("2aabcdef1f-000000f", 42) == ("2aabcdef", 0x1F)
    assert counter_of("2aabcdef1f", 42) == ("2aabcdef", 0x1F)  # before msgids had a horizon
    assert counter_of("1aabcdef1f", 42) is None  # another server's ID
    assert counter_of("evil:b1700000000:3", 42, "e") is None  # a burst's id
    assert counter_of("2aabcdef", 42) is None
    assert counter_of("2aabcdefx1", 42, "e") is None


def test_an_id_applied_already_or_older_than_the_window_is_a_replay() -> None:
    replays = Replays()
    assert replays.stale("event", "2aabcdefe5", "evil", 42, "e") is None
    assert replays.stale("event", "2aabcdefe7", "evil", 42, "e") is None  # gaps are fine
    assert replays.stale("event", "2aabcdefe7", "evil", 42, "e") == (
        "replayed event 2aabcdefe7: already applied up to 7 of 2aabcdef"
    )
    assert replays.stale("event", "2aabcdefe5", "evil", 42, "e") is not None
    assert replays.stale("event", "2a123456e1", "evil", 42, "e") is None  # the server restarted
    assert replays.stale("msgid", "2aabcdef5-0000000", "evil", 42) is None  # msgids counted apart
    assert replays.stale("event", "burst-id", "evil", 42, "e") is None  # another shape: not judged
    # Another server saying it has evil's ID moves none of evil's windows.
    assert replays.stale("event", "2aabcdefef", "mallory", 42, "e") is None
    assert replays.stale("event", "2aabcdefe6", "evil", 42, "e") is None


def test_within_the_window_an_origins_ids_may_cross_but_each_counts_once() -> None:
    """While views of a change differ, events are flooded: one origin's events
    may come by two paths, a later one first."""
    replays = Replays()
    assert replays.stale("event", "2aabcdefe7", "evil", 42, "e") is None
    assert replays.stale("event", "2aabcdefe6", "evil", 42, "e") is None  # crossed: still new
    assert replays.stale("event", "2aabcdefe6", "evil", 42, "e") is not None  # but only once
    far = 7 + REPLAY_WINDOW + 1
    assert replays.stale("event", f"2aabcdefe{far:x}", "evil", 42, "e") is None
    assert replays.stale("event", "2aabcdefe8", "evil", 42, "e") == (
        f"replayed event 2aabcdefe8: older than the last {REPLAY_WINDOW} applied, "
        f"up to {far:x} of 2aabcdef"
    )
    assert replays.stale("event", f"2aabcdefe{far - 1:x}", "evil", 42, "e") is None
    # A counter far ahead does not cost memory in proportion.
    assert replays.stale("event", "2aabcdefe" + "f" * 16, "evil", 42, "e") is None
