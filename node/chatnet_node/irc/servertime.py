"""IRCv3 ``server-time`` values: ``2026-11-28T12:00:00.000Z`` to and from seconds."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime


def format_time(ts: float) -> str:
    """An IRCv3 server-time value: ``2026-11-28T12:00:00.000Z``."""
    # Nearest millisecond: a time parsed back from a tag formats to the same tag.
    second, millis = divmod(int(ts * 1000 + 0.5), 1000)
    return f"{_second_prefix(second)}{millis:03d}Z"


@functools.lru_cache(maxsize=8)
def _second_prefix(second: int) -> str:
    # Formatting a date is slow; within one second only the milliseconds change.
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))


def parse_time(value: str) -> float | None:
    """Parse a server-time value back into seconds since the epoch."""
    try:
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
