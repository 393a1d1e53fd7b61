"""Property tests on the pure link core: random topologies, links coming and
going, users joining and talking. After every step the network settles, and
then every server of a connected component agrees on users and channels, and
every member of a channel in the sender's component got each message once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chatnet_node.irc.names import casefold
from tests.corekit import CoreNetwork, CoreUser

SERVERS = ["s0", "s1", "s2", "s3"]
PAIRS = [(a, b) for i, a in enumerate(SERVERS) for b in SERVERS[i + 1 :]]

actions = st.lists(
    st.one_of(
        st.tuples(st.just("link"), st.sampled_from(PAIRS)),
        st.tuples(st.just("cut"), st.sampled_from(PAIRS)),
        st.tuples(st.just("user"), st.sampled_from(SERVERS)),
        st.tuples(st.just("join"), st.integers(0, 7)),
        st.tuples(st.just("say"), st.integers(0, 7)),
    ),
    max_size=25,
)


def components(net: CoreNetwork) -> list[set[str]]:
    """Connected groups of servers, from the links that are up."""
    seen: set[str] = set()
    groups = []
    for start in SERVERS:
        if start in seen:
            continue
        group, todo = set(), [start]
        while todo:
            server = todo.pop()
            if server in group:
                continue
            group.add(server)
            todo += [b for pair in net.links for b in pair if server in pair and b != server]
        seen |= group
        groups.append(group)
    return groups


def view(
    net: CoreNetwork, server: str
) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    core = net.cores[server]
    users = frozenset((u.uid, u.server) for u in core.users.values())
    members = frozenset(
        (name, member.uid) for name, channel in core.channels.items() for member in channel.members
    )
    return users, members


@settings(max_examples=300, deadline=None)
@given(actions)
def test_servers_converge_and_messages_arrive_once(steps: list[tuple[str, object]]) -> None:
    net = CoreNetwork(*SERVERS)
    users: list[tuple[str, CoreUser]] = []
    said = 0
    for kind, arg in steps:
        if kind == "link":
            a, b = arg  # type: ignore[misc]
            if frozenset((a, b)) not in net.links:
                net.link(a, b)
        elif kind == "cut":
            a, b = arg  # type: ignore[misc]
            if frozenset((a, b)) in net.links:
                net.cut(a, b)
        elif kind == "user":
            nick = f"u{len(users)}"
            users.append((str(arg), net.user(str(arg), nick)))
        elif kind == "join" and users:
            server, user = users[int(arg) % len(users)]  # type: ignore[call-overload]
            if not user.client.closed:
                net.say(user, "JOIN #p")
        elif kind == "say" and users:
            server, user = users[int(arg) % len(users)]  # type: ignore[call-overload]
            if user.client.closed or "#p" not in user.client.channels:
                continue
            for _, someone in users:
                someone.lines()
            said += 1
            text = f"message {said}"
            net.say(user, f"PRIVMSG #p :{text}")
            group = next(g for g in components(net) if server in g)
            for other_server, other in users:
                got = [line for line in other.lines() if line.endswith(f":{text}")]
                member = (
                    other is not user
                    and not other.client.closed
                    and other_server in group
                    and casefold("#p") in other.client.channels
                )
                assert len(got) == (1 if member else 0), (other.nick, got)
        # Settled: every server of a component sees the same users and channels.
        for group in components(net):
            views = {view(net, server) for server in group}
            assert len(views) == 1, f"{sorted(group)} disagree"
