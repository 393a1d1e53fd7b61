"""MARKREAD (draft/read-marker): markers only move forward, come with JOIN, and follow the user."""

from __future__ import annotations

from tests.corekit import CoreNetwork, CoreServer

CAP = "draft/read-marker"
EARLY = "timestamp=2027-01-15T07:59:00.000Z"  # before the kit's clock (START, 08:00:00)
LATER = "timestamp=2027-01-15T07:59:30.000Z"


def test_get_set_and_only_forward(server: CoreServer) -> None:
    alice = server.user("alice", CAP)
    assert alice.ask("MARKREAD #room") == [":test MARKREAD #room *"]
    assert alice.ask(f"MARKREAD #room {LATER}") == [f":test MARKREAD #room {LATER}"]
    # An older timestamp does not move it back: the answer is the stored one.
    assert alice.ask(f"MARKREAD #room {EARLY}") == [f":test MARKREAD #room {LATER}"]
    assert alice.ask("MARKREAD #ROOM") == [f":test MARKREAD #ROOM {LATER}"]
    assert alice.ask("MARKREAD bob") == [":test MARKREAD bob *"]


def test_markers_never_pass_the_present(server: CoreServer) -> None:
    alice = server.user("alice", CAP)
    (line,) = alice.ask("MARKREAD #room timestamp=2999-01-01T00:00:00.000Z")
    assert line == ":test MARKREAD #room timestamp=2027-01-15T08:00:00.000Z"


def test_join_tells_the_marker_before_the_end_of_names(server: CoreServer) -> None:
    alice = server.user("alice", CAP)
    assert alice.ask("JOIN #room") == [
        ":alice!~alice@127.0.0.1 JOIN #room",
        ":test MARKREAD #room *",
        ":test 353 alice = #room @alice",
        ":test 366 alice #room :End of /NAMES list",
    ]
    plain = server.user("plain")
    assert "MARKREAD" not in " ".join(plain.ask("JOIN #room"))


def test_bad_markread(server: CoreServer) -> None:
    alice = server.user("alice", CAP)
    assert alice.ask("MARKREAD") == [":test FAIL MARKREAD NEED_MORE_PARAMS :Missing parameters"]
    assert alice.ask("MARKREAD #room yesterday") == [
        ":test FAIL MARKREAD INVALID_PARAMS yesterday :Invalid parameters"
    ]
    assert alice.ask("MARKREAD #room timestamp=not-a-time") == [
        ":test FAIL MARKREAD INVALID_PARAMS timestamp=not-a-time :Invalid parameters"
    ]
    assert alice.ask("MARKREAD no,such") == [
        ":test FAIL MARKREAD INVALID_PARAMS no,such :Invalid parameters"
    ]
    assert alice.ask("MARKREAD #room") == [":test MARKREAD #room *"]


def test_a_marker_crosses_two_hops_and_outlives_the_connection() -> None:
    """Read on one leaf, reconnect on the other (a failover): the marker is there."""
    net = CoreNetwork("east", "hub", "west")
    net.link("east", "hub")
    net.link("hub", "west")
    alice = net.user("east", "alice", CAP)
    net.say(alice, f"MARKREAD #room {EARLY}")
    assert alice.lines() == [f":test MARKREAD #room {EARLY}".replace(":test", ":east")]
    net.say(alice, "QUIT :moving")
    again = net.user("west", "alice", CAP)
    assert again.ask("JOIN #room")[1] == f":west MARKREAD #room {EARLY}"
    # A server that links later learns markers from the burst.
    net.cut("hub", "west")
    net.say(again, f"MARKREAD #room {LATER}")
    net.link("hub", "west")
    assert net.servers["east"].core.read_markers.get("alice", "#room") == LATER
