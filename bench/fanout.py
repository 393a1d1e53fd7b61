"""Channel fan-out benchmark: chatnet against InspIRCd and a naive asyncio server.

One channel, N members (100 and 1000), 1 and 10 senders, bounded bursts and a
fixed rate of 50 messages/s, over TCP and over WebSocket. The server under test
is pinned to CPU 0 and the load generator (``bench/loadgen.c``, a small epoll
program compiled here into ``bench/out/``) to CPU 1. For every run it reports
deliveries per second, deliveries per server-CPU-second (utime+stime from
``/proc/PID/stat``), p50/p99 latency (receive time minus the send timestamp
embedded in each message) and the generator's own CPU, and for every session
the server's RSS per idle registered client (``VmRSS`` before and after
connecting N clients).

    .venv/bin/python bench/fanout.py                   # the full matrix, a few minutes
    .venv/bin/python bench/fanout.py --quick           # small N, short runs
    .venv/bin/python bench/fanout.py --servers chatnet,naive --members 1000 --json out.json

Only loopback addresses are used. InspIRCd refuses to run as root, so as root
it runs as ``nobody`` from a generated configuration in a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import json
import os
import pwd
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.waiting import Deadline

from bench.common import (
    BENCH,
    HOST,
    cpu_busy_seconds,
    cpu_prefix,
    free_port,
    node_env,
    proc_cpu_seconds,
    proc_rss_kib,
    proc_sys_seconds,
    raise_nofile,
    reap,
    stop_process,
    venv_python,
    wait_http,
    wait_port,
)

OUT = BENCH / "out"
LOADGEN_SRC = BENCH / "loadgen.c"
LOADGEN_BIN = OUT / "loadgen"
NAIVE = BENCH / "naive_broadcast.py"
INSPIRCD = Path("/usr/sbin/inspircd")
CHANNEL = "#bench"
SERVER_CPU = 0
GEN_CPU = 1

ALL_SERVERS = ("chatnet", "inspircd", "naive")

# Targets (issue 3), evaluated at the largest member count of the run.
TARGET_CPU_RATIO = 0.8
# Issue 16: small channels (100 members) as fast as InspIRCd, history on disk.
TARGET_SMALL_MEMBERS = 100
TARGET_SMALL_RATIO = 1.0
TARGET_RSS_TCP_KIB = 4.0
TARGET_RSS_WS_KIB = 8.0


# --------------------------------------------------------------------------- setup


def build_loadgen() -> Path:
    """Compile bench/loadgen.c with gcc -O2 unless the binary is up to date."""
    OUT.mkdir(parents=True, exist_ok=True)
    if LOADGEN_BIN.exists() and LOADGEN_BIN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return LOADGEN_BIN
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SystemExit("fanout: gcc is needed to build bench/loadgen.c")
    # A name of its own: two benchmarks (two test workers) may build at once.
    fd, name = tempfile.mkstemp(prefix="loadgen.", dir=OUT)
    os.close(fd)
    tmp = Path(name)
    try:
        subprocess.run(
            [gcc, "-O2", "-Wall", "-Wextra", "-o", str(tmp), str(LOADGEN_SRC)],
            check=True,
        )
        tmp.replace(LOADGEN_BIN)
    finally:
        tmp.unlink(missing_ok=True)
    return LOADGEN_BIN


# As root, the server and the generator each run in their own session (so their
# own scheduler autogroup) at nice -10: other work on a shared machine then
# disturbs every server alike, and less. ``--no-boost`` turns this off.
BOOST = {"nice": -10 if os.geteuid() == 0 else 0}


def pin_prefix(cpu: int) -> list[str]:
    """A command prefix that pins the child to one CPU (when there are two) and
    raises its priority when boosting."""
    nice = BOOST["nice"]
    prefix = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
    return [*prefix, *cpu_prefix(cpu)]


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A running server under test."""

    kind: str
    proc: subprocess.Popen[bytes]
    irc_port: int
    ws_port: int | None
    workdir: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)


def boost(pid: int) -> None:
    """Give a child's scheduler autogroup (its own session) the boost's nice value.

    With autogroups (the default on desktop-style kernels) nice only orders
    processes within one session; across sessions, each group's own nice counts.
    """
    nice = BOOST["nice"]
    if not nice:
        return
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def _spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> Any:
    log = log_path.open("ab")
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    finally:
        log.close()
    boost(proc.pid)
    return proc


#: ``--history``: where chatnet keeps channel history ("disk": an SQLite file in the
#: server's work directory, as on a cluster; "memory": SQLite in memory).
HISTORY = {"where": "disk"}


def chatnet_config(
    name: str, irc_port: int, ws_port: int, history_path: Path | None = None
) -> dict[str, Any]:
    """The node configuration for the benchmark: flood control out of the way.

    ``history_path``: the SQLite file history goes to (None: in memory).
    """
    return {
        "name": name,
        "listeners": {
            "irc": [{"host": HOST, "port": irc_port}],
            "websocket": [{"host": HOST, "port": ws_port}],
        },
        "limits": {
            "maxClients": 5000,
            "maxPerAddress": 0,
            "floodBurst": 1_000_000,
            "floodRate": 1_000_000,
            "floodMaxQueued": 1_000_000,
            "sendqBytes": 64 * 1024 * 1024,
            "pingInterval": 600,
            "pingTimeout": 900,
        },
        "history": {"path": str(history_path) if history_path is not None else None},
    }


def chatnet_available(node_dir: Path | None = None) -> str | None:
    """None if ``python -m chatnet_node --help`` works, else why not."""
    env = node_env(node_dir)
    try:
        res = subprocess.run(
            [venv_python(), "-m", "chatnet_node", "--help"],
            capture_output=True,
            timeout=30,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if res.returncode != 0:
        text = (res.stderr or res.stdout).decode(errors="replace").strip()
        return text.splitlines()[-1] if text else f"exit status {res.returncode}"
    return None


#: ``--baseline DIR``: another checkout whose node runs as ``chatnet-base`` in the same run.
BASELINE: dict[str, Path] = {}


def start_chatnet(workdir: Path, kind: str = "chatnet") -> Server:
    irc_port, ws_port = free_port(), free_port()
    # JSON is YAML: no dependency on PyYAML here.
    cfg = workdir / f"{kind}.yaml"
    history = workdir / f"{kind}-history.db" if HISTORY["where"] == "disk" else None
    cfg.write_text(json.dumps(chatnet_config("bench", irc_port, ws_port, history), indent=1))
    env = node_env(BASELINE.get("node") if kind == "chatnet-base" else None)
    log = workdir / f"{kind}.log"
    proc = _spawn(
        [*pin_prefix(SERVER_CPU), venv_python(), "-m", "chatnet_node", "--config", str(cfg)],
        log,
        env,
    )
    server = Server(kind, proc, irc_port, ws_port, workdir, log)
    try:
        wait_port(irc_port, proc, 30)
        wait_port(ws_port, proc, 30)
        wait_http(f"http://{HOST}:{ws_port}/healthz", 10)
    except RuntimeError as exc:
        server.stop()
        raise RuntimeError(f"chatnet did not start: {exc}\n{server.log_tail()}") from exc
    return server


def start_naive(workdir: Path) -> Server:
    port = free_port()
    log = workdir / "naive.log"
    proc = _spawn(
        [*pin_prefix(SERVER_CPU), venv_python(), str(NAIVE), "--host", HOST, "--port", str(port)],
        log,
    )
    server = Server("naive", proc, port, None, workdir, log)
    try:
        wait_port(port, proc, 20)
    except RuntimeError as exc:
        server.stop()
        raise RuntimeError(f"naive server did not start: {exc}\n{server.log_tail()}") from exc
    return server


INSPIRCD_CONF = """\
<server name="inspircd.bench" description="bench" network="bench" id="0BE">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="{host}" port="{irc_port}" type="clients">
<bind address="{host}" port="{ws_port}" type="clients" hook="websocket">
<connect name="bench" allow="*" timeout="120" pingfreq="600"
         hardsendq="67108864" softsendq="67108864" recvq="1048576"
         threshold="1000000" commandrate="1000000000" fakelag="no"
         localmax="100000" globalmax="100000" limit="100000" maxchans="100"
         resolvehostnames="no" useident="no" maxconnwarn="no" uniqueusername="no">
<channels users="100" opers="100">
<performance netbuffersize="65536" somaxconn="4096" softlimit="50000"
             clonesonconnect="no" quietbursts="yes">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no"
          hideulines="no" hidebans="no" maxtargets="20">
<limits maxchan="64" maxnick="30">
<whowas groupsize="10" maxgroups="100000" maxkeep="3d">
<module name="sha1">
<module name="websocket">
<websocket sendastext="yes">
<wsorigin allow="*">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{log}">
"""


def start_inspircd(workdir: Path) -> Server:
    if not INSPIRCD.exists():
        raise RuntimeError(f"{INSPIRCD} is not installed (apt-get install inspircd)")
    irc_port, ws_port = free_port(), free_port()
    idir = workdir / "inspircd"
    idir.mkdir()
    conf = idir / "inspircd.conf"
    ilog = idir / "ircd.log"
    conf.write_text(INSPIRCD_CONF.format(host=HOST, irc_port=irc_port, ws_port=ws_port, log=ilog))
    cmd = [str(INSPIRCD), "--nofork", "--nopid", f"--config={conf}"]
    if os.geteuid() == 0:
        # InspIRCd refuses to run as root: drop to nobody (same pid, via exec).
        os.chmod(workdir, 0o755)
        for path in (idir, conf):
            os.chown(path, _uid("nobody"), _gid("nogroup"))
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    log = workdir / "inspircd.out"
    proc = _spawn([*pin_prefix(SERVER_CPU), *cmd], log)
    server = Server("inspircd", proc, irc_port, ws_port, workdir, log)
    try:
        wait_port(irc_port, proc, 20)
        wait_port(ws_port, proc, 20)
    except RuntimeError as exc:
        server.stop()
        raise RuntimeError(f"inspircd did not start: {exc}\n{server.log_tail()}") from exc
    return server


def _uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return grp.getgrnam("nobody").gr_gid


STARTERS: dict[str, Callable[[Path], Server]] = {
    "chatnet": start_chatnet,
    "chatnet-base": lambda workdir: start_chatnet(workdir, "chatnet-base"),
    "inspircd": start_inspircd,
    "naive": start_naive,
}
TRANSPORTS = {
    "chatnet": ("tcp", "ws"),
    "chatnet-base": ("tcp", "ws"),
    "inspircd": ("tcp", "ws"),
    "naive": ("tcp",),
}


# --------------------------------------------------------------------------- generator


class LoadGen:
    """The C load generator as a child process, driven line by line."""

    def __init__(
        self,
        port: int,
        members: int,
        ws: bool,
        inflight: int,
        quickack: bool = True,
        prefix: str = "m",
        channel: str = CHANNEL,
    ) -> None:
        cmd = [
            *pin_prefix(GEN_CPU),
            str(LOADGEN_BIN),
            "--host",
            HOST,
            "--port",
            str(port),
            "--members",
            str(members),
            "--channel",
            channel,
            "--inflight",
            str(inflight),
            "--prefix",
            prefix,
        ]
        if ws:
            cmd.append("--ws")
        if quickack:
            cmd.append("--quickack")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        boost(self.proc.pid)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        self.threads = [
            threading.Thread(target=self._pump_out, daemon=True),
            threading.Thread(target=self._pump_err, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if len(self.errors) < 50:
                self.errors.append(line.rstrip("\n"))

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, keyword: str, timeout: float) -> dict[str, Any]:
        """Wait for the next ``KEYWORD {json}`` line; fail on FATAL, exit or timeout."""
        deadline = Deadline(timeout)
        while True:
            if deadline.passed:
                raise RuntimeError(f"loadgen: no {keyword} within {timeout:.0f}s")
            try:
                line = self.lines.get(timeout=deadline.left())
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(
                    f"loadgen exited ({self.proc.wait()}) waiting for {keyword}: "
                    + " | ".join(self.errors[-5:])
                )
            word, _, payload = line.partition(" ")
            if word == "FATAL":
                raise RuntimeError(f"loadgen: {payload} | " + " | ".join(self.errors[-5:]))
            if word == keyword:
                data: dict[str, Any] = json.loads(payload)
                return data

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send("QUIT")
            reap(self.proc, 10)
        for thread in self.threads:
            thread.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSpec:
    """One measured phase on an already joined set of members."""

    mode: str  # "burst" or "rate"
    senders: int
    messages: int = 0  # burst: per sender
    window: int = 0  # burst: messages per sender not yet delivered everywhere
    seconds: float = 0.0  # burst: cap on sending; rate: duration
    rate: float = 0.0  # rate: messages per second, all senders together
    drain: float = 10.0

    def command(self) -> str:
        if self.mode == "burst":
            return (
                f"BURST {self.senders} {self.messages} {self.window} "
                f"{self.seconds:.3f} {self.drain:.3f}"
            )
        return f"RATE {self.senders} {self.rate:.3f} {self.seconds:.3f} {self.drain:.3f}"

    def timeout(self) -> float:
        return self.seconds + self.drain + 15.0


@dataclass
class Options:
    members: list[int]
    servers: list[str]
    senders: list[int] = field(default_factory=lambda: [1, 10])
    burst_deliveries: int = 2_000_000
    burst_seconds: float = 3.0
    window: int = 20
    rate: float = 50.0
    rate_seconds: float = 6.0
    transports: list[str] = field(default_factory=lambda: ["tcp", "ws"])
    modes: list[str] = field(default_factory=lambda: ["burst", "rate"])
    inflight: int = 256
    settle: float = 0.5
    quickack: bool = True
    pyspy: str | None = None
    warmup: bool = True
    repeat: int = 3
    profile_dir: Path | None = None


def run_specs(opts: Options, members: int) -> list[RunSpec]:
    specs: list[RunSpec] = []
    for senders in opts.senders if "burst" in opts.modes else []:
        per_sender = max(1, opts.burst_deliveries // max(1, members - 1) // senders)
        specs.append(
            RunSpec(
                "burst",
                senders,
                messages=per_sender,
                window=max(1, opts.window // senders),
                seconds=opts.burst_seconds,
            )
        )
    specs.extend(
        RunSpec("rate", senders, seconds=opts.rate_seconds, rate=opts.rate)
        for senders in (opts.senders if "rate" in opts.modes else [])
    )
    return specs


@dataclass
class Result:
    """One run: generator's numbers plus the server's CPU around it."""

    server: str
    transport: str
    members: int
    mode: str
    senders: int
    delivered: int
    expected: int
    complete: bool
    span_s: float
    server_cpu_s: float
    gen_cpu_s: float
    wall_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    closed: int
    other_cpu0_s: float = 0.0
    server_sys_s: float = 0.0  # the part of server_cpu_s spent in the kernel
    repeats: list[float] = field(default_factory=list)  # deliv/cpu-s of every try
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def deliveries_per_s(self) -> float:
        return self.delivered / self.span_s if self.span_s > 0 else 0.0

    @property
    def deliveries_per_cpu_s(self) -> float:
        return self.delivered / self.server_cpu_s if self.server_cpu_s > 0 else 0.0

    @property
    def key(self) -> tuple[str, int, str, int]:
        return (self.transport, self.members, self.mode, self.senders)


@dataclass
class Session:
    """One fresh server, one transport, one member count."""

    server: str
    transport: str
    members: int
    rss_cold_kib: int = 0  # before any client
    rss_before_kib: int = 0  # after two warm-up clients came and went
    rss_idle_kib: int = 0  # with N idle registered clients
    register_s: float = 0.0
    join_s: float = 0.0
    results: list[Result] = field(default_factory=list)
    error: str | None = None

    @property
    def rss_per_client_kib(self) -> float:
        """RSS growth per idle client, including one-time first-client costs."""
        return (self.rss_idle_kib - self.rss_cold_kib) / self.members

    @property
    def rss_marginal_kib(self) -> float:
        """RSS growth per idle client after a warm-up (what one more client costs)."""
        return (self.rss_idle_kib - self.rss_before_kib) / self.members


@contextlib.contextmanager
def profiling(server: Server, opts: Options, name: str) -> Iterator[None]:
    """Sample a Python server with py-spy (on the generator's CPU) around one run."""
    if not opts.pyspy or opts.profile_dir is None or server.kind == "inspircd":
        yield
        return
    opts.profile_dir.mkdir(parents=True, exist_ok=True)
    out = opts.profile_dir / f"{name}.folded"
    spy = subprocess.Popen(
        [
            *pin_prefix(GEN_CPU),
            opts.pyspy,
            "record",
            "--pid",
            str(server.pid),
            "--rate",
            "1000",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=20)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(timeout=5)


def summarize_profile(path: Path, top: int = 12) -> str:
    """Self and inclusive sample shares of a py-spy raw (folded) profile."""
    self_count: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        self_count[frames[-1]] = self_count.get(frames[-1], 0) + count
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + count
    if not total:
        return f"{path.name}: no samples"
    lines = [f"{path.name}: {total} samples", "  self:"]
    for frame, count in sorted(self_count.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {count / total * 100:5.1f}%  {frame}")
    lines.append("  inclusive (chatnet_node and asyncio frames):")
    ours = [
        (frame, count)
        for frame, count in incl.items()
        if ("chatnet_node" in frame or "asyncio" in frame or "naive_broadcast" in frame)
        and "run_forever" not in frame
        and "_run_once" not in frame
        and "Handle._run" not in frame
        and "<module>" not in frame
        and "run_until_complete" not in frame
        and "runners.py" not in frame
        and "cli.py" not in frame
    ]
    for frame, count in sorted(ours, key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {count / total * 100:5.1f}%  {frame}")
    return "\n".join(lines)


def measure(gen: LoadGen, server: Server, spec: RunSpec, transport: str, members: int) -> Result:
    """One run, bracketed by the server's CPU time and CPU 0's busy time."""
    busy0 = cpu_busy_seconds()
    cpu0, sys0 = proc_cpu_seconds(server.pid), proc_sys_seconds(server.pid)
    gen.send(spec.command())
    raw = gen.expect("RESULT", spec.timeout())
    cpu1, sys1 = proc_cpu_seconds(server.pid), proc_sys_seconds(server.pid)
    busy1 = cpu_busy_seconds()
    other = busy1.get(SERVER_CPU, 0.0) - busy0.get(SERVER_CPU, 0.0) - (cpu1 - cpu0)
    return Result(
        server=server.kind,
        transport=transport,
        members=members,
        mode=spec.mode,
        senders=spec.senders,
        delivered=int(raw["delivered"]),
        expected=int(raw["expected"]),
        complete=bool(raw["complete"]),
        span_s=float(raw["span_s"]),
        server_cpu_s=cpu1 - cpu0,
        gen_cpu_s=float(raw["gen_cpu_s"]),
        wall_s=float(raw["wall_s"]),
        p50_ms=float(raw["p50_ms"]),
        p99_ms=float(raw["p99_ms"]),
        max_ms=float(raw["max_ms"]),
        closed=int(raw["closed"]),
        other_cpu0_s=max(0.0, other),
        server_sys_s=sys1 - sys0,
        raw=raw,
    )


@contextlib.contextmanager
def running(kind: str, workdir: Path) -> Iterator[Server]:
    server = STARTERS[kind](workdir)
    try:
        yield server
    finally:
        server.stop()


def prepare(
    session: Session, opts: Options, tmp: Path, stack: contextlib.ExitStack
) -> tuple[Server, LoadGen]:
    """Start a server, measure its RSS per idle client, and join N members.

    The server and its generator are registered on ``stack`` (the generator
    closes first); the setup numbers go into ``session``.
    """
    kind, transport, members = session.server, session.transport, session.members
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-{transport}-{members}-", dir=tmp))
    server = stack.enter_context(running(kind, workdir))
    port = server.irc_port if transport == "tcp" else server.ws_port
    assert port is not None
    time.sleep(opts.settle)
    session.rss_cold_kib = proc_rss_kib(server.pid)
    if opts.warmup:
        # Two clients come and go first, so that one-time costs (lazy imports,
        # first-use caches) can be told apart from the cost of each idle client.
        warm = LoadGen(port, 2, transport == "ws", 2, opts.quickack, prefix="w")
        try:
            warm.expect("REGISTERED", 30)
        finally:
            warm.close()
    time.sleep(opts.settle)
    session.rss_before_kib = proc_rss_kib(server.pid)
    # InspIRCd completes registrations on a one-second timer and listens with a
    # deep backlog: register everyone at once. asyncio servers listen with a
    # backlog of 100, so they get waves.
    inflight = max(opts.inflight, members) if kind == "inspircd" else opts.inflight
    gen = LoadGen(port, members, transport == "ws", inflight, opts.quickack)
    stack.callback(gen.close)
    reg = gen.expect("REGISTERED", 150)
    session.register_s = float(reg["seconds"])
    time.sleep(opts.settle)
    session.rss_idle_kib = proc_rss_kib(server.pid)
    gen.send("JOIN")
    joined = gen.expect("JOINED", 150)
    session.join_s = float(joined["seconds"])
    return server, gen


def run_group(
    kinds: Sequence[str], transport: str, members: int, opts: Options, tmp: Path, log: Any
) -> list[Session]:
    """All servers for one transport and member count, up at once, measured in turn.

    Every run is taken for each server back to back (and repeated bursts rotate
    the order), so a machine that drifts (a noisy neighbour, frequency changes)
    moves all servers alike and the ratios stay meaningful. Idle servers cost
    nothing: their members are idle and their generators wait on stdin.
    """
    sessions = {kind: Session(kind, transport, members) for kind in kinds}
    with contextlib.ExitStack() as stack:
        live: dict[str, tuple[Server, LoadGen]] = {}
        for kind in kinds:
            t0 = time.monotonic()
            try:
                server, gen = prepare(sessions[kind], opts, tmp, stack)
                live[kind] = (server, gen)
            except RuntimeError as exc:
                sessions[kind].error = str(exc)
            status = "ok" if sessions[kind].error is None else f"ERROR {sessions[kind].error}"
            took = time.monotonic() - t0
            log(f"fanout: {kind} {transport} N={members}: up in {took:.1f}s {status}")
        for spec in run_specs(opts, members):
            repeats = opts.repeat if spec.mode == "burst" else 1
            tries: dict[str, list[Result]] = {kind: [] for kind in live}
            for attempt in range(repeats):
                order = list(live)
                order = (
                    order[attempt % max(1, len(order)) :] + order[: attempt % max(1, len(order))]
                )
                for kind in order:
                    server, gen = live[kind]
                    name = f"{kind}-{transport}-{members}-{spec.mode}-{spec.senders}"
                    suffix = f"-{attempt + 1}" if repeats > 1 else ""
                    try:
                        with profiling(server, opts, name + suffix):
                            tries[kind].append(measure(gen, server, spec, transport, members))
                        if server.proc.poll() is not None:
                            raise RuntimeError(f"{kind} exited during the run")
                    except RuntimeError as exc:
                        sessions[kind].error = f"{exc}\n{server.log_tail(5)}".strip()
                        del live[kind]
                        log(f"fanout: {kind} {transport} N={members}: ERROR {exc}")
            for kind, results in tries.items():
                if not results:
                    continue
                # The median try by deliveries per server-CPU-second stands for all.
                results.sort(key=lambda r: r.deliveries_per_cpu_s)
                chosen = results[len(results) // 2]
                chosen.repeats = [r.deliveries_per_cpu_s for r in results]
                sessions[kind].results.append(chosen)
    return [sessions[kind] for kind in kinds]


# --------------------------------------------------------------------------- report


def fmt_num(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def fmt_spread(r: Result) -> str:
    """Half the range of deliv/cpu-s over the repeated tries, relative to the median."""
    if len(r.repeats) < 2 or r.deliveries_per_cpu_s <= 0:
        return ""
    half = (max(r.repeats) - min(r.repeats)) / 2
    return f"±{half / r.deliveries_per_cpu_s * 100:.0f}%"


def fmt_ratio(num: float, den: float) -> str:
    return f"{num / den:.2f}x" if den > 0 and num > 0 else "-"


HEADER = (
    f"{'transport':<9} {'members':>7} {'mode':<5} {'snd':>3} {'deliv/s':>8} "
    f"{'deliv/cpu-s':>11} {'p50 ms':>7} {'p99 ms':>7} {'srv cpu':>7} {'gen cpu':>7} "
    f"{'sys':>4} {'other':>6} {'lost':>6} {'spread':>6}"
)


def format_server(kind: str, sessions: Sequence[Session]) -> str:
    lines = [f"== {kind} ==", HEADER]
    for session in sessions:
        if session.error:
            lines.append(
                f"{session.transport:<9} {session.members:>7} ERROR: "
                + session.error.splitlines()[0]
            )
        for r in session.results:
            busy = r.server_cpu_s / r.wall_s * 100 if r.wall_s > 0 else 0.0
            gen = r.gen_cpu_s / r.wall_s * 100 if r.wall_s > 0 else 0.0
            other = r.other_cpu0_s / r.wall_s * 100 if r.wall_s > 0 else 0.0
            lost = r.expected - r.delivered
            kernel = r.server_sys_s / r.server_cpu_s * 100 if r.server_cpu_s > 0 else 0.0
            lines.append(
                f"{r.transport:<9} {r.members:>7} {r.mode:<5} {r.senders:>3} "
                f"{fmt_num(r.deliveries_per_s):>8} {fmt_num(r.deliveries_per_cpu_s):>11} "
                f"{r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {busy:>6.0f}% {gen:>6.0f}% "
                f"{kernel:>3.0f}% {other:>5.0f}% {lost:>6} {fmt_spread(r):>6}"
                + (f"  closed={r.closed}" if r.closed else "")
                + ("  (generator-bound?)" if gen >= 90 else "")
            )
    rss = [
        f"{s.transport} N={s.members}: {s.rss_per_client_kib:.1f} KiB"
        f" ({s.rss_marginal_kib:.1f} after warm-up)"
        for s in sessions
        if s.rss_idle_kib
    ]
    if rss:
        lines.append("RSS per idle client: " + ", ".join(rss))
    setup = [
        f"{s.transport} N={s.members}: register {s.register_s:.1f}s join {s.join_s:.1f}s"
        for s in sessions
        if s.register_s
    ]
    if setup:
        lines.append("setup: " + ", ".join(setup))
    return "\n".join(lines)


def _index(sessions: Sequence[Session]) -> dict[tuple[str, tuple[str, int, str, int]], Result]:
    return {(r.server, r.key): r for s in sessions for r in s.results}


def format_ratios(
    sessions: Sequence[Session], servers: Sequence[str], against: str = "inspircd"
) -> str:
    if against not in servers:
        return ""
    others = [s for s in servers if s != against]
    idx = _index(sessions)
    keys = sorted({r.key for s in sessions for r in s.results if r.server == against})
    head = f"{'transport':<9} {'members':>7} {'mode':<5} {'snd':>3}"
    for other in others:
        head += f" | {other + ' deliv/s':>15} {'deliv/cpu-s':>11} {'p99':>6}"
    title = "InspIRCd" if against == "inspircd" else f"{against} ({BASELINE.get('node', '')})"
    lines = [f"== ratios against {title} ==", head]
    for key in keys:
        if not any((other, key) in idx for other in others):
            continue
        base = idx[(against, key)]
        row = f"{key[0]:<9} {key[1]:>7} {key[2]:<5} {key[3]:>3}"
        for other in others:
            r = idx.get((other, key))
            if r is None:
                row += f" | {'-':>15} {'-':>11} {'-':>6}"
                continue
            row += (
                f" | {fmt_ratio(r.deliveries_per_s, base.deliveries_per_s):>15}"
                f" {fmt_ratio(r.deliveries_per_cpu_s, base.deliveries_per_cpu_s):>11}"
                f" {fmt_ratio(r.p99_ms, base.p99_ms):>6}"
            )
        lines.append(row)
    return "\n".join(lines)


def evaluate_targets(sessions: Sequence[Session], opts: Options) -> list[dict[str, Any]]:
    """The issue's targets for chatnet, at the largest member count measured."""
    idx = _index(sessions)
    big = max(opts.members)
    targets: list[dict[str, Any]] = []
    cpu_targets = [(big, TARGET_CPU_RATIO)] if big != TARGET_SMALL_MEMBERS else []
    if TARGET_SMALL_MEMBERS in opts.members:
        cpu_targets.insert(0, (TARGET_SMALL_MEMBERS, TARGET_SMALL_RATIO))
    for (members, goal), senders in (
        (target, senders)
        for target in cpu_targets
        for senders in (opts.senders if "burst" in opts.modes and "tcp" in opts.transports else [])
    ):
        key = ("tcp", members, "burst", senders)
        ours, base = idx.get(("chatnet", key)), idx.get(("inspircd", key))
        ratio = (
            ours.deliveries_per_cpu_s / base.deliveries_per_cpu_s
            if ours and base and base.deliveries_per_cpu_s > 0
            else None
        )
        history = f", history {HISTORY['where']}"
        targets.append(
            {
                "name": f"deliveries per server-CPU-second, TCP, {members} members, "
                f"burst, {senders} sender(s){history}",
                "value": ratio,
                "text": f"{ratio:.2f}x InspIRCd" if ratio is not None else "n/a",
                "goal": f">= {goal}x InspIRCd",
                "ok": ratio is not None and ratio >= goal,
            }
        )
    for transport in opts.transports if "rate" in opts.modes else []:
        for senders in opts.senders:
            key = (transport, big, "rate", senders)
            ours, base = idx.get(("chatnet", key)), idx.get(("inspircd", key))
            targets.append(
                {
                    "name": f"p99 latency at {opts.rate:g} msg/s, {transport.upper()}, "
                    f"{big} members, {senders} sender(s)",
                    "value": ours.p99_ms if ours else None,
                    "text": f"{ours.p99_ms:.2f} ms vs InspIRCd {base.p99_ms:.2f} ms"
                    if ours and base
                    else "n/a",
                    "goal": "<= InspIRCd",
                    "ok": bool(ours and base and ours.complete and ours.p99_ms <= base.p99_ms),
                }
            )
    for transport, limit in (("tcp", TARGET_RSS_TCP_KIB), ("ws", TARGET_RSS_WS_KIB)):
        if transport not in opts.transports:
            continue
        found = [
            s
            for s in sessions
            if s.server == "chatnet" and s.transport == transport and s.members == big
        ]
        value = found[0].rss_per_client_kib if found and found[0].rss_idle_kib else None
        marginal = found[0].rss_marginal_kib if value is not None else None
        targets.append(
            {
                "name": f"RSS per idle {transport.upper()} client ({big} clients)",
                "value": value,
                "text": f"{value:.2f} KiB ({marginal:.2f} KiB after warm-up)"
                if value is not None and marginal is not None
                else "n/a",
                "goal": f"<= {limit:g} KiB",
                "ok": value is not None and value <= limit,
            }
        )
    return targets


def format_targets(targets: Sequence[dict[str, Any]]) -> str:
    lines = ["== chatnet targets =="]
    for t in targets:
        mark = "PASS" if t["ok"] else "MISS"
        lines.append(f"[{mark}] {t['name']}: {t['text']} (target {t['goal']})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def default_pyspy() -> str:
    """py-spy beside the project's interpreter (the test extra), else on PATH."""
    beside = Path(venv_python()).parent / "py-spy"
    return str(beside) if beside.exists() else (shutil.which("py-spy") or "py-spy")


def parse_args(argv: Sequence[str] | None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description="Channel fan-out benchmark: chatnet vs InspIRCd vs a naive asyncio server."
    )
    parser.add_argument("--quick", action="store_true", help="small N and short runs")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS), help="comma-separated")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (its root): its node runs too, as chatnet-base, and every "
        "result is also given as a ratio against it (a before/after in the same run)",
    )
    parser.add_argument("--members", default=None, help="comma-separated member counts")
    parser.add_argument("--senders", default="1,10", help="comma-separated sender counts")
    parser.add_argument("--transports", default="tcp,ws", help="tcp,ws")
    parser.add_argument("--modes", default="burst,rate", help="burst,rate")
    parser.add_argument(
        "--history",
        choices=("disk", "memory"),
        default="disk",
        help="chatnet's channel history: an SQLite file on disk, as on a cluster (default), "
        "or SQLite in memory",
    )
    parser.add_argument("--nice", type=int, default=None, help="boost nice value (root)")
    parser.add_argument("--rate", type=float, default=50.0, help="fixed-rate msgs/s (total)")
    parser.add_argument("--rate-seconds", type=float, default=None)
    parser.add_argument("--burst-seconds", type=float, default=None)
    parser.add_argument(
        "--burst-deliveries",
        type=int,
        default=None,
        help="deliveries to aim for per burst run (messages = this / (members-1))",
    )
    parser.add_argument(
        "--window", type=int, default=20, help="burst: undelivered messages in flight (total)"
    )
    parser.add_argument(
        "--no-quickack",
        action="store_true",
        help="do not set TCP_QUICKACK after each read: servers that leave Nagle on "
        "(InspIRCd) then show ~40 ms delayed-ACK stalls in their latency tails",
    )
    parser.add_argument(
        "--no-boost",
        action="store_true",
        help="as root, do not run the server and generator at nice -10 in their own "
        "scheduler groups",
    )
    parser.add_argument(
        "--py-spy",
        dest="pyspy",
        nargs="?",
        const=default_pyspy(),
        default=None,
        help="profile the Python servers during every run with py-spy (the test extra "
        "installs it in .venv; or give the path of another binary)",
    )
    parser.add_argument(
        "--profile-dir", default=str(OUT / "profiles"), help="where py-spy profiles go"
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="do not connect two clients before the idle-RSS baseline (one-time costs "
        "are then charged to the N clients)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="tries per burst run; the median by deliv/cpu-s is reported (default 3, quick 1)",
    )
    parser.add_argument("--json", dest="json_out", default=None, help="also write results here")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if a server that should run fails (default: report and go on)",
    )
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in ALL_SERVERS:
            parser.error(f"unknown server {s!r} (choose from {', '.join(ALL_SERVERS)})")
    if args.baseline is not None:
        node_dir = args.baseline.resolve() / "node"
        if not (node_dir / "chatnet_node").is_dir():
            parser.error(f"--baseline: {args.baseline} has no node/chatnet_node")
        BASELINE["node"] = node_dir
        servers.insert(servers.index("chatnet") + 1 if "chatnet" in servers else 0, "chatnet-base")
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    for t in transports:
        if t not in ("tcp", "ws"):
            parser.error(f"unknown transport {t!r}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("burst", "rate"):
            parser.error(f"unknown mode {m!r}")
    default_members = "50" if args.quick else "100,1000"
    members = [int(m) for m in (args.members or default_members).split(",")]
    if any(m < 2 for m in members):
        parser.error("--members: at least 2")
    opts = Options(
        members=members,
        servers=servers,
        senders=[int(s) for s in args.senders.split(",")],
        transports=transports,
        modes=modes,
        rate=args.rate,
        window=args.window,
        burst_deliveries=args.burst_deliveries or (100_000 if args.quick else 2_000_000),
        burst_seconds=args.burst_seconds or (1.5 if args.quick else 3.0),
        rate_seconds=args.rate_seconds or (1.5 if args.quick else 6.0),
        settle=0.2 if args.quick else 0.5,
        quickack=not args.no_quickack,
        pyspy=args.pyspy,
        warmup=not args.no_warmup,
        repeat=max(1, args.repeat or (1 if args.quick else 3)),
        profile_dir=Path(args.profile_dir) if args.pyspy else None,
    )
    return opts, args


def run(opts: Options, log: Any = print) -> tuple[list[Session], list[str]]:
    """Run the matrix; return the sessions and the names of servers that were skipped."""
    build_loadgen()
    raise_nofile()
    skipped: list[str] = []
    sessions: list[Session] = []
    servers = list(opts.servers)
    for kind in ("chatnet", "chatnet-base"):
        if kind not in servers:
            continue
        why = chatnet_available(BASELINE.get("node") if kind == "chatnet-base" else None)
        if why is not None:
            log(f"fanout: {kind} skipped: python -m chatnet_node --help failed: {why}")
            servers.remove(kind)
            skipped.append(kind)
    if "inspircd" in servers and not INSPIRCD.exists():
        log(f"fanout: inspircd skipped: {INSPIRCD} not installed")
        servers.remove("inspircd")
        skipped.append("inspircd")
    with tempfile.TemporaryDirectory(prefix="chatnet-bench-") as tmpname:
        tmp = Path(tmpname)
        os.chmod(tmp, 0o755)
        for transport in opts.transports:
            kinds = [kind for kind in servers if transport in TRANSPORTS[kind]]
            for members in opts.members:
                if not kinds:
                    continue
                t0 = time.monotonic()
                group = run_group(kinds, transport, members, opts, tmp, log)
                sessions.extend(group)
                log(f"fanout: {transport} N={members}: {time.monotonic() - t0:.1f}s")
        order = {kind: i for i, kind in enumerate(servers)}
        sessions.sort(key=lambda s: order[s.server])
    return sessions, skipped


def main(argv: Sequence[str] | None = None) -> int:
    opts, args = parse_args(argv)
    if args.nice is not None and os.geteuid() == 0:
        BOOST["nice"] = max(-20, min(19, args.nice))
    if args.no_boost:
        BOOST["nice"] = 0
    HISTORY["where"] = args.history
    if (os.cpu_count() or 1) < 2:
        print("fanout: fewer than 2 CPUs: server and generator share a core", file=sys.stderr)
    started = time.monotonic()
    sessions, skipped = run(opts, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    ran = [s for s in opts.servers if s not in skipped]
    print(
        f"\nfan-out benchmark: one channel, members {opts.members}, senders {opts.senders}, "
        f"burst window {opts.window} msgs, rate {opts.rate:g} msg/s for {opts.rate_seconds:g}s; "
        f"server on CPU {SERVER_CPU}, generator on CPU {GEN_CPU}"
    )
    print(
        "deliv/s = deliveries / (last delivery - first send); deliv/cpu-s = deliveries / "
        "server utime+stime; latency = kernel receive timestamp - send timestamp;\n"
        "srv/gen cpu = CPU time / run wall time; sys = the server's share of its CPU in the "
        "kernel; other = CPU 0 time used by other processes "
        "(noise); lost = expected - delivered;\nbursts are run several times and the "
        "median by deliv/cpu-s is shown, spread = half its range"
    )
    for kind in ran:
        print()
        print(format_server(kind, [s for s in sessions if s.server == kind]))
    for against in ("inspircd", "chatnet-base"):
        ratios = format_ratios(sessions, ran, against)
        if ratios:
            print()
            print(ratios)
    targets: list[dict[str, Any]] = []
    if "chatnet" in ran and "inspircd" in ran:
        targets = evaluate_targets(sessions, opts)
        print()
        print(format_targets(targets))
        if max(opts.members) != 1000:
            print(
                f"(the other targets are defined at 1000 members; this run's largest is "
                f"{max(opts.members)})"
            )
    if opts.pyspy and opts.profile_dir is not None:
        print("\n== py-spy profiles (server CPU samples per run) ==")
        for path in sorted(opts.profile_dir.glob("*.folded")):
            print(summarize_profile(path))
    print(f"\ntotal {time.monotonic() - started:.0f}s")
    if args.json_out:
        doc = {
            "options": asdict(opts),
            "skipped": skipped,
            "sessions": [
                {
                    **{k: v for k, v in asdict(s).items() if k != "results"},
                    "rss_per_client_kib": s.rss_per_client_kib,
                    "rss_marginal_kib": s.rss_marginal_kib,
                    "results": [
                        {
                            **{k: v for k, v in asdict(r).items() if k != "raw"},
                            "deliveries_per_s": r.deliveries_per_s,
                            "deliveries_per_cpu_s": r.deliveries_per_cpu_s,
                            "generator": r.raw,
                        }
                        for r in s.results
                    ],
                }
                for s in sessions
            ],
            "targets": targets,
        }
        Path(args.json_out).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    failed = any(s.error for s in sessions)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
