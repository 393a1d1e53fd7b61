"""Routing over link state: exactly once, loop-free, on any connected graph."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from chatnet_node.links.topology import Advert, Topology


def build(edges: set[tuple[str, str]], servers: list[str]) -> dict[str, Topology]:
    """Every server's view after adverts have flooded everywhere."""
    neighbours: dict[str, set[str]] = {s: set() for s in servers}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    adverts = [Advert(s, 1, frozenset(n)) for s, n in neighbours.items()]
    views = {}
    for server in servers:
        view = Topology(server)
        view.set_my_neighbours(neighbours[server])
        for advert in adverts:
            view.learn(advert)
        views[server] = view
    return views


def deliver(views: dict[str, Topology], origin: str, wanted: set[str]) -> Counter[str]:
    """Forward a message hop by hop as each server would; count receipts."""
    received: Counter[str] = Counter()
    queue = [origin]
    while queue:
        server = queue.pop()
        for hop in views[server].next_hops(origin, wanted):
            assert hop in views[server].neighbours(server), "forwarded over a non-link"
            received[hop] += 1
            queue.append(hop)
    return received


@st.composite
def connected_graphs(draw: st.DrawFn) -> tuple[list[str], set[tuple[str, str]]]:
    size = draw(st.integers(min_value=1, max_value=9))
    servers = [f"s{i}" for i in range(size)]
    edges: set[tuple[str, str]] = set()
    for i in range(1, size):  # a random spanning tree keeps it connected
        j = draw(st.integers(min_value=0, max_value=i - 1))
        edges.add((servers[j], servers[i]))
    extra = draw(st.lists(st.tuples(st.sampled_from(servers), st.sampled_from(servers))))
    edges |= {(a, b) if a < b else (b, a) for a, b in extra if a != b}
    return servers, edges


@settings(max_examples=300, deadline=None)
@given(connected_graphs(), st.data())
def test_every_wanted_server_gets_each_message_exactly_once(
    graph: tuple[list[str], set[tuple[str, str]]], data: st.DataObject
) -> None:
    servers, edges = graph
    views = build(edges, servers)
    origin = data.draw(st.sampled_from(servers))
    wanted = set(data.draw(st.lists(st.sampled_from(servers))))
    received = deliver(views, origin, wanted)
    for server in wanted - {origin}:
        assert received[server] == 1
    assert all(count == 1 for count in received.values()), "no server gets a duplicate"
    assert origin not in received, "never back to the origin"


@settings(max_examples=200, deadline=None)
@given(connected_graphs(), st.data())
def test_breaking_a_cycle_link_splits_nobody(
    graph: tuple[list[str], set[tuple[str, str]]], data: st.DataObject
) -> None:
    servers, edges = graph
    views = build(edges, servers)
    before = views[servers[0]].reachable()
    assert before == set(servers)
    edge = data.draw(st.sampled_from(sorted(edges))) if edges else None
    if edge is None:
        return
    remaining = edges - {edge}
    after = build(remaining, servers)
    lost = after[servers[0]].split(before)
    # Lost servers are exactly those cut off by the removed link.
    still = build(remaining, servers)[servers[0]].reachable()
    assert lost == set(servers) - still
    if lost:
        return
    origin = data.draw(st.sampled_from(servers))
    received = deliver(after, origin, set(servers))
    assert all(received[s] == 1 for s in set(servers) - {origin})


def test_a_link_counts_only_when_both_ends_advertise_it() -> None:
    view = Topology("a")
    view.set_my_neighbours({"b"})
    view.learn(Advert("b", 1, frozenset()))
    assert view.reachable() == {"a"}
    view.learn(Advert("b", 2, frozenset({"a"})))
    assert view.reachable() == {"a", "b"}
    assert not view.learn(Advert("b", 2, frozenset())), "old news is ignored"
    assert view.hops("b") == 1 and view.uplink_of("b") == "a"


def test_triangle_routes_around_a_broken_link() -> None:
    views = build({("a", "b"), ("b", "c"), ("a", "c")}, ["a", "b", "c"])
    assert views["a"].next_hops("a", {"c"}) == {"c"}
    views = build({("a", "b"), ("b", "c")}, ["a", "b", "c"])
    assert views["a"].next_hops("a", {"c"}) == {"b"}
    assert views["b"].next_hops("a", {"c"}) == {"c"}
    assert views["a"].hops("c") == 2


def test_only_a_peer_that_reaches_the_origin_without_this_server_may_pass_its_events_on() -> None:
    # A ring h1-h2-h3 and a leaf behind h1.
    views = build(
        {("h1", "h2"), ("h2", "h3"), ("h1", "h3"), ("h1", "leaf")}, ["h1", "h2", "h3", "leaf"]
    )
    h1 = views["h1"]
    assert h1.reaches_without_me("h2", "h3")  # round the ring: flooding while views differ
    assert not h1.reaches_without_me("leaf", "h3"), "the leaf reaches h3 only through h1"
    assert not h1.reaches_without_me("h2", "leaf")
    # A peer that claims a link the other end does not confirm gains nothing.
    h1.learn(Advert("leaf", 99, frozenset({"h1", "h3"})))
    assert not h1.reaches_without_me("leaf", "h3")
    assert not h1.reaches_without_me("h2", "h1"), "this server is never on the way"


def test_adverts_of_servers_out_of_reach_are_kept_only_so_many_the_oldest_forgotten() -> None:
    """An advert may come before the one that links its server in, so adverts of
    servers out of reach are kept; made-up servers nobody links to, only so many."""
    view = Topology("a")
    view.set_my_neighbours({"b"})
    view.learn(Advert("b", 1, frozenset({"a"})))
    for n in range(5):
        view.learn(Advert(f"ghost{n}", 1, frozenset({"nobody"})))
    assert view.unreachable_past(keep=10) == []
    assert view.unreachable_past(keep=4) == ["ghost0", "ghost1", "ghost2"]
    view.forget(view.unreachable_past(keep=4))
    assert set(view.adverts) == {"a", "b", "ghost3", "ghost4"}, "the reachable all stay"
    assert view.reachable() == {"a", "b"}
