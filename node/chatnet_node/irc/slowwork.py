"""Slow work a command needs (a password's hash), off the event loop; the client's lines wait.

Checking a password against its Argon2id hash, or hashing a new one, takes
about 30 ms of CPU. Done inline, a burst of logins (or an attacker trying
passwords from many connections) would stop every other user's chat for
that long per attempt. So a command hands that work to ``SlowWork.run``
with what to do with its result, and returns. The runtime's runner
(``transport.offload``) runs the work in a worker thread (argon2-cffi and
``hashlib`` release the GIL) and brings the result back to the event loop;
the default runner does it at once, so the core alone (tests, tools) behaves
as if the work were inline.

Meanwhile the client's own further lines wait, in order (``Pending.lines``),
as if the command were still running: a client that sends ``AUTHENTICATE``
and then ``CAP END`` without waiting is registered logged in, and a
labelled command's answer carries its label once. Flood control charges
them as they run, as if they came in then (a multiline batch is paid once,
when it closes). Other clients, and the
network, go on. A client that sends more than ``MAX_WAITING`` lines in that
time is flooding. The result is applied to the state as it is then: the
``then`` callbacks look the account up again (it may have been dropped or
its password changed meanwhile).

Pure: the runner is handed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Lines a client may send while its slow work runs (or flood control's
#: ``floodMaxQueued``, if more); more is a flood.
MAX_WAITING = 64


@dataclass(frozen=True, slots=True)
class Failed:
    """The work raised ``error`` (a bug): what a runner hands back instead of a result."""

    error: BaseException


#: Runs ``work`` somewhere, then calls ``done`` on the event loop with its
#: result, or with ``Failed`` when it raised.
Runner = Callable[[Callable[[], Any], Callable[[Any], None]], None]


def run_inline(work: Callable[[], Any], done: Callable[[Any], None]) -> None:
    """The default runner: the work at once, on the caller's stack."""
    try:
        result = work()
    except Exception as exc:  # handed on: the core decides
        result = Failed(exc)
    done(result)


@dataclass(slots=True)
class Pending:
    """One client's slow work under way: what to do with its result, the lines that wait,
    and the command's label, which its answer carries (``Output.finish`` moves it here)."""

    then: Callable[[Any], None]
    label: str | None = None
    #: The lines waiting, each with whether flood control has taken its token yet.
    lines: deque[tuple[str, bool]] = field(default_factory=deque)
    #: Why the connection went, when it went meanwhile: the client quits once its
    #: lines have run (``ChatCore.disconnect``).
    hung_up: str | None = None
