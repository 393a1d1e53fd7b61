"""Run one ``chatnet-node`` process and keep it running.

A crashed server is restarted after a backoff delay, and the restart is
logged with the exit code and the delay. One that could not listen because
a port of its was in use says so (``port_taken``): ``chatnet up`` picked
that port, and picks another before the restart. ``stop`` sends SIGTERM (the node
drains and exits) and kills what is still there after the grace period.

On Linux each node is started with a parent-death signal: should ``chatnet up``
die without stopping its nodes (SIGKILL, a crash), the kernel sends each node
SIGTERM, so it drains and exits instead of holding its ports forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import chatnet_node
from chatnet_node.cli import EXIT_PORT_TAKEN
from chatnet_operator.local.backoff import next_delay

log = logging.getLogger("chatnet.up")
_NODE_SOURCE = str(Path(chatnet_node.__file__).resolve().parent.parent)


def node_command(config: Path) -> list[str]:
    """The command line of one node, with this Python (works without installing)."""
    return [sys.executable, "-m", "chatnet_node", "--config", str(config)]


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Looked up once, here: the child between fork and exec only calls it.
_PRCTL = _load_prctl()


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies.

    None where there is no ``prctl`` (not Linux). The parent-death signal survives
    ``exec`` and fires when the thread that forked exits: here, the event loop's
    thread, which lives as long as ``chatnet up``.
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(
            ctypes.c_int(_PR_SET_PDEATHSIG),
            ctypes.c_ulong(signal.SIGTERM),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os._exit(1)

    return preexec


def node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_NODE_SOURCE, env.get("PYTHONPATH")) if p)
    return env


class ServerProcess:
    """One supervised node process."""

    def __init__(self, name: str, config: Path, log_path: Path) -> None:
        self.name = name
        self.config = config
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        #: It exited because a port of its was in use (another program took it
        #: while it was down): ``chatnet up`` gives it new ports, then clears this.
        self.port_taken = False
        self._stopping = False
        self._restart_now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"node {self.name}")

    @property
    def down(self) -> bool:
        """Not running now (exited, waiting for its restart)."""
        return self.proc is None or self.proc.returncode is not None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def _spawn(self) -> asyncio.subprocess.Process:
        with self.log_path.open("ab") as out:
            return await asyncio.create_subprocess_exec(
                *node_command(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=node_env(),
                # Ctrl-C in the terminal goes to chatnet only; it stops the nodes in order.
                start_new_session=True,
                # If chatnet dies without stopping the node, the node stops itself.
                preexec_fn=die_with_parent(),
            )

    async def _run(self) -> None:
        delay: float | None = None
        while not self._stopping:
            started = time.monotonic()
            try:
                self.proc = await self._spawn()
            except OSError as exc:
                log.error("server %s: cannot start: %s", self.name, exc)
                code: int | None = None
            else:
                code = await self.proc.wait()
            if self._stopping:
                return
            ran_for = time.monotonic() - started
            if self._restart_now.is_set():
                self._restart_now.clear()
                log.info("server %s: restarting with its new configuration", self.name)
                delay = None
                continue
            delay = next_delay(delay, ran_for)
            self.restarts += 1
            self.port_taken = code == EXIT_PORT_TAKEN
            log.warning(
                "server %s exited (code %s) after %.1fs; restart %d in %.1fs (log: %s)",
                self.name,
                code,
                ran_for,
                self.restarts,
                delay,
                self.log_path,
            )
            try:
                async with asyncio.timeout(delay):
                    await self._restart_now.wait()
                self._restart_now.clear()
            except TimeoutError:
                pass

    def _signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)

    def reload(self) -> None:
        """Ask the node to re-read its configuration file (it keeps its clients)."""
        self._signal(signal.SIGHUP)

    def restart(self) -> None:
        """Stop the node gracefully and start it again at once (no backoff)."""
        self._restart_now.set()
        self._signal(signal.SIGTERM)

    async def stop(self, grace: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns when the process is gone."""
        self._stopping = True
        self._restart_now.set()
        self._signal(signal.SIGTERM)
        if self.proc is not None and self.proc.returncode is None:
            try:
                async with asyncio.timeout(grace):
                    await self.proc.wait()
            except TimeoutError:
                log.warning("server %s did not stop in %.1fs; killing it", self.name, grace)
                self._signal(signal.SIGKILL)
                await self.proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
