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
``restart_frames`` in the log the thread tries a RESTART checkpoint, right
after the passive one, without waiting for anyone (no busy handler): when
the writer is between turns and no reader holds an old snapshot, it holds
the next commit back while it copies the few frames committed meanwhile
and syncs, and the next commit writes the log from its start (the node's
connection then cuts the file back to ``journal_size_limit``). When anyone
is in the way it does what a passive one does and lets go: a reader holding
a snapshot for long (a shell, a backup) must not stall every commit, and
the next second tries again. (TRUNCATE, which empties the file, held the
writer 20 ms at 200 commits a second; RESTART about 4.)
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
#: Log frames (pages) past which a checkpoint restarts the log (about 32 MiB).
RESTART_FRAMES = 8000
#: SQLite's page size (the default).
PAGE_BYTES = 4096


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
        #: Checkpoints the thread ran, and the restarts of the log among them.
        self.runs = 0
        self.restarts = 0
        self._restarted_at = -1  # the log's frames at the last restart (none since)
        # Opened here, and a first checkpoint run (at start, nothing waits on it),
        # so the connection's files are open before the server takes clients:
        # its descriptors do not change under them. ``timeout=0``: it never
        # waits for the writer or a reader (see the module's docstring).
        self._db = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
        self._checkpoint()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-checkpoints", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop after the checkpoint under way (at most a few milliseconds): the
        thread closes its connection. ``wait=False``: do not wait for that."""
        self._stopping.set()
        if wait:
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.interval):
                self._checkpoint()
                self.runs += 1
        finally:
            self._db.close()

    def _checkpoint(self) -> None:
        db = self._db
        try:
            _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            # Once restarted, the log keeps counting its old frames until the next
            # commit: an idle server is not restarted again and again.
            if frames >= self.restart_frames and frames != self._restarted_at:
                busy, _, _ = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                if not busy:
                    self.restarts += 1
                    self._restarted_at = frames
        except Exception as exc:  # a full disk (the next commit says so too), or worse:
            # the thread must live on, or nothing would move the log again.
            log.warning("history checkpoint failed: %s", exc)
            self.failed()
