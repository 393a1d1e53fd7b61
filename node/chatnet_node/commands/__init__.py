"""Command handlers, one module per area; ``Command`` says what each needs.

``ChatCore.handle_line`` checks the preconditions once (registered yet?
enough parameters?) so handlers start from a valid message. Handlers are plain
functions ``(core, client, msg) -> None`` that answer through the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..client import Client
    from ..core import ChatCore
    from ..message import Message

Handler = Callable[["ChatCore", "Client", "Message"], None]


@dataclass(frozen=True, slots=True)
class Command:
    """A command's handler and what must hold before it runs."""

    handler: Handler
    min_params: int = 0
    before_registration: bool = False
    counts_as_activity: bool = True
