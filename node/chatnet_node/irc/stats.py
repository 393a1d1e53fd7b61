"""Counters the metrics adapter exports. Plain ints: the core does no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..timings import LOOKBACK_BUCKETS, Histogram


@dataclass
class CoreStats:
    """What one server counted since it started."""

    connections: int = 0
    registrations: int = 0  # clients that completed registration here (connects and reconnects)
    rejected_full: int = 0
    rejected_per_address: int = 0
    rejected_throttled: int = 0  # refused by the connection throttle (``throttle``)
    rate_limited: int = 0  # commands refused by a cost budget (``costs``)
    messages_in: int = 0
    deliveries: int = 0
    lines_in: int = 0
    excess_flood: int = 0
    sendq_exceeded: int = 0
    input_too_long: int = 0
    login_failures: int = 0  # wrong passwords (SASL, IDENTIFY, GHOST, DROP)
    slow_work: int = 0  # password hashes and checks run off the event loop (``slowwork``)
    slow_work_running: int = 0  # of those, under way now
    max_local_users: int = 0  # most registered users at once on this server
    max_global_users: int = 0  # most users at once on the network, as seen here
    replayed: int = 0  # channel messages learnt late, in a catch-up after a link came up
    #: How far each ``CHATHISTORY AFTER msgid`` looked back before its
    #: reference (paging on from a page's end is not counted), and how many
    #: of them looked back over a disruption (``irc.disruptions``).
    lookback: Histogram = field(default_factory=lambda: Histogram(LOOKBACK_BUCKETS))
    lookback_disrupted: int = 0
