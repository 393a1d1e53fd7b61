"""Clients dropped for a full send queue go a slice a turn (``transport/drops.py``).

The drops share the turn's budget with the big fan-outs (``LateWork.slices``):
with no time left, one batch goes a turn; every dropped client's channel
sees its QUIT, in order, and nothing is left registered once all are gone.
"""

from __future__ import annotations

from chatnet_node.transport.drops import BATCH, BUDGET, CLOSE_COST, REASON, drop_soon
from tests.corekit import CoreServer


def test_drops_go_a_batch_a_turn_with_no_time_left_and_leave_nothing_behind() -> None:
    server = CoreServer()
    readers = [server.user(f"r{i}") for i in range(5 * BATCH + 3)]
    watcher = server.user("watcher")
    for user in (*readers, watcher):
        user.send("JOIN #flood")
    for user in (*readers, watcher):
        user.lines()
    output = server.core.output
    wakes: list[None] = []
    output.wake = lambda: wakes.append(None)
    closed: list[str] = []
    for user in readers:
        drop_soon(server.core, user.client, lambda nick=user.nick: closed.append(nick))
    assert wakes, "the drops ask for a turn"
    assert len(output.late.slices) == 1, "one queue for the core, however many are dropped"

    output.flush()  # no budget (a drain's flush): the drops wait for the runtime's
    assert closed == []

    turns = 0
    while output.late.slices and turns < len(readers):
        output.flush(budget=0.0)
        turns += 1
        assert len(closed) == min(turns * BATCH, len(readers)), "one batch a turn"
    assert closed == [user.nick for user in readers]
    assert not output.late.slices
    assert server.core.stats.sendq_exceeded == len(readers)
    quits = [line for line in watcher.lines() if " QUIT " in line]
    assert quits == [f":{user.nick}!~{user.nick}@127.0.0.1 QUIT :{REASON}" for user in readers]


def test_with_time_to_spare_every_queued_drop_goes_in_one_turn() -> None:
    server = CoreServer()
    # Half as many as the drops' own budget pays the socket closes of: the
    # rest of it for the drops themselves (their QUITs).
    batches = max(1, int(BUDGET / CLOSE_COST) // 2 // BATCH)
    readers = [server.user(f"r{i}") for i in range(batches * BATCH)]
    for user in readers:
        user.send("JOIN #flood")
        user.lines()
    closed: list[str] = []
    for user in readers:
        drop_soon(server.core, user.client, lambda nick=user.nick: closed.append(nick))
    server.core.output.flush(budget=3600.0)
    assert len(closed) == len(readers)
    assert not server.core.output.late.slices
