"""The dispatch table: every command name mapped to its ``Command``.

The runtime hands it to ``ChatCore``, which never imports the commands
itself (they import the core).
"""

from __future__ import annotations

from ..core import Command
from . import (
    batches,
    channels,
    chathistory,
    help,
    klines,
    listing,
    messaging,
    metadata,
    modes,
    monitor,
    operators,
    queries,
    readmarker,
    redaction,
    register,
    registration,
    sasl,
    services,
    who,
)

COMMANDS: dict[str, Command] = {
    **registration.COMMANDS,
    **channels.COMMANDS,
    **listing.COMMANDS,
    **modes.COMMANDS,
    **messaging.COMMANDS,
    **metadata.COMMANDS,
    **batches.COMMANDS,
    **queries.COMMANDS,
    **readmarker.COMMANDS,
    **redaction.COMMANDS,
    **operators.COMMANDS,
    **klines.COMMANDS,
    **chathistory.COMMANDS,
    **help.COMMANDS,
    **monitor.COMMANDS,
    **who.COMMANDS,
    **sasl.COMMANDS,
    **register.COMMANDS,
    **services.COMMANDS,
}
