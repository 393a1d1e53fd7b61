"""Waiting, bounded: one wait-until helper for every suite, sync and async.

``eventually`` (in a coroutine) and ``wait_until`` (in plain code) poll a
condition until it holds and fail, after ``timeout`` seconds, with what was
awaited and the last value the condition saw. Every wait in the tests is
bounded; nothing hangs.
"""

# Every wait here takes an explicit ``timeout`` (bounded waits are the point).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL = 0.02


Context = Callable[[], str] | None


def _failure(
    what: str, check: Callable[[], object], timeout: float, last: object, context: Context
) -> str:
    text = f"not within {timeout:g}s: {what or getattr(check, '__name__', check)} (last: {last!r})"
    return f"{text}\n{context()}" if context is not None else text


def wait_until(
    check: Callable[[], T],
    timeout: float = 10.0,
    what: str = "",
    poll: float = POLL,
    context: Context = None,
) -> T:
    """Call ``check`` until it returns something true; return that.

    Fails after ``timeout`` seconds with ``what``, the last value and, when
    given, ``context()`` (a log tail, a screen) as it is then.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_failure(what, check, timeout, value, context))
        time.sleep(poll)


async def eventually(
    check: Callable[[], T],
    timeout: float = 10.0,
    what: str = "",
    poll: float = POLL,
    context: Context = None,
) -> T:
    """``wait_until`` for coroutines: the event loop runs while it waits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(_failure(what, check, timeout, value, context))
        await asyncio.sleep(poll)
