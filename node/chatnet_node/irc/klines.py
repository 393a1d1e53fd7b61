"""Network-wide bans (K-lines): which ``user@host`` masks may not be on the network.

An IRC operator's ``KLINE`` is a network-wide record (``registry``): kept by
every server, carried over the links and in bursts, persisted beside the
history, so every server enforces it and it outlives restarts. Its name is
the mask (folded), so setting the same mask twice updates one record, and
``UNKLINE`` drops it (a tombstone). A K-line with a duration expires by
itself: an expired one matches nobody (no server has to remove it at the
right moment, and clocks only need to roughly agree).

A mask matches a user's ``user@host`` as shown (a cloak, or ``account/NAME``)
and its real address alike, as channel bans do, so a ban on an IP holds
under a cloak. Plain data and functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import Field

from .model import Client
from .names import mask_matches
from .registry import Record

#: Longest accepted duration: a year. Longer is "permanent" (no duration).
MAX_SECONDS = 366 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(?:(\d+)([smhdw]))+$")
_PART = re.compile(r"(\d+)([smhdw])")
_MASK = re.compile(r"^[^\s@!,]+@[^\s@!,]+$")


class NetworkBan(Record):
    """One K-line: ``name`` is the ``user@host`` mask."""

    reason: str = Field(default="", max_length=300)
    set_by: str = ""  # the operator's nick!user@host
    set_at: float = 0.0
    expires: float | None = None  # None: until UNKLINE

    def active(self, now: float) -> bool:
        return not self.dropped and (self.expires is None or self.expires > now)


def parse_duration(text: str) -> int | None:
    """Seconds of ``30`` (minutes, as hybrid/solanum read it) or ``1h30m``, ``2d``, ``1w``.

    None when it is not a duration (then it is the mask).
    """
    if text.isdigit():
        return int(text) * 60
    if not _DURATION.match(text):
        return None
    return sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def mask_problem(mask: str) -> str | None:
    """Why ``mask`` cannot be a K-line, or None."""
    if not _MASK.match(mask):
        return "a K-line mask is user@host (wildcards * and ? allowed), e.g. *@203.0.113.7"
    if mask.replace("*", "").replace("?", "").replace("@", "").replace(".", "") == "":
        return "that mask would ban everyone"
    return None


def hostmasks(client: Client) -> list[str]:
    """The ``user@host`` forms a K-line is matched against: shown host and real address."""
    found = [f"{client.user}@{client.host}"]
    if client.address and client.address != client.host:
        found.append(f"{client.user}@{client.address}")
    return found


def ban_for(bans: Iterable[NetworkBan], client: Client, now: float) -> NetworkBan | None:
    """The first active K-line matching ``client``, or None."""
    forms = hostmasks(client)
    for ban in bans:
        if ban.active(now) and any(mask_matches(ban.name, form) for form in forms):
            return ban
    return None


def describe(ban: NetworkBan, now: float) -> str:
    """``*@203.0.113.7 (spam) by oper, 59 minutes left`` for STATS k and notices."""
    if ban.expires is None:
        left = "permanent"
    else:
        minutes = max(0, int((ban.expires - now) // 60))
        left = f"{minutes} minute{'s' if minutes != 1 else ''} left"
    return f"{ban.name} ({ban.reason or 'no reason'}) set by {ban.set_by}, {left}"
