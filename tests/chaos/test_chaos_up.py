"""Chaos on a `chatnet up` network over loopback: SIGKILL servers under steady traffic.

Two hubs and two leaves (uplinks [hub-0, hub-1]) behind the front door;
eight members spread over them by the front door, four of them talking (3
lines/s each). Two seconds in, one server gets SIGKILL: (a) any server,
(b) a hub (leaves re-home, clients of the surviving servers see a netsplit).
Its members come back through the front door at once (jittered), rejoin and
fetch ``CHATHISTORY AFTER`` their last msgid; ``chatnet up`` restarts the
killed server. Then every member must hold every acknowledged message
exactly once, and every server's history must hold them all.

Each scenario runs with three seeds: which server dies (any-server: a hub
and each leaf; hub: both hubs), and the members' jitter.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.chaos.harness import (
    Ledger,
    Member,
    Sender,
    account,
    audit,
    clock,
    settle,
    start_members,
    tcp_opener,
    traffic,
    views,
)
from tests.chaos.upnet import UpNetwork, manifest
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

SEEDS = [1, 2, 3]
MEMBERS = 8
TALKERS = 4
RATE = 3.0
TRAFFIC_SECONDS = 6.0
KILL_AFTER = 2.0


@pytest.fixture
def network(tmp_path: Path) -> Iterator[UpNetwork]:
    net = UpNetwork(tmp_path, manifest())
    try:
        net.wait_ready()
        yield net
    finally:
        net.stop()
        print(net.log())  # pytest shows these only when the test failed
        print(net.server_logs())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("victim", ["any-server", "hub"])
async def test_sigkill_under_traffic_loses_and_duplicates_nothing(
    network: UpNetwork, victim: str, seed: int
) -> None:
    since = time.time() - 1
    ledger = Ledger()
    front = tcp_opener(*network.front_irc)
    members = [
        Member(f"m{i}", front, ledger, rng=random.Random(seed * 100 + i)) for i in range(MEMBERS)
    ]
    try:
        await start_members(members)
        on = {m.label: m.server for m in members}
        assert len(set(on.values())) == len(network.servers()), f"not spread: {on}"
        senders = [Sender(m, RATE, limit=int(RATE * TRAFFIC_SECONDS * 2)) for m in members[::2]]
        ledger.started = clock()
        talking = asyncio.create_task(traffic(senders, TRAFFIC_SECONDS))
        await asyncio.sleep(KILL_AFTER)
        # The seeds take turns over a fixed shuffle: "any-server" kills a hub once
        # and each leaf once, "hub" both hubs.
        pool = network.servers("hub" if victim == "hub" else None)
        random.Random(victim).shuffle(pool)
        target = pool[(seed - 1) % len(pool)]
        victims = [m.label for m in members if m.server == target]
        pid = network.kill(target)
        ledger.note(f"SIGKILL {target} (members {', '.join(victims)})")
        await talking
        ledger.note("traffic stopped")
        await asyncio.to_thread(network.wait_restarted, target, pid)
        waited = await settle(members, ledger, timeout=15.0)
        ledger.note(f"settled after {waited:.1f}s")
        openers = {s: tcp_opener(*network.irc_of(s)) for s in network.servers()}
        stored = await audit(openers, ledger, since)
        seen_by = await views(openers)
    finally:
        for member in members:
            await member.stop()
    report = account(ledger, members, stored, title=f"kill {target} (seed {seed})")
    print(report.text)
    print(seen_by)
    assert report.acked >= 30, report.text
    came_back = [m for m in members if m.label in victims and len(m.sessions) > 1]
    assert len(came_back) == len(victims), f"not every member of {target} came back: {report.text}"
    assert report.ok, f"{report.text}\nthe servers' views:\n{seen_by}"
    short = {s: len(set(ledger.acked) - ids) for s, ids in stored.items()}
    assert not any(short.values()), f"servers' histories lack acked messages: {short}"


def _stamp(line: str) -> datetime:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def test_a_leaf_whose_hub_freezes_dials_its_next_uplink_first(tmp_path: Path) -> None:
    """The hub the leaf is on stops answering (SIGSTOP: its port still takes
    connections, but no handshake ever comes back). The leaf (one replica, named
    "leaf") notices by its pings and dials its other uplink first, not the hub it
    just lost: that dial would wait out the 5 s open timeout while the leaf's
    users are split from the rest of the network."""
    net = UpNetwork(tmp_path, manifest(hubs=2, leaves=1))
    leaf_log = net.state / "chaos" / "leaf.log"

    def linked_to() -> str | None:
        """The hub the leaf is linked to now, by its log."""
        hub = None
        for line in leaf_log.read_text().splitlines():
            if "link up: leaf -- " in line:
                hub = line.split("link up: leaf -- ")[1].split()[0]
            elif "link down: leaf -- " in line:
                hub = None
        return hub

    try:
        net.wait_ready()
        frozen = wait_until(linked_to, 10, "the leaf linked to a hub")
        other = "hub-1" if frozen == "hub-0" else "hub-0"
        mark = len(leaf_log.read_text().splitlines())
        hub = net.pid(frozen)
        assert hub is not None
        os.kill(hub, signal.SIGSTOP)
        try:
            wait_until(
                lambda: linked_to() == other,
                20,
                f"the leaf re-homed on {other}",
                context=leaf_log.read_text,
            )
        finally:
            os.kill(hub, signal.SIGCONT)
        lines = leaf_log.read_text().splitlines()[mark:]
        down = next(i for i, line in enumerate(lines) if f"link down: leaf -- {frozen}" in line)
        up = next(i for i, line in enumerate(lines) if f"link up: leaf -- {other}" in line)
        between = "\n".join(lines[down : up + 1])
        assert f"link to {frozen}" not in between, f"it dialed the frozen hub first:\n{between}"
        # The ping timeout (4 s) has passed when the link goes down; from then on
        # it takes a 0.5 s pause and one dial, not the 5 s of a dial that hangs.
        split = (_stamp(lines[up]) - _stamp(lines[down])).total_seconds()
        assert split < 4.0, f"the leaf was split for {split:.1f}s:\n{between}"
    finally:
        net.stop()
