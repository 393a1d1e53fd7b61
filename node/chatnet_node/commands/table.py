"""The dispatch table: every command name mapped to its ``Command``."""

from __future__ import annotations

from . import Command, channels, chathistory, messaging, operators, queries, registration

COMMANDS: dict[str, Command] = {
    **registration.COMMANDS,
    **channels.COMMANDS,
    **messaging.COMMANDS,
    **queries.COMMANDS,
    **operators.COMMANDS,
    **chathistory.COMMANDS,
}
