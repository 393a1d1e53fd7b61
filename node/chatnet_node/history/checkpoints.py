"""WAL checkpoints of the SQLite history, in a thread of their own.

SQLite moves a WAL database's log into the database file (a checkpoint) in
the connection that commits, once the log passes 1000 pages: it copies the
pages and syncs both files, the only syncs ``synchronous=NORMAL`` makes.
On a busy disk that takes 10-70 ms, and the node's event loop, which
commits every turn, waits: every client's next line with it. So the node's
connection never checkpoints (``wal_autocheckpoint=0``) and this thread
does, with its own connection, every ``interval`` seconds: a PASSIVE
checkpoint never blocks the writer, and ``sqlite3`` lets go of the GIL
while it copies and syncs. One with nothing new to copy costs nearly nothing.

A passive checkpoint cannot restart the log: a writer restarts it only when
it begins with every frame already copied, which a steady stream of
commits never allows, and the file would grow without bound. Past
``restart_frames`` in the log the thread asks for a RESTART checkpoint
instead, right after the passive one: it waits for the writer's current
transaction and holds the next one back while it copies the few frames
committed meanwhile and syncs (3-4 ms here at 200 commits a second), and the
next commit writes the log from its start. The file keeps its size (about
``restart_frames`` pages) and is reused. (TRUNCATE, which also empties the
file, held the writer 20 ms.)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("chatnet.history")

#: Seconds between checkpoints.
INTERVAL = 1.0
#: Log frames (pages) past which a checkpoint restarts the log (the file's size: 32 MiB).
RESTART_FRAMES = 8000


class Checkpointer:
    """The thread that checkpoints the WAL of ``path``, until ``stop``; ``failed`` is
    called (in the thread) for each checkpoint that fails."""

    def __init__(
        self,
        path: Path,
        failed: Callable[[], None] = lambda: None,
        interval: float = INTERVAL,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self.failed = failed
        self.interval = interval
        self.restart_frames = restart_frames
        #: Checkpoints run, and the restarts among them (for tests and the curious).
        self.runs = 0
        self.restarts = 0
        # Opened here, and a first checkpoint run (at start, nothing waits on it),
        # so the connection's files are open before the server takes clients:
        # its descriptors do not change under them.
        # A second's wait for the writer is plenty: its transactions take a turn.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=1.0, check_same_thread=False)
        self._checkpoint(self._db)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint under way (the node's connection then closes)."""
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.interval):
                self._checkpoint(self._db)
        finally:
            self._db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
            if frames >= self.restart_frames:
                db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                self.restarts += 1
        except sqlite3.Error as exc:  # a full disk: the next commit says so too
            log.warning("history checkpoint failed: %s", exc)
            self.failed()
