"""A throwaway PostgreSQL server for tests, in a temporary directory.

Uses the Debian ``postgresql`` package's binaries (``/usr/lib/postgresql/N/bin``,
or ``initdb`` on the PATH). PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` user (or ``nobody``) through ``runuser`` or
``setpriv``, in a directory that user owns. It listens on a free loopback port
and keeps its Unix socket in its own directory, never in /var/run. Trust
authentication and ``fsync=off``: a test server, fast to start and to throw
away. ``synchronous_commit`` stays on: a test kills the server with
``immediate`` and expects every committed row back, as the history store's
acknowledgement relies on.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.nodeproc import free_port

USER = "chatnet"


class PostgresUnavailable(Exception):  # noqa: N818 - reads as "PostgreSQL unavailable"
    """PostgreSQL cannot be found or started here; the message says why."""


def find_bindir() -> Path | None:
    """The newest PostgreSQL bin directory with initdb and pg_ctl, if any."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """A command prefix that drops root, and the user it drops to."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", name, "--"], user
        if shutil.which("setpriv"):
            prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
            return [*prefix, "--clear-groups"], user
    raise PostgresUnavailable("running as root with no 'postgres' or 'nobody' user to drop to")


@dataclass
class PgServer:
    """One running PostgreSQL server; ``dsn(db)`` connects to database ``db``."""

    bindir: Path
    root: Path
    port: int
    prefix: list[str]
    databases: list[str] = field(default_factory=list)
    #: Extra ``-c name=value`` settings (replication, for a primary and its standby).
    settings: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    @classmethod
    def create(cls, settings: list[str] | None = None) -> PgServer:
        """initdb and start a server; raises PostgresUnavailable with the reason."""
        bindir = find_bindir()
        if bindir is None:
            raise PostgresUnavailable(
                "no PostgreSQL binaries (initdb, pg_ctl): install the Debian package "
                "'postgresql' (scripts/install-system-deps.sh does as root)"
            )
        prefix, user = _run_as()
        root = Path(tempfile.mkdtemp(prefix="chatnet-pg-"))
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        server = cls(bindir, root, free_port(), prefix, settings=list(settings or []))
        server._run(
            "initdb",
            "-D",
            str(server.data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        server.start()
        return server

    def _run(self, program: str, *args: str) -> None:
        command = [*self.prefix, str(self.bindir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise PostgresUnavailable(
                f"{program} failed ({done.returncode}): {done.stderr.strip()} {log[-2000:]}"
            )

    def start(self) -> None:
        """Start the server (again) on the same port; returns once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off "
            "-c max_connections=200" + "".join(f" -c {setting}" for setting in self.settings)
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "30",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clients disconnected) or ``immediate`` (a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def standby(self, name: str) -> PgServer:
        """A streaming-replication standby of this server, started, named ``name``.

        ``name`` is its ``cluster_name``, which is the application name the
        primary's ``synchronous_standby_names`` refers to.
        """
        root = Path(tempfile.mkdtemp(prefix="chatnet-pg-standby-"))
        owner = self.root.stat()
        os.chown(root, owner.st_uid, owner.st_gid)
        standby = PgServer(
            self.bindir, root, free_port(), self.prefix, settings=[f"cluster_name={name}"]
        )
        standby._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
            "-D", str(standby.data), "-R", "--checkpoint=fast", "--wal-method=stream",
        )  # fmt: skip
        standby.start()
        return standby

    def promote(self) -> None:
        """Make a standby the primary (what an HA operator does on failover)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "promote")

    def create_database(self) -> str:
        """A new empty database; its DSN."""

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.dsn(name)

    def destroy(self) -> None:
        """Stop the server and remove its directory."""
        with contextlib.suppress(PostgresUnavailable):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
