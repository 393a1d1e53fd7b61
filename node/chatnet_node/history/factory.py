"""Choose and build a node's history store from its configuration.

What the runtime (``server``) imports: it is the one module of the package
that knows every backend, so the chat core, which imports only
``history.contract``, never loads a database driver it does not use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .contract import HistoryBackend
from .postgres.store import PostgresHistory
from .sqlite import SqliteHistory

if TYPE_CHECKING:
    from ..config import History as HistoryConfig

__all__ = ["open_history"]


def open_history(config: HistoryConfig) -> HistoryBackend:
    """The store a node's ``history`` configuration asks for.

    ``history.store: postgres`` gives a ``PostgresHistory`` on the DSN the
    configuration names; ``store: sqlite`` a ``SqliteHistory`` on
    ``history.path`` (in memory without one). Call the store's ``start``
    next, from the event loop.

    Raises:
        ConfigError: for PostgreSQL without a DSN (in the file, a file, or
            ``CHATNET_HISTORY_DSN``), or with a malformed one.
    """
    if config.store == "postgres":
        return PostgresHistory(
            config.read_dsn(os.environ),
            retention_seconds=config.retention_seconds,
            max_per_target=config.max_messages_per_target,
        )
    return SqliteHistory(config.path, config.retention_seconds, config.max_messages_per_target)
