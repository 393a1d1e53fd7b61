"""What every benchmark script needs: ports, processes, the node, and /proc.

* ``free_port``, ``wait_port``, ``wait_http``: loopback ports to listen on,
  and waiting for a server to listen and answer (through the tests' one
  wait-until helper, ``tests.waiting``);
* ``node_env``, ``venv_python``: how to run ``python -m chatnet_node`` from
  this checkout, or from another one (``node_dir``: a baseline to compare
  against in the same run);
* ``stop_process``, ``reap``: SIGTERM (or whatever told it to stop), then
  SIGKILL after a bounded wait;
* ``proc_cpu_seconds``, ``proc_rss_kib``, ``cpu_busy_seconds``: what
  ``/proc`` says a process, or each CPU, used;
* ``cpu_prefix``: a command prefix that keeps a child on one CPU, so a
  server and the load that drives it do not take turns on the same core;
* ``raise_nofile``, ``run_in_tempdir``: what a long run needs around it (many
  sockets, a scratch directory, a network stopped on SIGTERM as on Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from tests.waiting import wait_until

__all__ = [
    "BENCH",
    "HOST",
    "REPO",
    "cpu_busy_seconds",
    "cpu_prefix",
    "free_port",
    "node_env",
    "proc_cpu_seconds",
    "proc_rss_kib",
    "raise_nofile",
    "reap",
    "run_in_tempdir",
    "stop_process",
    "venv_python",
    "wait_http",
    "wait_port",
]

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_prefix(cpu: int) -> list[str]:
    """``taskset -c CPU`` where there are two CPUs or more and taskset is installed, else []."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def venv_python() -> str:
    """The project's interpreter if there is one, else the running one."""
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def node_env(node_dir: Path | None = None) -> dict[str, str]:
    """The environment that runs ``chatnet_node`` from ``node_dir`` (default: this checkout)."""
    source = str(node_dir or REPO / "node")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


#: Where the benchmarks' servers listen: below Linux's ephemeral range (32768
#: and up) so that no outgoing connection (the bench's own thousands of
#: clients, another run's) takes a port between its pick and the server's
#: bind; apart from ``chatnet up``'s (10000-20000) and the tests' (20000-32000).
BENCH_PORTS = range(5000, 10000)
_handed_out: set[int] = set()  # two picks before either server binds differ


def free_port() -> int:
    """A loopback port nobody listens on (now), picked at random from ``BENCH_PORTS``
    (two runs at once rarely meet); the kernel's choice if none of 200 is free."""
    for _ in range(200):
        port = random.choice(BENCH_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Wait until something accepts on ``port``; fail early if ``proc`` exits."""

    def listening() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return True
        return False

    _wait(listening, timeout, f"something listens on {HOST}:{port}")


def wait_http(url: str, timeout: float) -> None:
    """Wait until ``url`` answers 200 (a server's /healthz)."""

    def answers() -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
        return False

    _wait(answers, timeout, f"{url} answers 200")


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    """``tests.waiting.wait_until``, failing as the scripts report a start: RuntimeError."""
    try:
        wait_until(check, timeout, what, poll=0.05)
    except AssertionError as exc:
        raise RuntimeError(str(exc)) from None


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 8.0) -> None:
    """SIGTERM, and SIGKILL if it is not gone within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    reap(proc, timeout)


def reap(proc: subprocess.Popen[Any], timeout: float) -> None:
    """Wait ``timeout`` seconds for a process told to stop, then SIGKILL it (bounded)."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_sys_seconds(pid: int) -> float:
    """stime of a process (all its threads): its CPU time in the kernel, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[12]) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    """A process's resident set size, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_busy_seconds() -> dict[int, float]:
    """user+nice+system time of each CPU from /proc/stat (irq/softirq excluded)."""
    busy: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            user, nice, system = (int(v) for v in values[:3])
            busy[int(name[3:])] = (user + nice + system) / CLK_TCK
    return busy


def raise_nofile() -> int:
    """Lift this process's soft limit on open files to the hard one (its children,
    servers and load generators, inherit it); return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a ``timeout``, a test's deadline) stops a run like Ctrl-C."""
    raise KeyboardInterrupt


#: Synchronous stops ``run_in_tempdir`` calls on the way out, last first.
_STOPS: list[Callable[[], None]] = []


def stop_on_exit(stop: Callable[[], None]) -> None:
    """Call ``stop`` when ``run_in_tempdir`` returns, however it ends.

    An interrupt raised while the event loop runs may close the loop before
    the run's own ``finally`` blocks have awaited their stops; this one is
    plain code, so a network is never left running.
    """
    _STOPS.append(stop)


def run_in_tempdir(
    prefix: str, run: Callable[[Path], Coroutine[Any, Any, int]], keep: Path | None = None
) -> int:
    """Run ``run(scratch_dir)`` to its exit code and print how long it took.

    SIGTERM is turned into KeyboardInterrupt, so whatever ``run`` started (a
    network under ``chatnet up``) is stopped on the way out, never left running.
    With ``keep``, that directory (made if missing) is the scratch directory
    and stays: the servers' logs and history, to look into after the run.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as stack:
        if keep is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        else:
            keep.mkdir(parents=True, exist_ok=True)
            tmp = keep.resolve()
        started = time.monotonic()
        try:
            code = asyncio.run(run(tmp))
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the stops finish first
            while _STOPS:
                _STOPS.pop()()
        print(f"ran {time.monotonic() - started:.0f}s" + (f"; kept {tmp}" if keep else ""))
    return code
