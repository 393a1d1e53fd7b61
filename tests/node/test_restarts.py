"""A server that starts again before the network saw it go (``links.restarts``).

Whole networks in one process (``tests.corekit``): a leaf killed and started
again dials its second hub while its first still holds the dead link.
"""

from __future__ import annotations

from chatnet_node.irc.model import NULL_SINK, Client
from chatnet_node.links.manager import LinkManager
from chatnet_node.links.restarts import Starts, earlier_users, start_of, uid_start
from tests.corekit import CoreNetwork, CoreServer, CoreUser


def clocks(net: CoreNetwork, at: float) -> None:
    """Every server sends its clock event (twice a second on a real node)."""
    for manager in net.managers.values():
        manager.send_clock(at)
    net.settle()


def test_users_of_a_servers_earlier_start_quit_once_its_new_start_is_heard() -> None:
    net, watcher = a_network_with_b("u0", "u1")
    restarted(net)
    net.say(net.user("b", "v0"), "JOIN #room")
    clocks(net, 2.0)
    for server in ("h", "h2"):
        nicks = {user.nick for user in net.cores[server].users.values() if user.server == "b"}
        assert nicks == {"v0"}, f"{server} still holds {nicks}"
        assert net.cores[server].users_of("b") == 1
    quits = [line for line in watcher.lines() if " QUIT " in line]
    assert quits == [
        ":u0!~u0@127.0.0.1 QUIT :b restarted",
        ":u1!~u1@127.0.0.1 QUIT :b restarted",
    ]
    clocks(net, 3.0)  # the same start again: nobody else quits
    assert "v0" in net.cores["h"].nicks


def restarted(net: CoreNetwork) -> tuple[CoreServer, LinkManager]:
    """b starts again; h has not noticed (its link to the old b stays up), so the
    new b links to h2. The old b's server and manager, as they were."""
    old = net.servers["b"], net.managers["b"]
    again = CoreServer("b", serverId=old[0].config.server_id, network="t")
    again.clock.now += 1
    net.servers["b"], net.managers["b"] = again, LinkManager(again.core)
    net.link("b", "h2")
    return old


def a_network_with_b(*nicks: str) -> tuple[CoreNetwork, CoreUser]:
    net = CoreNetwork("h", "h2", "b")
    net.link("h", "h2")
    net.link("b", "h")
    watcher = net.user("h", "watcher")
    net.say(watcher, "JOIN #room")
    for nick in nicks:
        net.say(net.user("b", nick), "JOIN #room")
    clocks(net, 1.0)
    watcher.lines()
    return net, watcher


def test_a_user_back_under_the_same_nick_is_not_taken_for_its_own_ghost() -> None:
    """What a client that reconnects does: the new b introduces u0 again before
    its first clock event; the ghost goes first, so there is no collision (the
    ghost's older nick would win it, and the live u0 would be renamed)."""
    net, watcher = a_network_with_b("u0")
    restarted(net)
    u0 = net.user("b", "u0")
    net.say(u0, "JOIN #room")
    for server in ("h", "h2"):
        holder = net.cores[server].nicks["u0"]
        assert holder.uid == u0.client.uid, f"{server}: u0 is {holder.uid}"
    assert not [line for line in watcher.lines() if "Guest" in line]
    net.say(watcher, "PRIVMSG u0 :welcome back")
    assert any("welcome back" in line for line in u0.lines())


def test_the_earlier_process_resumed_is_not_heard_again() -> None:
    """A paused machine resumes: the old b ticks again on the link h still
    holds. h drops that link and keeps the new b's users."""
    net, _ = a_network_with_b("u0")
    old_server, old_manager = restarted(net)
    net.say(net.user("b", "v0"), "JOIN #room")
    clocks(net, 2.0)
    old_server.clock.now += 5
    old_manager.send_clock(10.0)  # stamped after the new b's events
    net.settle()
    for server in ("h", "h2"):
        nicks = {user.nick for user in net.cores[server].users.values() if user.server == "b"}
        assert nicks == {"v0"}, f"{server}: {nicks}"
    assert "b" not in net.managers["h"].sessions or net.managers["h"].sessions["b"].closed


def test_a_start_is_news_once_and_an_earlier_one_never_again() -> None:
    starts = Starts()
    assert starts.heard("b", "aaaaaa", 10.0) == "new", "the first start heard is news"
    assert starts.heard("b", "aaaaaa", 10.5) == "current"
    assert starts.heard("b", "bbbbbb", 11.0) == "new"  # a new start, stamped later
    assert starts.heard("b", "aaaaaa", 99.0) == "replaced", "the earlier process, resumed"
    assert starts.heard("b", "cccccc", 10.9) == "late", "stamped before: taken, not judged"
    assert starts.heard("b", "bbbbbb", 11.5) == "current"
    starts.forget(["b"])
    assert starts.heard("b", "aaaaaa", 12.0) == "new", "back after a split: news again"


def test_ids_name_their_start_and_only_uids_of_the_full_shape_are_judged() -> None:
    assert start_of("2aabcdefe1f", 42) == "abcdef"
    assert start_of("evil:b1700000000:3", 42) is None  # a burst's id
    assert uid_start("42uabcdef1", 42) == "abcdef"
    assert uid_start("42u1", 42) is None  # an earlier release's shape
    assert uid_start("7uabcdef1", 42) is None
    users = []
    for uid in ("42uabcdef1", "42u123456a", "42u1"):
        user = Client(sink=NULL_SINK, address="", connected_at=0.0)
        user.uid, user.server, user.remote = uid, "evil", True
        users.append(user)
    assert [user.uid for user in earlier_users(users, 42, "abcdef")] == ["42u123456a"]
