"""Which asyncio event loop runs a node: uvloop when it is installed, else asyncio's.

uvloop (libuv under asyncio's API) costs less per socket read, write and
callback than asyncio's own loop, and at a hundred members a message is
mostly such calls. ``eventLoop`` in the configuration (``--event-loop`` on
the command line) picks: ``auto`` (the default) takes uvloop if it imports
and asyncio's loop otherwise, ``uvloop`` insists on it (a clear error if it
is missing), ``asyncio`` never uses it.

A server with TLS listeners runs on asyncio's loop: the TLS gate
(``transport.tlsgate``) pauses a new connection in ``connection_made`` and
starts the handshake a turn later, and uvloop starts reading *after*
``connection_made`` returns, undoing the pause, so the client's first
handshake bytes reach the gate instead of the handshake, which then stalls.
``auto`` falls back to asyncio there; ``uvloop`` is refused with the reason.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

T = TypeVar("T")

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
CHOICES: tuple[EventLoopChoice, ...] = ("auto", "uvloop", "asyncio")


class EventLoopError(Exception):
    """The configured event loop cannot be had here."""


@dataclass(frozen=True)
class EventLoop:
    """The loop a node runs on: its name and what makes one (None: asyncio's default)."""

    name: str
    factory: Callable[[], asyncio.AbstractEventLoop] | None


def choose(choice: EventLoopChoice, tls: bool = False) -> EventLoop:
    """The loop for ``choice`` on a server with (``tls``) or without TLS listeners.

    Raises EventLoopError if ``uvloop`` is asked for and missing, or with TLS listeners.
    """
    if choice == "asyncio":
        return EventLoop("asyncio", None)
    if tls:
        if choice == "uvloop":
            raise EventLoopError(
                "eventLoop: uvloop cannot serve the ircTls/websocketTls listeners "
                "(uvloop resumes reading a connection the TLS gate has paused, and its "
                "handshakes stall): set eventLoop: auto or asyncio"
            )
        return EventLoop("asyncio (TLS listeners)", None)
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        if choice == "uvloop":
            raise EventLoopError(
                f"eventLoop: uvloop is not installed ({exc}); install it "
                "(pip install uvloop) or set eventLoop: auto or asyncio"
            ) from exc
        return EventLoop("asyncio", None)
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return EventLoop(f"uvloop {uvloop.__version__}", factory)


def run_on(loop: EventLoop, main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new loop of the chosen kind (as ``asyncio.run``)."""
    with asyncio.Runner(loop_factory=loop.factory) as runner:
        return runner.run(main)
