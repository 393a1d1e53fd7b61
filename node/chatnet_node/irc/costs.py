"""Cost-based limits per client: what a command costs beyond its one line.

Flood control (``flood``) counts lines; some lines cost far more than
others. A client has one budget per kind of work, a token bucket refilled
at a steady rate up to a burst:

* ``joinpart``: channels joined or left (``JOIN #a,#b,#c`` costs 3);
* ``nick``: nick changes after registration;
* ``history``: CHATHISTORY rows served (and 1 per request, so empty ones count);
* ``query``: WHO and MONITOR reply lines.

A command runs when its budget is positive (``wait`` is 0) and is charged
what it actually cost afterwards (``charge``), so one big answer may take
the budget below zero and the next request waits until it is paid back.
Pure: the caller passes the time and sends the refusal.
"""

from __future__ import annotations

from typing import Literal

from ..config import Limits
from .model import Client

Kind = Literal["joinpart", "nick", "history", "query"]

#: What each budget is called in a refusal and in the configuration.
WHAT: dict[Kind, str] = {
    "joinpart": "channel joins and parts (joinPartBurst, joinPartPerMinute)",
    "nick": "nick changes (nickChangeBurst, nickChangesPerMinute)",
    "history": "history rows (historyRowsBurst, historyRowsPerSecond)",
    "query": "WHO/MONITOR reply lines (queryLinesBurst, queryLinesPerSecond)",
}


def budget(limits: Limits, kind: Kind) -> tuple[float, float]:
    """The burst and the refill rate (per second) of one kind of work."""
    if kind == "joinpart":
        return float(limits.join_part_burst), limits.join_part_per_minute / 60.0
    if kind == "nick":
        return float(limits.nick_change_burst), limits.nick_changes_per_minute / 60.0
    if kind == "history":
        return float(limits.history_rows_burst), limits.history_rows_per_second
    return float(limits.query_lines_burst), limits.query_lines_per_second


def _balance(client: Client, limits: Limits, kind: Kind, now: float) -> float:
    burst, rate = budget(limits, kind)
    budgets = client.budgets
    if budgets is None:
        budgets = client.budgets = {}
    balance, at = budgets.get(kind, (burst, now))
    balance = min(burst, balance + (now - at) * rate)
    budgets[kind] = (balance, now)
    return balance


def wait(client: Client, limits: Limits, kind: Kind, cost: float, now: float) -> float:
    """Seconds before ``client`` may spend ``cost`` (at most its burst) of ``kind``; 0: now."""
    burst, rate = budget(limits, kind)
    need = min(cost, burst)
    balance = _balance(client, limits, kind, now)
    if balance >= need:
        return 0.0
    return (need - balance) / rate


def charge(client: Client, limits: Limits, kind: Kind, cost: float, now: float) -> None:
    """Take ``cost`` from the budget (it may go below zero: later requests wait)."""
    balance = _balance(client, limits, kind, now)
    assert client.budgets is not None
    client.budgets[kind] = (balance - cost, now)


def refusal(kind: Kind, seconds: float) -> str:
    """The text a refused client reads."""
    return f"Too many {WHAT[kind]}: try again in {max(1, int(seconds + 0.999))}s"
