"""Portals over a real (virtual) network: namespaces, veth pairs, a bridge, nftables.

Each chatnet-node runs in a network namespace of its own with its own
address in 10.77.0.0/24; the clients sit in one more namespace. All of them
hang off a bridge in a switch namespace, where nftables rules cut or thin
the traffic between two servers (tc netem is not in this kernel). Nothing
is routed outside the namespaces the test makes, and every test deletes
them, with its processes, even when it fails.

* A partition between two hubs splits the network (QUIT with the netsplit
  reason) and, healed, joins it again once.
* The same partition inside a triangle of hubs splits nothing: traffic goes
  round by the third hub.
* 5 % packet loss on a link loses, duplicates and reorders nothing.
* A hub killed with SIGKILL: its leaf moves to the next uplink.

Needs root, iproute2 and nftables (scripts/install-system-deps.sh); skips
with the reason otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.irc.blocking import LineClient
from tests.irc.lines import Msg, contains, from_user
from tests.portals.netlab import Lab, Node
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

# Keepalive fast enough that a silent link is noticed within seconds.
FAST = {"pingInterval": 1, "pingTimeout": 3}


def wait_log(node: Node, pattern: str, timeout: float = 15.0) -> str:
    """Wait for a line of the node's log matching ``pattern``; return it."""

    def found() -> str | None:
        return next((ln for ln in node.log().splitlines() if re.search(pattern, ln)), None)

    return wait_until(found, timeout, f"{node.name}: a log line {pattern!r}", poll=0.1)


def join_all(channel: str, clients: list[LineClient]) -> None:
    for client in clients:
        client.send(f"JOIN {channel}")
        client.expect("366")
    # Everyone has seen the later ones' JOIN (the earlier were in NAMES).
    for i, client in enumerate(clients):
        for other in clients[i + 1 :]:
            client.expect(contains(f":{other.nick}!~{other.nick}@"))
    time.sleep(0.3)
    for client in clients:
        client.drain(0.2)


def text_of(line: Msg, target: str) -> str | None:
    """The text of a PRIVMSG to ``target``, or None."""
    if line.command != "PRIVMSG" or line.params[:1] != [target]:
        return None
    return line.last


def privmsg(channel: str, text: str) -> Callable[[Msg], bool]:
    return lambda m: text_of(m, channel) == text


def say(sender: LineClient, channel: str, text: str, *receivers: LineClient) -> None:
    """``sender`` says ``text``; each receiver gets it exactly once."""
    sender.send(f"PRIVMSG {channel} :{text}")
    for receiver in receivers:
        line = receiver.expect(privmsg(channel, text))
        assert line.nick == sender.nick, line
    for receiver in receivers:
        again = [x for x in receiver.drain(0.3) if privmsg(channel, text)(x)]
        assert not again, f"{receiver.nick} got {text!r} twice: {again}"


def test_partition_between_two_hubs_splits_and_heals(lab: Lab) -> None:
    hub_a = lab.node("hub-a", 1, accept=["hub-b"], **FAST)
    hub_b = lab.node("hub-b", 2, dial=[hub_a.peer()], **FAST)
    users = lab.host("users")
    lab.start(hub_a, hub_b)
    alice = lab.client(users, hub_a, "alice")
    bob = lab.client(users, hub_b, "bob")
    alice.wait_linked(2)
    bob.wait_linked(2)
    join_all("#split", [alice, bob])
    say(alice, "#split", "before the partition", bob)

    started = time.monotonic()
    lab.partition(hub_a, hub_b)
    # Each side stops hearing the other and splits it off, with the reason.
    for me, other, here, there in ((alice, bob, hub_a, hub_b), (bob, alice, hub_b, hub_a)):
        quit_line = me.expect(from_user(other.nick, "QUIT"), timeout=12)
        assert quit_line.last == f"{here.name} {there.name}", quit_line
    split_after = time.monotonic() - started
    assert split_after < 10, f"the split took {split_after:.1f}s with pingTimeout 3"
    alice.send("LUSERS")
    assert "on 1 servers" in alice.expect("251").raw
    assert lab.dropped() > 0

    lab.heal()
    healed = time.monotonic()
    bob_back = alice.expect(from_user("bob", "JOIN", "#split"), timeout=25)
    alice_back = bob.expect(from_user("alice", "JOIN", "#split"), timeout=25)
    assert bob_back and alice_back
    rejoined_after = time.monotonic() - healed
    # The netjoin comes once: no second JOIN, no QUIT.
    for me, other in ((alice, bob), (bob, alice)):
        extra = [
            line
            for line in me.drain(1.0)
            if line.nick == other.nick and line.command in ("JOIN", "QUIT")
        ]
        assert not extra, f"{me.nick}: duplicate netjoin: {extra}"
    say(alice, "#split", "after the heal, from a", bob)
    say(bob, "#split", "after the heal, from b", alice)
    print(f"split after {split_after:.1f}s, rejoined {rejoined_after:.1f}s after the heal")


def test_partition_inside_a_triangle_reroutes_without_a_split(lab: Lab) -> None:
    hub_a = lab.node("hub-a", 1, accept=["hub-b", "hub-c"], **FAST)
    hub_b = lab.node("hub-b", 2, dial=[hub_a.peer()], accept=["hub-c"], **FAST)
    hub_c = lab.node("hub-c", 3, dial=[hub_a.peer(), hub_b.peer()], **FAST)
    users = lab.host("users")
    lab.start(hub_a, hub_b, hub_c)
    alice = lab.client(users, hub_a, "alice")
    bob = lab.client(users, hub_b, "bob")
    carol = lab.client(users, hub_c, "carol")
    for user in (alice, bob, carol):
        user.wait_linked(3)
    # Every pair of hubs has its own link before the partition.
    wait_log(hub_a, r"link up: hub-a -- hub-b")
    wait_log(hub_a, r"link up: hub-a -- hub-c")
    wait_log(hub_b, r"link up: hub-b -- hub-c")
    join_all("#tri", [alice, bob, carol])
    say(alice, "#tri", "straight from a", bob, carol)

    lab.partition(hub_a, hub_b)
    # Both ends drop the silent link, and nobody is cut off.
    down_a = wait_log(hub_a, r"link down: hub-a -- hub-b")
    down_b = wait_log(hub_b, r"link down: hub-b -- hub-a")
    assert down_a.endswith("cut off: nobody"), down_a
    assert down_b.endswith("cut off: nobody"), down_b
    seen: dict[str, list[Msg]] = {u.nick: u.drain(0.5) for u in (alice, bob, carol)}

    # a and b still talk, through c, each message once.
    say(alice, "#tri", "round by c, from a", bob, carol)
    say(bob, "#tri", "round by c, from b", alice, carol)
    alice.send("PRIVMSG bob :a private word round by c")
    assert bob.expect(contains("PRIVMSG bob :")).raw.endswith(":a private word round by c")
    for user in (alice, bob, carol):
        user.send("LUSERS")
        assert "on 3 servers" in user.expect("251").raw

    lab.heal()
    wait_log(hub_a, r"link up: hub-a -- hub-b \(cycle\)", timeout=25)
    say(carol, "#tri", "after the heal", alice, bob)
    for user in (alice, bob, carol):
        seen[user.nick] += user.drain(0.5)
        split = [line for line in seen[user.nick] if line.command in ("QUIT", "JOIN")]
        assert not split, f"{user.nick} saw a netsplit or netjoin: {split}"


def test_five_percent_loss_loses_and_duplicates_nothing(lab: Lab) -> None:
    # The keepalive tolerates TCP retransmission stalls: the link must stay up.
    lossy = {"pingInterval": 1, "pingTimeout": 10}
    hub_a = lab.node("hub-a", 1, accept=["hub-b"], **lossy)
    hub_b = lab.node("hub-b", 2, dial=[hub_a.peer()], **lossy)
    users = lab.host("users")
    lab.start(hub_a, hub_b)
    alice = lab.client(users, hub_a, "alice")
    bob = lab.client(users, hub_b, "bob")
    alice.wait_linked(2)
    join_all("#loss", [alice, bob])

    lab.lose(hub_a, hub_b, 5)
    count = 200
    started = time.monotonic()
    for n in range(1, count + 1):
        alice.send(f"PRIVMSG #loss :n={n:04d}")
        time.sleep(0.02)  # one link frame each, so the loss hits messages, not one big burst
    got: list[str] = []
    for line in bob.incoming(30):
        if (text := text_of(line, "#loss")) is not None:
            got.append(text)
        if got and got[-1] == f"n={count:04d}":
            break
    elapsed = time.monotonic() - started
    got += [t for x in bob.drain(1.0) if (t := text_of(x, "#loss")) is not None]
    dropped = lab.dropped()
    expected = [f"n={n:04d}" for n in range(1, count + 1)]
    missing = sorted(set(expected) - set(got))
    dupes = sorted({x for x in got if got.count(x) > 1})
    assert not missing, f"missing {len(missing)}: {missing[:10]}"
    assert not dupes, f"duplicated: {dupes[:10]}"
    assert got == expected, "out of order"
    assert dropped > 0, "the loss rule dropped nothing: the test proved nothing"
    assert "link down" not in hub_a.log() + hub_b.log(), "the link flapped under 5 % loss"
    print(f"{count} messages in {elapsed:.1f}s; {dropped} of {lab.seen()} link packets dropped")


def test_killed_hub_moves_its_leaf_to_the_next_uplink(lab: Lab) -> None:
    hub_1 = lab.node("hub-1", 1, accept=["hub-2", "leaf"], **FAST)
    hub_2 = lab.node("hub-2", 2, dial=[hub_1.peer()], accept=["leaf"], **FAST)
    leaf = lab.node("leaf", 11, role="leaf", dial=[hub_1.peer(), hub_2.peer()], **FAST)
    users = lab.host("users")
    lab.start(hub_1, hub_2)
    lab.start(leaf)
    wait_log(leaf, r"link up: leaf -- hub-1")
    alice = lab.client(users, leaf, "alice")
    bob = lab.client(users, hub_2, "bob")
    alice.wait_linked(3)
    bob.wait_linked(3)
    join_all("#kill", [alice, bob])
    say(alice, "#kill", "via hub-1", bob)

    started = time.monotonic()
    hub_1.kill()
    quit_line = alice.expect(from_user("bob", "QUIT"), timeout=10)
    assert quit_line.last == "leaf hub-1", quit_line
    alice.expect(from_user("bob", "JOIN", "#kill"), timeout=25)
    bob.expect(from_user("alice", "JOIN", "#kill"), timeout=25)
    moved_after = time.monotonic() - started
    wait_log(leaf, r"link up: leaf -- hub-2", timeout=5)
    say(alice, "#kill", "via hub-2, from the leaf", bob)
    say(bob, "#kill", "via hub-2, to the leaf", alice)
    alice.send("LUSERS")
    assert "on 2 servers" in alice.expect("251").raw
    print(f"leaf re-homed {moved_after:.1f}s after the kill")
