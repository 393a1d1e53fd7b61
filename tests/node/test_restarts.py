"""A server that starts again before the network saw it go (``links.restarts``).

Whole networks in one process (``tests.corekit``): a leaf killed and started
again dials its second hub while its first still holds the dead link.
"""

from __future__ import annotations

from chatnet_node.irc.model import NULL_SINK, Client
from chatnet_node.links.manager import LinkManager
from chatnet_node.links.restarts import Starts, earlier_users, start_of
from tests.corekit import CoreNetwork, CoreServer


def clocks(net: CoreNetwork, at: float) -> None:
    """Every server sends its clock event (twice a second on a real node)."""
    for manager in net.managers.values():
        manager.send_clock(at)
    net.settle()


def test_users_of_a_servers_earlier_start_quit_once_its_new_start_is_heard() -> None:
    net = CoreNetwork("h", "h2", "b")
    net.link("h", "h2")
    net.link("b", "h")
    watcher = net.user("h", "watcher")
    net.say(watcher, "JOIN #room")
    for nick in ("u0", "u1"):
        net.say(net.user("b", nick), "JOIN #room")
    clocks(net, 1.0)
    watcher.lines()
    # b is killed and starts again; h has not noticed (its link to the old b
    # stays up), so the new b links to h2.
    again = CoreServer("b", serverId=net.servers["b"].config.server_id, network="t")
    again.clock.now += 1
    net.servers["b"], net.managers["b"] = again, LinkManager(again.core)
    net.link("b", "h2")
    net.say(net.user("b", "v0"), "JOIN #room")
    assert {"u0", "u1", "v0"} <= set(net.cores["h"].nicks), "before b's clock is heard"
    clocks(net, 2.0)
    for server in ("h", "h2"):
        nicks = {user.nick for user in net.cores[server].users.values() if user.server == "b"}
        assert nicks == {"v0"}, f"{server} still holds {nicks}"
        assert net.cores[server].remote_users["b"] == 1
    quits = [line for line in watcher.lines() if " QUIT " in line]
    assert quits == [
        ":u0!~u0@127.0.0.1 QUIT :b restarted",
        ":u1!~u1@127.0.0.1 QUIT :b restarted",
    ]
    clocks(net, 3.0)  # the same start again: nobody else quits
    assert "v0" in net.cores["h"].nicks


def test_a_start_is_news_once_and_a_late_clock_event_of_an_earlier_one_never() -> None:
    starts = Starts()
    assert starts.heard("b", "aaaaaa", 10.0), "the first start heard is news"
    assert not starts.heard("b", "aaaaaa", 10.5)
    assert starts.heard("b", "bbbbbb", 11.0)  # a new start, stamped later
    assert not starts.heard("b", "aaaaaa", 10.9), "the earlier start's, come late"
    assert not starts.heard("b", "bbbbbb", 11.5)
    starts.forget(["b"])
    assert starts.heard("b", "cccccc", 12.0), "back after a split: news again"


def test_ids_name_their_start_and_only_uids_of_the_full_shape_are_judged() -> None:
    assert start_of("2aabcdefe1f", 42) == "abcdef"
    assert start_of("evil:b1700000000:3", 42) is None  # a burst's id
    users = []
    for uid in ("42uabcdef1", "42u123456a", "42u1", "7uabcdef1"):
        user = Client(sink=NULL_SINK, address="", connected_at=0.0)
        user.uid, user.server, user.remote = uid, "evil" if uid.startswith("42") else "x", True
        users.append(user)
    earlier = earlier_users(users, "evil", 42, "abcdef")
    assert [user.uid for user in earlier] == ["42u123456a"], "42u1: an earlier release's shape"
