"""Slow work (a password's hash) in a worker thread, its result back on the event loop.

The core's ``slow`` hands work here (``irc.slowwork``). One thread does it
all, in order: Argon2id releases the GIL, so the event loop goes on serving
chat on its own core while a password is hashed, and a burst of logins
waits for the thread instead of stopping everyone. One thread also bounds
the memory Argon2 takes (19 MiB a hash) however many logins come at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..irc.slowwork import Failed, Runner

log = logging.getLogger("chatnet.node")


def offload(loop: asyncio.AbstractEventLoop, pool: ThreadPoolExecutor) -> Runner:
    """A runner for ``ChatCore.offload``: ``work`` in ``pool``, ``done`` on ``loop``."""

    def run(work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        def finished(future: Future[Any]) -> None:
            if future.cancelled():  # the pool shut down: the server is stopping
                return
            error = future.exception()
            if error is not None:
                log.error("slow work failed", exc_info=error)
            result = Failed(error) if error is not None else future.result()
            with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped
                loop.call_soon_threadsafe(done, result)

        try:
            pool.submit(work).add_done_callback(finished)
        except RuntimeError as exc:  # the pool shut down: stopping, but answer anyway
            done(Failed(exc))

    return run


def worker_pool() -> ThreadPoolExecutor:
    """The one thread slow work runs in."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatnet-slow")
