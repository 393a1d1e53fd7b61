"""Chaos in network namespaces: each server on its own (virtual) host, under steady traffic.

Two hubs and two leaves, each node in a namespace of its own on a bridge
(``tests/portals/netlab.py``); the members sit in one more namespace. Links
ping every second and give up after 3 s of silence. Scenarios, three seeds
each:

* ``partition-leaf``: nftables cuts a leaf from its hub (both directions)
  for about six seconds and then heals; the leaf's members stay connected
  while it re-homes to its second uplink, and nobody may miss an
  acknowledged message or get one twice;
* ``kill-hub``: SIGKILL a hub; its members reconnect to another server (the
  lab's stand-in for the front door), rejoin and fetch what they missed; the
  hub is started again a second later, as a supervisor would;
* ``kill-any``: the same with any server (the seeds take leaf-a, hub-2 and
  leaf-b in turn).

Needs root, iproute2 and nftables; skips with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import random
import re
import time

import pytest

from tests.chaos.harness import (
    Ledger,
    Member,
    Opener,
    Sender,
    account,
    all_acknowledged,
    audit,
    clock,
    settle,
    start_members,
    traffic,
)
from tests.irc.client import IrcClient
from tests.portals.netlab import IRC_PORT, Lab, Node, connect
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

SEEDS = [1, 2, 3]
FAST = {"pingInterval": 1, "pingTimeout": 3}
RATE = 3.0
TRAFFIC_SECONDS = 9.0
ACT_AFTER = 2.0
PARTITION_SECONDS = 6.0


def build(lab: Lab) -> dict[str, Node]:
    hub_1 = lab.node("hub-1", 1, accept=["hub-2", "leaf-a", "leaf-b"], **FAST)
    hub_2 = lab.node("hub-2", 2, dial=[hub_1.peer()], accept=["leaf-a", "leaf-b"], **FAST)
    leaf_a = lab.node("leaf-a", 11, role="leaf", dial=[hub_1.peer(), hub_2.peer()], **FAST)
    leaf_b = lab.node("leaf-b", 12, role="leaf", dial=[hub_2.peer(), hub_1.peer()], **FAST)
    lab.start(hub_1, hub_2)
    lab.start(leaf_a, leaf_b)
    for node, pattern in (
        (hub_2, r"link up: hub-2 -- hub-1"),
        (leaf_a, r"link up: leaf-a -- hub-1"),
        (leaf_b, r"link up: leaf-b -- hub-2"),
    ):
        wait_log(node, pattern)
    return {n.name: n for n in (hub_1, hub_2, leaf_a, leaf_b)}


def wait_log(node: Node, pattern: str, timeout: float = 15.0) -> None:
    wait_until(lambda: re.search(pattern, node.log()), timeout, f"{node.name}: {pattern!r}", 0.1)


def opener(ns: str, first: Node, nodes: list[Node], rng: random.Random) -> Opener:
    """Connect to ``first``, else to any other server: the lab's front door."""

    async def open_() -> IrcClient:
        others = [n for n in nodes if n is not first]
        rng.shuffle(others)
        failures = []
        for node in [first, *others]:
            try:
                sock = await asyncio.to_thread(connect, ns, node.addr, IRC_PORT, 2.0)
            except OSError as exc:
                failures.append(f"{node.name}: {exc}")
                continue
            return await IrcClient.on_socket(sock, f"{ns}:{node.name}")
        raise ConnectionError(f"no server answered: {failures}")

    return open_


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scenario", ["kill-any", "kill-hub", "partition-leaf"])
async def test_netns_chaos_loses_and_duplicates_nothing(lab: Lab, scenario: str, seed: int) -> None:
    rng = random.Random(seed)
    nodes = build(lab)
    users = lab.host("users")
    since = time.time() - 1
    ledger = Ledger()
    order = list(nodes.values())
    members = [
        Member(
            f"m{i}",
            opener(users.ns, order[i % len(order)], order, random.Random(seed * 10 + i)),
            ledger,
            rng=random.Random(seed * 100 + i),
        )
        for i in range(8)
    ]
    try:
        await start_members(members)
        senders = [Sender(m, RATE, limit=int(RATE * TRAFFIC_SECONDS * 2)) for m in members[::2]]
        ledger.started = clock()
        talking = asyncio.create_task(traffic(senders, TRAFFIC_SECONDS))
        await asyncio.sleep(ACT_AFTER)
        if scenario == "partition-leaf":
            leaf = nodes[("leaf-a", "leaf-b")[seed % 2]]  # the seeds take turns
            hub = nodes["hub-1" if leaf.name == "leaf-a" else "hub-2"]
            await asyncio.to_thread(lab.partition, leaf, hub)
            ledger.note(f"partition {leaf.name} | {hub.name}")
            await asyncio.sleep(PARTITION_SECONDS)
            await asyncio.to_thread(lab.heal)
            ledger.note("healed")
        else:
            if scenario == "kill-hub":
                victim = nodes[("hub-1", "hub-2")[seed % 2]]
            else:  # the seeds take turns: both leaves and a hub
                victim = nodes[("leaf-a", "hub-2", "leaf-b")[(seed - 1) % 3]]
            await asyncio.to_thread(victim.kill)
            ledger.note(f"SIGKILL {victim.name}")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(lab.start, victim)
            ledger.note(f"{victim.name} started again")
        await talking
        ledger.note("traffic stopped")
        if scenario == "partition-leaf":
            # Nobody was disconnected: every held acknowledgement is released once
            # the leaf is linked again (to its other hub, or to the healed one).
            await all_acknowledged(ledger, timeout=10.0)
        waited = await settle(members, ledger, timeout=20.0)
        ledger.note(f"settled after {waited:.1f}s")
        openers = {name: opener(users.ns, node, [node], rng) for name, node in nodes.items()}
        stored = await audit(openers, ledger, since)
    finally:
        for member in members:
            await member.stop()
    report = account(ledger, members, stored, title=f"{scenario} (seed {seed})")
    print(report.text)
    assert report.acked >= 40, report.text
    assert report.ok, report.text
    if scenario == "partition-leaf":
        assert not report.unacked, f"acknowledgements held for good: {report.text}"
    short = {s: len(set(ledger.acked) - ids) for s, ids in stored.items()}
    assert not any(short.values()), f"servers' histories lack acked messages: {short}"
