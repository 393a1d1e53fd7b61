"""Disruptions: how far back ``CHATHISTORY AFTER`` looks for a reference stamped
while the network was split, and a reader who moves to another server after
a split heals gets what its first server had not delivered."""

from __future__ import annotations

import pytest

from chatnet_node.irc.disruptions import Disruptions, Span
from chatnet_node.irc.servertime import format_time, parse_time
from chatnet_node.links.manager import LinkManager
from tests.corekit import CoreNetwork, CoreServer, CoreUser

CAPS = "batch server-time message-tags echo-message draft/chathistory"


def test_no_disruption_no_lookback() -> None:
    assert Disruptions(settle=30, keep=900).lookback(1000.0) is None


def test_a_lost_link_looks_back_one_ping_timeout_until_it_settles() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.lost(1000.0, unnoticed=120, servers=set())  # a ring rerouted: nobody cut off
    assert seen.lookback(999.0) == 880.0  # stamped while the dead link was unnoticed
    assert seen.lookback(1029.0) == 880.0
    assert seen.lookback(870.0) is None  # before the link could have died
    assert seen.lookback(1031.0) is None  # settled


def test_a_split_stays_open_until_the_server_is_back_then_settles() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.lost(1000.0, unnoticed=4, servers={"leaf"})
    assert seen.lookback(1500.0) == 996.0  # still split
    seen.returned(1600.0, {"leaf"})
    assert seen.lookback(1620.0) == 996.0  # its catch-up lands now
    assert seen.lookback(1631.0) is None
    seen.lost(1700.0, unnoticed=4, servers={"hub"})  # a new one
    assert seen.lookback(1710.0) == 1696.0


def test_changes_during_a_disruption_extend_it_and_keep_its_start() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.lost(1000.0, unnoticed=4, servers={"a"})
    seen.lost(1020.0, unnoticed=4, servers={"b"})
    seen.returned(1040.0, {"a"})
    assert seen.lookback(1050.0) == 996.0  # b is still away
    seen.returned(1060.0, {"b"})
    assert seen.lookback(1089.0) == 996.0
    assert seen.lookback(1091.0) is None


def test_a_server_that_never_returns_holds_it_open_for_the_sync_window_only() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.lost(1000.0, unnoticed=4, servers={"gone"})
    assert seen.lookback(1800.0) == 996.0
    assert seen.lookback(1950.0) is None  # past the sync window: nothing is caught up later
    seen.lost(3000.0, unnoticed=4, servers=set())
    assert len(seen.recent) == 1  # the old one is forgotten


def test_a_server_back_after_its_disruption_ended_opens_one_back_to_its_loss() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.lost(1000.0, unnoticed=4, servers={"far"})
    assert seen.lookback(1950.0) is None  # missing past the sync window: closed
    seen.returned(2500.0, {"far"})  # its catch-up brings the last 900 s
    assert seen.lookback(2500.0) == 1600.0
    assert seen.lookback(2531.0) is None


def test_a_server_that_joins_for_the_first_time_brings_nothing_late() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.returned(1000.0, {"new"})
    assert seen.lookback(1000.0) is None


def test_the_lookback_is_never_longer_than_the_sync_window() -> None:
    seen = Disruptions(settle=30, keep=100)
    seen.lost(1000.0, unnoticed=4, servers={"gone"})
    assert seen.lookback(1090.0) == 996.0
    seen.lost(1095.0, unnoticed=4, servers={"other"})
    assert seen.lookback(1190.0) == 1090.0


def exchange_clocks(net: CoreNetwork, seconds: float) -> None:
    """``seconds`` pass, and every server sends its clock (as twice a second, live)."""
    for name, server in net.servers.items():
        server.tick(seconds)
        net.managers[name].send_clock(server.clock.now)
    net.settle()


def texts_of(user: CoreUser, request: str) -> list[str]:
    return [line.rsplit(" :", 1)[1] for line in user.ask(request) if " PRIVMSG " in line]


def tag(line: str, name: str) -> str:
    """A message tag's value in a raw line (``msgid``, ``time``)."""
    return line.split(f"{name}=", 1)[1].split(";", 1)[0].split(" ", 1)[0]


@pytest.mark.parametrize("x_ahead", [0, 45], ids=["same-clocks", "x-45s-ahead"])
def test_a_reader_who_moves_after_a_split_heals_gets_what_its_server_lacked(
    x_ahead: float,
) -> None:
    """a -- y -- x. While x is cut off, carol on a says a line: y stores it.
    Then xavier on x says one: x's reader sees it live and goes. The split
    heals: y stores xavier's line after carol's, and x gets carol's by a
    catch-up after the reader left. The reader comes back on y and asks
    AFTER xavier's line: carol's is in the answer, although y stored it
    first and its stamp is older. With x's clock 45 s ahead, every stamp
    follows it (the hybrid clock), and so do the disruptions' times."""
    net = CoreNetwork("a", "y", "x")
    net.servers["x"].clock.now += x_ahead
    net.link("a", "y")
    net.link("y", "x")
    carol = net.user("a", "carol", CAPS)
    xavier = net.user("x", "xavier", CAPS)
    reader = net.user("x", "reader", CAPS)
    for user in (carol, xavier, reader):
        net.say(user, "JOIN #room")
    exchange_clocks(net, 1.0)
    reader.lines()

    net.cut("y", "x")
    for name in ("a", "y", "x"):
        net.servers[name].clock.now += 2
    net.say(carol, "PRIVMSG #room :said on a while x was cut off")
    net.servers["x"].clock.now += 1  # x's line is stamped after carol's
    net.say(xavier, "PRIVMSG #room :said on x during the split")
    (seen,) = [line for line in reader.lines() if " PRIVMSG " in line]
    last = tag(seen, "msgid")
    reader.client.closed = True  # gone before the heal

    net.link("y", "x")
    back = net.user("y", "back", CAPS)
    net.say(back, "JOIN #room")
    back.lines()
    stats = net.servers["y"].core.stats
    looked = stats.lookback.count
    texts = texts_of(back, f"CHATHISTORY AFTER #room msgid={last} 50")
    assert "said on a while x was cut off" in texts
    assert "said on x during the split" not in texts  # the reference itself
    # What an operator sees (chatnet_history_lookback_*): one look back over a disruption.
    assert stats.lookback.count == looked + 1
    assert stats.lookback_disrupted == 1
    assert stats.lookback.sum >= 1.0  # at least back to carol's line, a second earlier


def test_without_a_disruption_after_looks_back_only_to_the_horizon() -> None:
    net = CoreNetwork("a", "y")
    net.link("a", "y")
    carol = net.user("a", "carol", CAPS)
    back = net.user("y", "back", CAPS)
    net.say(carol, "JOIN #room")
    net.say(back, "JOIN #room")
    for name in ("a", "y"):
        net.servers[name].clock.now += 60
        net.servers[name].tick()
    net.settle()
    net.say(carol, "PRIVMSG #room :line one", "PRIVMSG #room :line two")
    for name in ("a", "y"):
        net.servers[name].clock.now += 60
        net.servers[name].tick()
    net.settle()
    net.say(carol, "PRIVMSG #room :line three")
    back.lines()
    (last,) = [t for t in texts_of(back, "CHATHISTORY LATEST #room * 1")]
    assert last == "line three"
    lines = back.ask("CHATHISTORY LATEST #room * 2")
    two = next(line for line in lines if line.endswith(":line two"))
    ref = tag(two, "msgid")
    assert texts_of(back, f"CHATHISTORY AFTER #room msgid={ref} 50") == ["line three"]
    stats = net.servers["y"].core.stats
    assert stats.lookback.count == 1 and stats.lookback_disrupted == 0
    assert dict(stats.lookback.cumulative())[0.5] == 1, "only the msgid's horizon"


def test_a_server_that_was_frozen_looks_back_to_when_its_link_went_silent() -> None:
    """x was frozen 300 s (far past the ping timeout): when it wakes its link is
    gone, and what the network said meanwhile may reach it late."""
    net = CoreNetwork("y", "x")
    net.link("y", "x")
    x = net.servers["x"]
    _, at_x = net.links[frozenset(("y", "x"))]
    at_x.silent = 300.0
    x.clock.now += 300
    net.cut("y", "x")
    now = x.core.ids.now_ms() / 1000
    lookback = x.core.disruptions.lookback(now - 1)
    assert lookback is not None and lookback <= now - 300


def test_a_restarted_server_looks_back_over_the_window_it_missed() -> None:
    net = CoreNetwork("y")
    y = net.servers["y"]
    now = y.core.ids.now_ms() / 1000
    lookback = y.core.disruptions.lookback(now)
    keep = y.core.disruptions.keep
    assert lookback is not None and lookback <= now - keep
    assert keep == y.config.links.sync_window + 60, "the sync window and the replay slack"


def test_a_restarted_server_takes_its_neighbours_disruptions_and_assumes_no_more() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.started(10_000)
    assert seen.lookback(9_950) == 9_100, "before anyone tells it: the whole window"
    assert seen.spans(10_000) == [], "what it does not know is not passed on"
    assert seen.unknown(10_000) == (9_100, 10_000)
    assert seen.heard(10_001, [Span(9_900, 9_990)], {}, informed=True, reachable=set())
    assert seen.unknown(10_001) is None
    assert seen.lookback(9_950) == 9_900, "its own loss, as the neighbour saw it"
    assert seen.lookback(9_500) is None
    assert seen.lookback(10_010) is None


def test_status_says_whether_a_server_is_informed_and_how_far_it_looks_back() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.started(10_000)
    assert seen.report(10_010) == {
        "informed": False,
        "known": 0,
        "lostServers": [],
        "lookBackSeconds": 900.0,
    }
    seen.heard(10_020, [Span(9_990, 10_030)], {"x": 9_995}, True, set())
    assert seen.report(10_020) == {
        "informed": True,
        "known": 1,
        "lostServers": ["x"],
        "lookBackSeconds": 30.0,
    }


def test_a_neighbour_that_is_not_informed_passes_on_what_it_saw_and_the_assumption_stays() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.started(10_000)
    # It started at 9,700, and nobody informed has told it yet.
    assert not seen.heard(10_001, [Span(9_800, 9_850)], {}, informed=False, reachable=set())
    assert seen.lookback(9_600) == 9_100
    seen.linked(10_020, "x")  # its link-ups while it is not informed bring catch-ups too
    assert seen.lookback(10_040) == 10_040 - 900
    assert seen.heard(10_050, [], {}, informed=True, reachable=set())
    assert seen.lookback(9_600) is None
    assert seen.lookback(9_820) == 9_800, "what the first neighbour saw is kept"


def test_a_server_that_has_run_for_the_whole_window_is_informed() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.started(10_000)
    assert not seen.informed(11_000), "alone, it sees nothing of the network"
    seen.linked(11_000, "x")
    assert not seen.informed(11_899)
    assert seen.informed(11_900) and seen.unknown(11_900) is None
    seen.linked(11_950, "x")
    assert seen.lookback(11_960) is None, "no longer assuming on its link-ups"
    alone = Disruptions(settle=30, keep=900)
    alone.started(10_000)
    alone.linked(10_010, "x")
    alone.unlinked(10_020)  # its only link went: it counts again from its next link-up
    assert not alone.informed(11_000)
    alone.linked(11_000, "x")
    assert alone.lookback(11_010) == 11_010 - 900, "its link-up then still brings catch-ups"


def test_a_server_lost_long_ago_is_not_passed_on() -> None:
    seen = Disruptions(settle=30, keep=900)
    day = 24 * 3600
    seen.heard(2 * day, [], {"retired": 10.0, "away": 2 * day - 3600}, True, set())
    assert "retired" not in seen.lost_since and "away" in seen.lost_since
    seen.returned(2 * day + 10, {"retired"})
    assert seen.lookback(2 * day + 5) is None, "a new server of that name brings nothing late"
    seen.returned(2 * day + 20, {"away"})
    assert seen.lookback(2 * day + 15) == 2 * day + 20 - 900


def test_a_told_disruption_stays_open_while_its_server_is_missing_here_too() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.heard(5_000, [Span(4_990, 5_030, {"x": 4_995})], {}, informed=True, reachable=set())
    assert seen.lookback(5_500) == 4_990
    seen.returned(5_600, {"x"})
    assert seen.lookback(5_620) == 4_990
    assert seen.lookback(5_700) is None
    already = Disruptions(settle=30, keep=900)
    already.heard(5_000, [Span(4_990, 5_030, {"x": 4_995})], {}, informed=True, reachable={"x"})
    assert already.lookback(5_020) == 4_990
    assert already.lookback(5_100) is None, "x is reachable here: it settles at once"


def test_a_server_missing_longer_than_the_window_is_not_told_as_holding_one_open() -> None:
    teller = Disruptions(settle=30, keep=900)
    teller.lost(1_000, 10, {"z"})
    assert teller.spans(1_500)[0].missing == {"z": 1_000}
    (late,) = teller.spans(1_950)  # z has been away 950 s: it holds nothing open any more
    assert late.missing == {}
    hearer = Disruptions(settle=30, keep=900)
    hearer.heard(1_950, [Span(990, 1_030, {"z": 1_000})], {}, informed=True, reachable={"z"})
    assert hearer.lookback(1_940) is None, "z coming back long after does not reopen it"


def test_told_disruptions_are_bounded_and_merged() -> None:
    seen = Disruptions(settle=30, keep=900)
    crowd = {f"s{n}": 4_000.0 + n for n in range(100)}
    seen.heard(4_200, [Span(4_000, 4_030, crowd), Span(4_010, 4_040)], {}, True, set())
    (merged,) = seen.spans(4_200)
    assert merged.start == 4_000 and merged.end == 4_040
    assert len(merged.missing) == 64 and "s99" in merged.missing and "s0" not in merged.missing
    many = [Span(5_000 + 100 * n, 5_010 + 100 * n) for n in range(120)]
    seen.heard(17_000, many, {}, True, set())
    assert len(seen.spans(17_000)) <= 64


def test_a_neighbour_cannot_stretch_a_disruption_past_the_window() -> None:
    seen = Disruptions(settle=30, keep=900)
    spans = [Span(4_000, 50_000), Span(4_500, 4_400), Span(4_000, 4_100)]
    seen.heard(5_000, spans, {}, True, set())
    assert seen.spans(5_000) == [Span(4_000, 4_100)]
    assert seen.lookback(4_050) == 4_000


def test_a_disruption_under_way_for_long_is_kept_from_twice_the_window() -> None:
    teller = Disruptions(settle=30, keep=960)
    for k in range(120):  # a link flapping every 20 s for 40 minutes: one disruption
        teller.lost(1_000 + 20 * k, 4, set())
    now = 1_000 + 20 * 119
    hearer = Disruptions(settle=30, keep=960)
    hearer.started(now)
    assert hearer.heard(now, teller.spans(now), {}, True, set())
    assert hearer.lookback(now - 100) == now - 100 - 960


def test_every_server_back_settles_a_told_disruption() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.heard(5_000, [Span(4_990, 5_030, {"a": 4_995, "b": 4_996})], {}, True, {"a", "b"})
    assert seen.spans(5_000)[0].missing == {}
    assert seen.lookback(5_100) is None


def restart(net: CoreNetwork, name: str, at: float) -> None:
    """``name`` starts again at ``at``: a new process, its history and memory gone."""
    old = net.servers[name]
    others = [other for other in net.servers if other != name]
    server = CoreServer(name, serverId=old.config.server_id, network="t", links={"accept": others})
    server.clock.now = at
    net.servers[name] = server
    net.managers[name] = LinkManager(server.core)


def test_a_restarted_server_looks_back_only_over_its_own_loss() -> None:
    """a has run longer than the window; y is killed and starts again 5 s
    later. Once linked, y looks back over its loss as a saw it, not over
    the fifteen minutes before its start."""
    net = CoreNetwork("a", "y")
    net.link("a", "y")
    exchange_clocks(net, 1000.0)  # a's own start is past the window now
    a = net.servers["a"]
    lost_at = a.core.ids.now_ms() / 1000
    net.cut("a", "y")
    exchange_clocks(net, 5.0)
    restart(net, "y", a.clock.now)
    y = net.servers["y"].core.disruptions
    assert y.lookback(lost_at - 60) is not None, "alone, it assumes the window"
    net.link("a", "y")
    assert y.lookback(lost_at - 60) is None
    lookback = y.lookback(lost_at + 1)
    assert lookback is not None and lost_at - 5 <= lookback <= lost_at


def test_a_leaf_that_linked_to_a_restarted_hub_first_is_told_once_the_hub_is() -> None:
    """s has run longer than the window and saw a split (s -- x). The hub a and
    the leaf y restart; y links to a before a links to s: a knows nothing yet,
    so y keeps assuming. Once s tells a, a tells y, and y looks back over the
    split exactly."""
    net = CoreNetwork("s", "x", "a", "y")
    net.link("s", "x")
    exchange_clocks(net, 1000.0)
    s = net.servers["s"]
    split_at = s.core.ids.now_ms() / 1000
    net.cut("s", "x")
    exchange_clocks(net, 5.0)
    net.link("s", "x")
    exchange_clocks(net, 5.0)
    restart(net, "a", s.clock.now)
    restart(net, "y", s.clock.now)
    y = net.servers["y"].core.disruptions
    net.link("a", "y")
    assumed = y.lookback(split_at + 1)
    assert assumed is not None and assumed < split_at - 60, "still assuming the window"
    net.link("s", "a")
    lookback = y.lookback(split_at + 1)
    assert lookback is not None and split_at - 5 <= lookback <= split_at
    assert y.lookback(split_at - 60) is None


def test_a_server_restarted_during_a_split_longer_than_the_window_covers_its_heal() -> None:
    """x -- n -- y. x is cut off from n for longer than the window. Carol on n
    says M, then xavier on x says R, which a reader on x sees before it goes.
    y restarts (history gone) and links to n, which tells it x is lost. When
    the split heals, y (which never saw x go) looks back over the window for
    R, and the reader, back on y, gets M. (Found by a review: before, n's
    list held nothing open for x any more, and y opened nothing at the heal.)"""
    net = CoreNetwork("x", "n", "y")
    net.link("x", "n")
    net.link("n", "y")
    exchange_clocks(net, 1000.0)
    net.cut("x", "n")
    exchange_clocks(net, 800.0)
    carol = net.user("n", "carol", CAPS)
    xavier = net.user("x", "xavier", CAPS)
    reader = net.user("x", "reader", CAPS)
    for user in (carol, xavier, reader):
        net.say(user, "JOIN #room")
    reader.lines()
    net.say(carol, "PRIVMSG #room :said on n during the long split")
    exchange_clocks(net, 5.0)
    net.say(xavier, "PRIVMSG #room :said on x during the long split")
    (seen,) = [line for line in reader.lines() if " PRIVMSG " in line]
    ref = tag(seen, "msgid")
    reader.client.closed = True
    exchange_clocks(net, 185.0)  # the split is older than the window now
    net.cut("n", "y")
    exchange_clocks(net, 60.0)
    restart(net, "y", net.servers["n"].clock.now)
    net.link("n", "y")
    assert net.servers["y"].core.disruptions.informed(net.servers["y"].clock.now)
    exchange_clocks(net, 50.0)
    net.link("x", "n")
    exchange_clocks(net, 1.0)
    back = net.user("y", "back", CAPS)
    net.say(back, "JOIN #room")
    back.lines()
    assert "said on n during the long split" in texts_of(
        back, f"CHATHISTORY AFTER #room msgid={ref} 50"
    )


def test_linked_for_the_whole_window_a_server_drops_its_assumption_once() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.started(10_000)
    seen.linked(10_001, "x")
    assert not seen.settle_assumption(10_500), "linked for less than the window"
    assert seen.lookback(10_020) is not None, "it still assumes"
    assert seen.settle_assumption(10_902)
    assert seen.lookback(10_020) is None, "nothing it saw reaches back there"
    assert not seen.settle_assumption(10_903), "once"


def test_a_server_informed_by_time_tells_a_neighbour_that_restarted_meanwhile() -> None:
    """a and y start together, so neither can inform the other. y restarts
    halfway through the window and is told by a only that a does not know:
    y assumes. Once a has been linked for the whole window it is informed,
    and tells y, which stops looking back over a window it missed, half a
    window before it would have known by itself."""
    net = CoreNetwork("a", "y")
    net.link("a", "y")
    a = net.servers["a"]
    exchange_clocks(net, 450.0)
    restart(net, "y", a.clock.now)
    net.link("a", "y")
    y = net.servers["y"].core.disruptions
    before = a.core.ids.now_ms() / 1000 - 60
    assert y.lookback(before) is not None, "told by a that knows nothing: y assumes"
    exchange_clocks(net, 400.0)
    assert y.lookback(before) is not None
    exchange_clocks(net, 200.0)  # a: linked for the whole window
    assert net.servers["a"].core.disruptions.informed(a.clock.now)
    assert y.lookback(before) is None, "a told y once it knew"
    assert y.informed(net.servers["y"].clock.now)


def test_a_server_seen_going_does_not_stretch_the_start_assumption_when_it_is_back() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.started(10_000)
    seen.linked(10_001, "y")  # the network starts: y's catch-up is one of the start's
    seen.lost(10_300, unnoticed=4, servers={"y"})  # y killed, seen going
    seen.linked(10_310, "y")  # y back
    seen.returned(10_310, {"y"})
    assert seen.lookback(10_320) == 10_296, "back to y's loss, not over the whole window"
    assert seen.lookback(10_100) is None, "the start's assumption ended with its link-ups"
    seen.linked(10_400, "z")  # a server it never saw: away since before its start?
    assert seen.lookback(10_410) == 10_410 - 900


def test_a_kill_while_the_network_is_young_looks_back_only_over_the_kill() -> None:
    """a and y start together, so neither is informed for a window. y is
    killed and back five seconds later: on a, a reference stamped as y went
    looks back over y's loss, not to before the network started."""
    net = CoreNetwork("a", "y")
    net.link("a", "y")
    a = net.servers["a"]
    exchange_clocks(net, 300.0)
    lost_at = a.core.ids.now_ms() / 1000
    net.cut("a", "y")
    exchange_clocks(net, 5.0)
    restart(net, "y", a.clock.now)
    net.link("a", "y")
    seen = a.core.disruptions
    assert not seen.informed(a.clock.now)
    lookback = seen.lookback(lost_at)
    assert lookback is not None and lost_at - 10 <= lookback <= lost_at, lookback


def test_lines_caught_up_late_pull_the_disruption_under_way_back_to_their_stamps() -> None:
    seen = Disruptions(settle=30, keep=900)
    seen.lost(10_000, unnoticed=4, servers={"p"})
    seen.late(10_060, oldest=9_900)  # a server never seen going brought older lines
    assert seen.lookback(10_100) == 9_900
    seen.late(10_070, oldest=8_000)
    assert seen.recent[0].start == 10_070 - 900, "never past the window"
    calm = Disruptions(settle=30, keep=900)
    calm.late(10_060, oldest=9_900)
    assert calm.lookback(10_060) is None, "no split: every server sees them in one order"


def _young_split_with_q_behind_p(net: CoreNetwork, lines_on_q: int) -> list[CoreUser]:
    """s -- p from the start, q alone (never seen going by anyone); q says
    lines; then s and p are cut (each sees the other go) and q links to p,
    which catches them up: they reach p's side of the split, stamped before it."""
    net.link("s", "p")
    qian, sam, reader = (
        net.user(at, nick, CAPS) for at, nick in (("q", "qian"), ("s", "sam"), ("s", "reader"))
    )
    for user in (qian, sam, reader):
        net.say(user, "JOIN #room")
    exchange_clocks(net, 120.0)  # the start's link-ups are long settled
    for n in range(lines_on_q):
        net.say(qian, f"PRIVMSG #room :M{n} said on q, alone")
        exchange_clocks(net, 1.0)
    exchange_clocks(net, 5.0)
    net.cut("s", "p")
    exchange_clocks(net, 5.0)
    net.link("p", "q")
    return [qian, sam, reader]


def test_a_reader_back_on_the_side_that_caught_up_older_lines_gets_them() -> None:
    """A minute after q's line reached p, sam on s says R and the reader on
    s sees it, then goes. The split heals; the reader, back on p, asks AFTER
    R: q's line, stamped before R and stored on p before it, is in the answer."""
    net = CoreNetwork("s", "p", "q")
    _, sam, reader = _young_split_with_q_behind_p(net, lines_on_q=1)
    exchange_clocks(net, 60.0)
    net.say(sam, "PRIVMSG #room :R said on s")
    got = reader.lines()
    assert not any("M0 said" in line for line in got)
    (seen,) = [line for line in got if line.endswith(":R said on s")]
    reader.client.closed = True
    exchange_clocks(net, 5.0)
    net.link("s", "p")
    exchange_clocks(net, 1.0)
    p = net.servers["p"]
    assert not p.core.disruptions.informed(p.clock.now), "still a young network"
    back = net.user("p", "back", CAPS)
    net.say(back, "JOIN #room")
    back.lines()
    after = texts_of(back, f"CHATHISTORY AFTER #room msgid={tag(seen, 'msgid')} 50")
    assert "M0 said on q, alone" in after, after


def test_a_reader_paging_after_its_reference_gets_older_lines_the_heal_brought() -> None:
    """The reader stays on s and sees R and five more; the split heals and
    p's catch-up brings q's three older lines to s. Paging AFTER R four at a
    time (at most half a page comes as 'arrived after the reference') the
    reader gets all three."""
    net = CoreNetwork("s", "p", "q")
    _, sam, reader = _young_split_with_q_behind_p(net, lines_on_q=3)
    exchange_clocks(net, 5.0)
    net.say(sam, "PRIVMSG #room :R said on s")
    (seen,) = [line for line in reader.lines() if line.endswith(":R said on s")]
    for n in range(5):
        exchange_clocks(net, 1.0)
        net.say(sam, f"PRIVMSG #room :S{n} said on s")
    exchange_clocks(net, 5.0)
    net.link("s", "p")
    exchange_clocks(net, 1.0)
    got: list[str] = []
    last = tag(seen, "msgid")
    for _ in range(10):  # a client paging on until a short page
        page = [
            line
            for line in reader.ask(f"CHATHISTORY AFTER #room msgid={last} 4")
            if " PRIVMSG " in line
        ]
        got += [line.rsplit(" :", 1)[1] for line in page]
        if len(page) < 4:
            break
        last = tag(page[-1], "msgid")
    assert sum("said on q" in text for text in got) == 3, got


def room_across_s_and_p() -> tuple[CoreNetwork, CoreUser, CoreUser, CoreUser]:
    """s -- p linked; sam on p, tess and the reader on s, all in #room; clocks exchanged."""
    net = CoreNetwork("s", "p")
    net.link("s", "p")
    sam, tess, reader = (
        net.user(at, nick, CAPS) for at, nick in (("p", "sam"), ("s", "tess"), ("s", "reader"))
    )
    for user in (sam, tess, reader):
        net.say(user, "JOIN #room")
    exchange_clocks(net, 120.0)
    return net, sam, tess, reader


def test_after_a_time_looks_back_over_a_split_this_server_saw() -> None:
    """s -- p are cut. sam on p says three lines; a few seconds later the
    reader on s sees tess's line and moves to p, which does not know that
    msgid (said on s's side). A client that falls back to AFTER the line's
    time (a second before it) gets sam's lines: p saw the split, so it looks
    back to its start."""
    net, sam, tess, reader = room_across_s_and_p()
    reader.lines()
    net.cut("s", "p")
    for n in range(3):
        exchange_clocks(net, 1.0)
        net.say(sam, f"PRIVMSG #room :said on p {n}")
    exchange_clocks(net, 5.0)
    net.say(tess, "PRIVMSG #room :said on s")
    (seen,) = [line for line in reader.lines() if line.endswith(":said on s")]
    stamp = tag(seen, "time")
    reader.client.closed = True
    back = net.user("p", "back", CAPS)
    net.say(back, "JOIN #room")
    back.lines()
    since = format_time(parse_time(stamp) - 1.0)  # type: ignore[operator]
    texts = texts_of(back, f"CHATHISTORY AFTER #room timestamp={since} 50")
    assert [t for t in texts if t.startswith("said on p")] == [f"said on p {n}" for n in range(3)]
    # Without a split, a time is a plain bound: nothing before it.
    calm = CoreNetwork("a")
    alice, bob = calm.user("a", "alice", CAPS), calm.user("a", "bob", CAPS)
    for user in (alice, bob):
        calm.say(user, "JOIN #room")
    calm.say(alice, "PRIVMSG #room :the line before")
    calm.servers["a"].tick(5.0)
    calm.say(alice, "PRIVMSG #room :the line after")
    (line,) = [x for x in bob.lines() if x.endswith(":the line after")]
    at = tag(line, "time")
    early = format_time(parse_time(at) - 1.0)  # type: ignore[operator]
    assert texts_of(bob, f"CHATHISTORY AFTER #room timestamp={early} 50") == ["the line after"]


def test_after_a_msgid_said_across_a_split_nobody_noticed_yet() -> None:
    """s -- p: the link dies without a word (a hub between them frozen), and
    neither server knows yet. sam on p says three lines, which never reach s;
    two seconds later the reader on s sees tess's line and moves to p. p does
    not know that msgid, and saw no disruption: it answers AFTER from the
    horizon the msgid carries (the last moment s had heard from p), so sam's
    lines are there. Falling back to the line's time, as clients did, would
    miss all three: they are stamped two to four seconds before it."""
    net, sam, tess, reader = room_across_s_and_p()
    net.say(sam, "PRIVMSG #room :before the split")
    reader.lines()
    for end in net.links[frozenset(("s", "p"))]:
        end.closed = True  # nothing crosses; both servers still count the link up
    for n in range(3):
        exchange_clocks(net, 1.0)
        net.say(sam, f"PRIVMSG #room :said on p {n}")
    exchange_clocks(net, 2.0)
    net.say(tess, "PRIVMSG #room :said on s")
    (seen,) = [line for line in reader.lines() if line.endswith(":said on s")]
    reader.client.closed = True
    back = net.user("p", "back", CAPS)
    net.say(back, "JOIN #room")
    back.lines()
    texts = texts_of(back, f"CHATHISTORY AFTER #room msgid={tag(seen, 'msgid')} 50")
    # From the horizon on: the last line s had from p too, which the client merges by msgid.
    assert texts == ["before the split", *(f"said on p {n}" for n in range(3))], texts
    # LATEST down to that msgid (how some clients catch up) answers the same.
    latest = texts_of(back, f"CHATHISTORY LATEST #room msgid={tag(seen, 'msgid')} 50")
    assert latest == texts, latest
    # A reference that is not one of these msgids is still refused.
    refused = back.ask("CHATHISTORY AFTER #room msgid=not-a-msgid-of-ours 50")
    assert " FAIL CHATHISTORY INVALID_PARAMS " in refused[0], refused
