"""Waiting, bounded: one wait-until helper for every suite, sync and async.

* ``eventually`` (in a coroutine) and ``wait_until`` (in plain code) poll a
  condition until it holds and fail, after ``timeout`` seconds, with what
  was awaited and the last value the condition saw (and, when given, a
  context such as a log tail). ``eventually`` also takes a condition that is
  a coroutine function (one that asks a server, say).
* ``within``: the same polling, answering whether the condition came true
  instead of failing (for a caller that explains a shortfall itself).
* ``Deadline``: the one way to spell "``timeout`` seconds from now" for the
  loops that are not a wait-until (a reader that stops at a time, a client
  waiting for its next line): ``left()`` is what a blocking call may take.

Every wait in the tests is bounded; nothing hangs.
"""

# Every wait here takes an explicit ``timeout`` (bounded waits are the point).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeAlias, TypeVar, overload

__all__ = ["Deadline", "Maybe", "eventually", "wait_until", "within"]

T = TypeVar("T")
POLL = 0.02

Context = Callable[[], str] | None
#: What a condition returns: a true value when it holds, else None or False.
Maybe: TypeAlias = T | Literal[False] | None


class Deadline:
    """A moment ``timeout`` seconds from now, on the monotonic clock.

    ``left()`` is what a wait may still take (never negative); ``passed``
    says whether the moment has come.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.at = time.monotonic() + timeout

    def left(self) -> float:
        """Seconds until the deadline, 0 once it has passed."""
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


def _failure(
    what: str, check: Callable[[], object], timeout: float, last: object, context: Context
) -> str:
    text = f"not within {timeout:g}s: {what or getattr(check, '__name__', check)} (last: {last!r})"
    return f"{text}\n{context()}" if context is not None else text


def wait_until(
    check: Callable[[], Maybe[T]],
    timeout: float = 10.0,
    what: str = "",
    poll: float = POLL,
    context: Context = None,
) -> T:
    """Call ``check`` until it returns something true; return that.

    Fails after ``timeout`` seconds with ``what``, the last value and, when
    given, ``context()`` (a log tail, a screen) as it is then.
    """
    deadline = Deadline(timeout)
    while True:
        value = check()
        if value:
            return value
        if deadline.passed:
            raise AssertionError(_failure(what, check, timeout, value, context))
        time.sleep(poll)


@overload
async def eventually(
    check: Callable[[], Awaitable[Maybe[T]]],
    timeout: float = ...,
    what: str = ...,
    poll: float = ...,
    context: Context = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], Maybe[T]],
    timeout: float = ...,
    what: str = ...,
    poll: float = ...,
    context: Context = ...,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    timeout: float = 10.0,
    what: str = "",
    poll: float = POLL,
    context: Context = None,
) -> object:
    """``wait_until`` for coroutines: the event loop runs while it waits.

    ``check`` may be a coroutine function (awaited each time).
    """
    value = await _polled(check, Deadline(timeout), poll)
    if not value:
        raise AssertionError(_failure(what, check, timeout, value, context))
    return value


async def within(check: Callable[[], object], timeout: float, poll: float = POLL) -> bool:
    """Did ``check`` come true within ``timeout`` seconds? Polls like ``eventually``
    but never fails: for a caller that explains a shortfall better itself (the
    chaos accounting names every lost message)."""
    return bool(await _polled(check, Deadline(timeout), poll))


async def _polled(check: Callable[[], object], deadline: Deadline, poll: float) -> object:
    """The first true value of ``check`` (awaited if need be), or its last at ``deadline``."""
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value or deadline.passed:
            return value
        await asyncio.sleep(poll)
