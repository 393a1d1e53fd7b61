"""Timeouts are looked at a share of the clients a tick: no tick stalls on all 10,000.

The core's tick pings quiet clients and quits silent ones (``irc.timeouts``).
With many clients a second's round is spread over several ticks, each
client still looked at once a round; with few, one tick does it all.
"""

from __future__ import annotations

from chatnet_node.irc.timeouts import MIN_SHARE, TICKS_PER_ROUND
from tests.corekit import CoreServer, CoreUser

CLIENTS = 2 * MIN_SHARE + MIN_SHARE // 2


def _pinged(users: list[CoreUser]) -> int:
    return sum(1 for user in users if any(line.startswith("PING ") for line in user.lines()))


def test_many_quiet_clients_are_pinged_over_a_few_ticks_each_once() -> None:
    server = CoreServer(name="test", limits={"maxClients": CLIENTS, "pingInterval": 30})
    users = [server.user(f"u{n}") for n in range(CLIENTS)]
    server.tick(31)
    first = _pinged(users)
    assert first == MIN_SHARE, "one tick looks at a share, not at every client"
    server.tick(0.1)
    server.tick(0.1)
    assert first + _pinged(users) == CLIENTS  # the round is done: every client pinged once
    server.tick(0.1)
    assert _pinged(users) == 0  # nobody twice, and no new round before a second has passed


def test_a_round_ends_within_its_ticks_however_many_clients() -> None:
    clients = 9 * MIN_SHARE
    server = CoreServer(name="test", limits={"maxClients": clients, "pingInterval": 30})
    for _ in range(clients):
        server.connection()  # not registered: each is timed out in its round
    server.tick(61)  # past the registration timeout
    for _ in range(TICKS_PER_ROUND - 1):
        server.tick(0.1)
    assert len(server.core.clients) == 0


def test_a_silent_client_still_times_out_with_few_clients() -> None:
    server = CoreServer(name="test", limits={"pingInterval": 30, "pingTimeout": 30})
    quiet, talker = server.user("quiet"), server.user("talker")
    server.tick(31)
    assert any(line.startswith("PING ") for line in quiet.lines())
    talker.lines()
    talker.send("PONG :test")
    server.tick(31)
    assert "Ping timeout: 60 seconds" in quiet.lines()[-1]
    assert not talker.closed
